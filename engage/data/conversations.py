"""Conversations (consultation phases) with their prompts and ideas, text per language."""

from __future__ import annotations

import json
import re
import unicodedata

from flask_babel import lazy_gettext as _l

from ..db import device_id, get_db, new_id, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..validation import InvalidInput, NotFound, text


def localised(texts: dict | str | None, lang: str) -> tuple[str, bool]:
    """The text in ``lang``, else English; the flag says whether it fell back."""
    if isinstance(texts, str):
        texts = json.loads(texts)
    texts = texts or {}
    if texts.get(lang):
        return texts[lang], False
    return texts.get("en", ""), lang != "en"


def clean_texts(values: dict, *, field: str, required_english: bool, max_length=None) -> dict:
    """Keep the filled-in languages of a {lang: text} mapping, English first."""
    out = {}
    for lang in CONTENT_LANGUAGES:
        value = text(
            values.get(lang),
            field=f"{field}_{lang}",
            required=required_english and lang == "en",
            max_length=max_length,
        )
        if value:
            out[lang] = value
    unknown = set(values) - set(CONTENT_LANGUAGES)
    if unknown:
        raise InvalidInput(_l("That language is not one engage supports."), field)
    return out


def _slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:60].strip("-") or "conversation"


def create_conversation(title: dict, description: dict, created_by: str | None) -> dict:
    title = clean_texts(title, field="title", required_english=True, max_length=200)
    description = clean_texts(description, field="description", required_english=False)
    db = get_db()
    with db.atomic():
        base = slug = _slugify(title["en"])
        n = 2
        while db.execute("select 1 from conversations where slug = ?", [slug]).fetchone():
            slug = f"{base}-{n}"
            n += 1
        row = {
            "id": new_id(),
            "slug": slug,
            "title": title,
            "description": description,
            "status": "open",
            "device_id": device_id(),
            "created_at": utc_now(),
            "created_by": created_by,
        }
        row["updated_at"] = row["created_at"]
        db["conversations"].insert(row)
    return row


def _decode(row: dict, *fields: str) -> dict:
    for f in fields:
        if isinstance(row.get(f), str):
            row[f] = json.loads(row[f])
    return row


def list_conversations() -> list[dict]:
    rows = get_db().query(
        "select c.*, (select count(*) from ideas i where i.conversation_id = c.id) as idea_count,"
        " (select count(*) from prompts p where p.conversation_id = c.id) as prompt_count"
        " from conversations c order by c.created_at desc"
    )
    return [_decode(r, "title", "description") for r in rows]


def get_conversation(conversation_id: str) -> dict:
    db = get_db()
    rows = list(db.query("select * from conversations where id = ?", [conversation_id]))
    if not rows:
        raise NotFound(conversation_id)
    conv = _decode(rows[0], "title", "description")
    conv["prompts"] = [
        _decode(r, "text", "easy_read")
        for r in db.query(
            "select * from prompts where conversation_id = ? order by position", [conversation_id]
        )
    ]
    conv["ideas"] = [
        _decode(r, "text", "easy_read")
        for r in db.query(
            "select * from ideas where conversation_id = ? order by position", [conversation_id]
        )
    ]
    return conv


def _add_item(table: str, conversation_id: str, texts: dict, easy_read: dict, **extra) -> dict:
    texts = clean_texts(texts, field="text", required_english=True, max_length=1000)
    easy_read = clean_texts(easy_read, field="easy_read", required_english=False, max_length=1000)
    db = get_db()
    with db.atomic():
        if not db.execute("select 1 from conversations where id = ?", [conversation_id]).fetchone():
            raise NotFound(conversation_id)
        position = db.execute(
            f"select coalesce(max(position), 0) + 1 from {table} where conversation_id = ?",  # noqa: S608
            [conversation_id],
        ).fetchone()[0]
        row = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "position": position,
            "text": texts,
            "easy_read": easy_read,
            "device_id": device_id(),
            "created_at": utc_now(),
            **extra,
        }
        row["updated_at"] = row["created_at"]
        db[table].insert(row)
    return row


def add_prompt(conversation_id: str, texts: dict, easy_read: dict | None = None) -> dict:
    return _add_item("prompts", conversation_id, texts, easy_read or {})


def add_idea(conversation_id: str, texts: dict, easy_read: dict | None = None, source="seed"):
    return _add_item("ideas", conversation_id, texts, easy_read or {}, source=source)


def update_item_texts(table: str, item_id: str, texts: dict, easy_read: dict) -> None:
    """Change a prompt's or idea's wording and translations.

    Once anyone has voted or commented on an idea its English wording is fixed, since
    changing it would change what those people said they agreed with.
    """
    if table not in ("prompts", "ideas"):
        raise ValueError(table)
    texts = clean_texts(texts, field="text", required_english=True, max_length=1000)
    easy_read = clean_texts(easy_read, field="easy_read", required_english=False, max_length=1000)
    db = get_db()
    with db.atomic():
        rows = list(db.query(f"select * from {table} where id = ?", [item_id]))  # noqa: S608
        if not rows:
            raise NotFound(item_id)
        current = _decode(rows[0], "text")
        column = "idea_id" if table == "ideas" else "prompt_id"
        used = db.execute(
            f"select exists(select 1 from contributions where {column} = ?)",
            [item_id],  # noqa: S608
        ).fetchone()[0]
        if used and texts["en"] != current["text"].get("en"):
            raise InvalidInput(
                _l(
                    "People have already responded to this, so its English wording cannot "
                    "change. You can still add or correct translations."
                ),
                "text_en",
            )
        # The time of the change lets the hub tell this copy from an older one.
        db[table].update(item_id, {"text": texts, "easy_read": easy_read,
                                   "updated_at": utc_now()})


def missing_translations(conversation: dict) -> dict[str, list[str]]:
    """For each language, the English texts of prompts and ideas not yet translated."""
    missing: dict[str, list[str]] = {}
    items = [conversation["title"]] + [i["text"] for i in conversation["prompts"]]
    items += [i["text"] for i in conversation["ideas"]]
    for lang in CONTENT_LANGUAGES[1:]:
        gaps = [item["en"] for item in items if not item.get(lang)]
        if gaps:
            missing[lang] = gaps
    return missing

"""Importing the online crowdsourcing platform's CSV export onto the hub.

Two kinds of file: ideas (one row per idea, with vote counts if the platform gives
them) and votes (one row per vote, counted per idea). A coordinator maps the file's
columns to ours and sees a preview before anything is saved. Online ideas are kept
with their counts in ``online_ideas``; the best supported English ones can be added to
the conversation, so laptops pull them and workshop forms print them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..data.conversations import add_idea
from ..db import get_db, new_id, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..validation import InvalidInput, NotFound

KINDS = ("ideas", "votes")
FIELDS = {
    "ideas": ("external_id", "text", "language", "agree", "disagree", "unsure"),
    "votes": ("external_id", "vote"),
}
REQUIRED = {"ideas": ("external_id", "text"), "votes": ("external_id", "vote")}
_GUESSES = {
    "external_id": ("comment-id", "comment_id", "idea_id", "idea id", "id", "statement id",
                    "statement_id", "tid"),
    "text": ("comment-body", "comment_body", "text", "idea", "body", "statement", "title",
             "content"),
    "language": ("language", "lang", "locale"),
    "agree": ("agrees", "agree", "agree_count", "votes_for", "up", "upvotes", "support"),
    "disagree": ("disagrees", "disagree", "disagree_count", "votes_against", "down",
                 "downvotes"),
    "unsure": ("passes", "pass", "unsure", "neutral", "skip", "skips"),
    "vote": ("vote", "value", "response"),
}
_VOTE_VALUES = {
    "agree": {"1", "+1", "agree", "yes", "for", "up", "support"},
    "disagree": {"-1", "disagree", "no", "against", "down"},
    "unsure": {"0", "pass", "unsure", "neutral", "skip", "not sure"},
}
MAX_BYTES = 64 * 1024 * 1024
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(data: bytes, filename: str) -> str:
    """Keep an uploaded file under the instance until it is mapped and imported."""
    if not data:
        raise InvalidInput(_l("The file is empty. Choose the CSV file the platform exported."),
                           "file")
    text = _decode(data)
    header = next(csv.reader(io.StringIO(text)), [])
    if len([h for h in header if h.strip()]) < 2:
        raise InvalidInput(_l("This does not look like a CSV file with a header row. Choose the "
                              "CSV file the platform exported."), "file")
    token = secrets.token_urlsafe(18)
    (_folder() / f"{token}.csv").write_text(text, encoding="utf-8")
    (_folder() / f"{token}.json").write_text(json.dumps({"filename": filename[:200]}),
                                             encoding="utf-8")
    return token


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput(_l("The file's text cannot be read. Save it as CSV (UTF-8) and try "
                          "again."), "file")


def load(token: str) -> dict:
    if not _TOKEN.match(token or ""):
        raise NotFound(token)
    path = _folder() / f"{token}.csv"
    if not path.exists():
        raise NotFound(token)
    meta = json.loads((_folder() / f"{token}.json").read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    return {"token": token, "filename": meta["filename"], "header": header,
            "rows": [r for r in reader if any(cell.strip() for cell in r)]}


def guess_mapping(header: list[str]) -> dict[str, str]:
    lowered = {h.lower(): h for h in header}
    mapping = {}
    for field, names in _GUESSES.items():
        for name in names:
            if name in lowered:
                mapping[field] = lowered[name]
                break
    return mapping


def guess_kind(mapping: dict) -> str:
    return "votes" if "vote" in mapping and "text" not in mapping else "ideas"


def _count(value: str, field: str, line: int) -> int:
    value = (value or "").strip()
    if not value:
        return 0
    try:
        number = int(float(value))
    except ValueError:
        raise InvalidInput(_l("Row %(line)d: %(field)s should be a number, not “%(value)s”.",
                              line=line, field=field, value=value[:40]), field) from None
    if number < 0:
        raise InvalidInput(_l("Row %(line)d: %(field)s cannot be negative.", line=line,
                              field=field), field)
    return number


def _vote(value: str, line: int) -> str:
    cleaned = (value or "").strip().lower()
    for vote, tokens in _VOTE_VALUES.items():
        if cleaned in tokens:
            return vote
    raise InvalidInput(_l("Row %(line)d: the vote “%(value)s” is not agree, disagree or pass.",
                          line=line, value=cleaned[:40]), "vote")


def mapped_rows(upload: dict, mapping: dict, kind: str, language: str, limit: int | None = None):
    """The file's rows as ours, checking every value; the first problem is refused."""
    if kind not in KINDS:
        raise InvalidInput(_l("Choose what the file holds."), "kind")
    if language not in CONTENT_LANGUAGES:
        raise InvalidInput(_l("That language is not one engage supports."), "language")
    for field in REQUIRED[kind]:
        if not mapping.get(field):
            raise InvalidInput(_l("Choose the column that holds “%(field)s”.", field=field), field)
    index = {}
    for field, column in mapping.items():
        if column:
            if column not in upload["header"]:
                raise InvalidInput(_l("That column is not in the file."), field)
            index[field] = upload["header"].index(column)
    out = []
    for n, raw in enumerate(upload["rows"][:limit] if limit else upload["rows"], start=2):
        def cell(field, raw=raw):
            i = index.get(field)
            return raw[i].strip() if i is not None and i < len(raw) else ""

        external = cell("external_id")
        if not external:
            raise InvalidInput(_l("Row %(line)d has no idea id.", line=n), "external_id")
        if kind == "ideas":
            text = cell("text")
            if not text:
                raise InvalidInput(_l("Row %(line)d has no idea text.", line=n), "text")
            lang = cell("language") or language
            out.append({"external_id": external, "text": text[:1000],
                        "language": lang if lang in CONTENT_LANGUAGES else language,
                        "agree": _count(cell("agree"), "agree", n),
                        "disagree": _count(cell("disagree"), "disagree", n),
                        "unsure": _count(cell("unsure"), "unsure", n)})
        else:
            out.append({"external_id": external, "vote": _vote(cell("vote"), n)})
    return out


def support(agree: int, disagree: int, unsure: int) -> float:
    """Lower bound of the Wilson interval of the share who agree: a few votes cannot put an
    idea above one that many people have backed."""
    n = agree + disagree + unsure
    if n == 0:
        return 0.0
    z = 1.96
    p = agree / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (
        1 + z * z / n)


def import_file(token: str, *, conversation_id: str, mapping: dict, kind: str, language: str,
                top: int, imported_by: str | None) -> dict:
    upload = load(token)
    rows = mapped_rows(upload, mapping, kind, language)
    db = get_db()
    now = utc_now()
    with db.atomic():
        if not db.execute("select 1 from conversations where id = ?",
                          [conversation_id]).fetchone():
            raise InvalidInput(_l("Choose a conversation for this workshop."), "conversation_id")
        import_id = new_id()
        db["online_imports"].insert({
            "id": import_id, "conversation_id": conversation_id, "filename": upload["filename"],
            "mapping": json.dumps({"kind": kind, **mapping}), "rows": len(rows),
            "added_ideas": 0, "imported_by": imported_by, "imported_at": now,
        })
        unknown = 0
        if kind == "ideas":
            for row in rows:
                db.execute(
                    "insert into online_ideas (id, conversation_id, external_id, text, language,"
                    " agree, disagree, unsure, import_id, updated_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " on conflict (conversation_id, external_id) do update set"
                    " text = excluded.text, language = excluded.language,"
                    " agree = excluded.agree, disagree = excluded.disagree,"
                    " unsure = excluded.unsure, import_id = excluded.import_id,"
                    " updated_at = excluded.updated_at",
                    [new_id(), conversation_id, row["external_id"], row["text"],
                     row["language"], row["agree"], row["disagree"], row["unsure"], import_id,
                     now],
                )
        else:
            tally: dict[str, dict[str, int]] = {}
            for row in rows:
                counts = tally.setdefault(row["external_id"], {"agree": 0, "disagree": 0,
                                                               "unsure": 0})
                counts[row["vote"]] += 1
            for external, counts in tally.items():
                cursor = db.execute(
                    "update online_ideas set agree = ?, disagree = ?, unsure = ?,"
                    " import_id = ?, updated_at = ? where conversation_id = ? and external_id = ?",
                    [counts["agree"], counts["disagree"], counts["unsure"], import_id, now,
                     conversation_id, external],
                )
                unknown += 1 - cursor.rowcount
        added, skipped = _add_top(db, conversation_id, top)
        db.execute("update online_imports set added_ideas = ? where id = ?", [added, import_id])
    for suffix in (".csv", ".json"):
        (_folder() / f"{token}{suffix}").unlink(missing_ok=True)
    return {"rows": len(rows), "added": added, "not_english": skipped,
            "unknown_ideas": unknown, "import_id": import_id}


def _add_top(db, conversation_id: str, top: int) -> tuple[int, int]:
    """Add the best supported online ideas not yet in the conversation, up to ``top``."""
    if top <= 0:
        return 0, 0
    candidates = list(db.query(
        "select * from online_ideas where conversation_id = ?", [conversation_id]))
    candidates.sort(key=lambda o: (-support(o["agree"], o["disagree"], o["unsure"]),
                                   o["external_id"]))
    added = skipped = 0
    for online in candidates[:top]:
        if online["idea_id"]:
            continue
        if online["language"] != "en":
            skipped += 1
            continue
        idea = add_idea(conversation_id, {"en": online["text"]}, source="online")
        db.execute("update online_ideas set idea_id = ? where id = ?", [idea["id"], online["id"]])
        added += 1
    return added, skipped


def list_online(conversation_id: str | None = None) -> list[dict]:
    db = get_db()
    rows = list(db.query(
        "select o.*, c.slug from online_ideas o join conversations c on c.id = o.conversation_id"
        + (" where o.conversation_id = ?" if conversation_id else ""),
        [conversation_id] if conversation_id else [],
    ))
    for row in rows:
        row["support"] = support(row["agree"], row["disagree"], row["unsure"])
    rows.sort(key=lambda o: -o["support"])
    return rows

"""Workshops and who runs them; a facilitator sees only their own."""

from __future__ import annotations

import json
import re
from datetime import date as Date

from flask_babel import lazy_gettext as _l

from ..db import device_id, get_db, new_id, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..validation import InvalidInput, NotFound, postcode_district, text

STAFF_WHO_SEE_ALL = ("admin", "coordinator")


def parse_tags(raw: str | list | None) -> list[str]:
    """Free tags for the groups a workshop reached, split on commas, duplicates dropped."""
    # Arabic-script keyboards type the Arabic comma and semicolon (U+060C, U+061B).
    items = raw if isinstance(raw, list) else re.split(r"[,;\n\u060c\u061b]", raw or "")
    tags: list[str] = []
    for item in items:
        tag = re.sub(r"\s+", " ", item).strip()
        if not tag:
            continue
        if len(tag) > 60:
            raise InvalidInput(_l("Keep each group or community tag under 60 characters."), "tags")
        if tag.lower() not in (t.lower() for t in tags):
            tags.append(tag)
    if len(tags) > 20:
        raise InvalidInput(_l("Use at most 20 tags."), "tags")
    return tags


def _parse_date(value: str | None) -> str:
    try:
        return Date.fromisoformat((value or "").strip()).isoformat()
    except ValueError:
        raise InvalidInput(
            _l("Enter the date as year-month-day, such as 2026-03-14."), "date"
        ) from None


def create_workshop(
    conversation_id: str,
    *,
    title: str,
    date: str,
    postcode: str,
    tags,
    languages: list[str],
    created_by: str | None,
    sample: bool = False,
) -> dict:
    title = text(title, field="title", max_length=200)
    when = _parse_date(date)
    district = postcode_district(postcode, required=True)
    tags = parse_tags(tags)
    languages = [lang for lang in CONTENT_LANGUAGES if lang in set(languages or [])]
    if set(languages or []) - set(CONTENT_LANGUAGES):
        raise InvalidInput(_l("That language is not one engage supports."), "languages")
    if not languages:
        languages = ["en"]
    db = get_db()
    with db.atomic():
        if not db.execute("select 1 from conversations where id = ?", [conversation_id]).fetchone():
            raise InvalidInput(_l("Choose a conversation for this workshop."), "conversation_id")
        row = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "title": title,
            "date": when,
            "postcode_district": district,
            "tags": tags,
            "languages": languages,
            "sample": 1 if sample else 0,
            "device_id": device_id(),
            "created_at": utc_now(),
            "created_by": created_by,
        }
        db["workshops"].insert(row)
        if created_by:
            db["workshop_facilitators"].insert({"workshop_id": row["id"], "user_id": created_by})
    return row


def _decode(row: dict) -> dict:
    for f in ("tags", "languages", "conversation_title"):
        if isinstance(row.get(f), str):
            row[f] = json.loads(row[f])
    return row


_COLUMNS = (
    "select w.*, c.title as conversation_title, c.slug as conversation_slug,"
    " (select count(distinct p.id) from participants p where p.workshop_id = w.id)"
    " as participant_count"
)
_FROM = " from workshops w join conversations c on c.id = w.conversation_id"
_SELECT = _COLUMNS + _FROM
# One workshop, whether the user (the first parameter) runs it, and who runs it.
_SELECT_ONE = (
    _COLUMNS
    + ", exists(select 1 from workshop_facilitators f where f.workshop_id = w.id"
    " and f.user_id = ?) as _runs,"
    " (select json_group_array(u.username) from workshop_facilitators f"
    " join users u on u.id = f.user_id where f.workshop_id = w.id) as _facilitators"
    + _FROM
    + " where w.id = ?"
)


def list_workshops_for(user: dict) -> list[dict]:
    db = get_db()
    if user["role"] in STAFF_WHO_SEE_ALL:
        rows = db.query(_SELECT + " order by w.date desc, w.created_at desc")
    else:
        rows = db.query(
            _SELECT + " where w.id in (select workshop_id from workshop_facilitators"
            " where user_id = ?) order by w.date desc, w.created_at desc",
            [user["id"]],
        )
    return [_decode(r) for r in rows]


# User names sort as ``order by username`` does with the column's NOCASE collation.
_NOCASE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def get_workshop_for(user: dict, workshop_id: str) -> dict:
    """The workshop, if this user may see it; otherwise NotFound (not revealing it exists).

    One query answers all three questions (the workshop, whether this user runs it, who
    runs it): every save checks access this way, so it is kept to one statement.
    """
    rows = list(get_db().query(_SELECT_ONE, [user["id"], workshop_id]))
    if not rows:
        raise NotFound(workshop_id)
    workshop = rows[0]
    runs = workshop.pop("_runs")
    names = json.loads(workshop.pop("_facilitators"))
    if user["role"] not in STAFF_WHO_SEE_ALL and not runs:
        raise NotFound(workshop_id)
    workshop = _decode(workshop)
    workshop["facilitators"] = sorted(names, key=lambda name: name.translate(_NOCASE))
    return workshop


def check_access(user: dict, workshop_id: str) -> None:
    """NotFound unless this user may work in this workshop: what a save needs to know,
    in one small query, without the workshop's details."""
    staff = user["role"] in STAFF_WHO_SEE_ALL
    found = get_db().execute(
        "select 1 from workshops w where w.id = ? and (? or exists(select 1 from"
        " workshop_facilitators f where f.workshop_id = w.id and f.user_id = ?))",
        [workshop_id, staff, user["id"]],
    ).fetchone()
    if not found:
        raise NotFound(workshop_id)


def add_facilitator(workshop_id: str, username: str) -> None:
    db = get_db()
    with db.atomic():
        found = db.execute(
            "select id from users where username = ? and active = 1", [(username or "").strip()]
        ).fetchone()
        if not found:
            raise InvalidInput(_l("There is no account with that user name."), "username")
        db.execute(
            "insert or ignore into workshop_facilitators (workshop_id, user_id) values (?, ?)",
            [workshop_id, found[0]],
        )

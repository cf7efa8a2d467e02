"""Append-only revisions: a correction is a new row naming the row it replaces."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..db import device_id, get_db, insert_row, new_id, utc_now
from ..validation import InvalidInput, NotFound

REVISED_TABLES = ("participants", "contributions")


def current_where(alias: str, table: str) -> str:
    """SQL condition: the row aliased ``alias`` is the latest revision of its record."""
    return f"not exists (select 1 from {table} r where r.replaces = {alias}.revision_id)"


def by_submission(table: str, submission_id: str | None) -> dict | None:
    """The row a form submission already made, so a resent form is not saved twice."""
    if not submission_id:
        return None
    rows = list(
        get_db().query(f"select * from {table} where submission_id = ?", [submission_id])  # noqa: S608
    )
    return rows[0] if rows else None


def current_revision(table: str, record_id: str) -> dict:
    """A record's latest revision; the highest first, so a record revised many times is
    not read revision by revision (contributions: migration 0010)."""
    assert table in REVISED_TABLES
    rows = list(
        get_db().query(
            f"select * from {table} t where t.id = ? and {current_where('t', table)}"  # noqa: S608
            " order by t.revision desc limit 1",
            [record_id],
        )
    )
    if not rows:
        raise NotFound(record_id)
    return rows[0]


def _insert(table: str, row: dict) -> None:
    """One INSERT for a revision row."""
    assert table in REVISED_TABLES
    insert_row(get_db(), table, row)


def insert_first(table: str, row: dict, *, entered_by: str | None, submission_id: str | None):
    """Insert revision 1 of a new record; the caller holds the transaction."""
    row = {
        **row,
        "revision_id": new_id(),
        "id": row.get("id") or new_id(),
        "revision": 1,
        "replaces": None,
        "entered_by": entered_by,
        "device_id": device_id(),
        "created_at": utc_now(),
        "submission_id": submission_id or None,
    }
    _insert(table, row)
    return row


def revise(
    table: str,
    record_id: str,
    changes: dict,
    *,
    entered_by: str | None,
    expected_revision_id: str | None = None,
    submission_id: str | None = None,
    current: dict | None = None,
) -> dict:
    """Write a new revision of a record with ``changes`` applied; the caller holds the
    transaction. ``expected_revision_id`` guards against saving over someone else's
    newer correction; ``current`` is the latest revision when the caller has just read
    it in this transaction."""
    old = current if current is not None else current_revision(table, record_id)
    if expected_revision_id and old["revision_id"] != expected_revision_id:
        raise InvalidInput(
            _l("This entry was changed after you opened it. Look at it again, then save.")
        )
    new = {
        **old,
        **changes,
        "revision_id": new_id(),
        "revision": old["revision"] + 1,
        "replaces": old["revision_id"],
        "entered_by": entered_by,
        "device_id": device_id(),
        "created_at": utc_now(),
        "submission_id": submission_id or None,
    }
    _insert(table, new)
    return new

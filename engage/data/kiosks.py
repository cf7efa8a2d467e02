"""Kiosk sessions: which workshop a kiosk serves, who started it and who may end it."""

from __future__ import annotations

import json

from ..db import device_id, get_db, new_id, utc_now
from ..validation import NotFound


def start_kiosk(workshop_id: str, started_by: str) -> dict:
    row = {
        "id": new_id(),
        "workshop_id": workshop_id,
        "started_by": started_by,
        "started_at": utc_now(),
        "ended_at": None,
        "device_id": device_id(),
    }
    row["updated_at"] = row["started_at"]
    db = get_db()
    with db.atomic():
        db["kiosks"].insert(row)
    return row


def end_kiosk(kiosk_id: str) -> None:
    db = get_db()
    with db.atomic():
        db.execute(
            "update kiosks set ended_at = ?1, updated_at = ?1 where id = ?2 and ended_at is null",
            [utc_now(), kiosk_id],
        )


def kiosk_workshop(workshop_id: str) -> dict:
    rows = list(get_db().query("select * from workshops where id = ?", [workshop_id]))
    if not rows:
        raise NotFound(workshop_id)
    row = rows[0]
    row["languages"] = json.loads(row["languages"])
    return row


def may_end(user: dict, workshop_id: str) -> bool:
    """A facilitator of the workshop, or any coordinator or admin, may turn the kiosk off."""
    if user["role"] in ("admin", "coordinator"):
        return True
    return bool(
        get_db()
        .execute(
            "select 1 from workshop_facilitators where workshop_id = ? and user_id = ?",
            [workshop_id, user["id"]],
        )
        .fetchone()
    )

"""A laptop restored from a backup gets back, from the hub, the records it had sent.

What a laptop recorded after its backup was taken, and sent, is safe on the hub but gone
from the laptop; a facilitator who cannot see it may enter it again, and it would count
twice. So when sync finds the restore (laptop._catch_up), the laptop asks the hub, page
by page, for the records that carry its own device id and brings back those it lacks.

The records include participants' demographic answers, so a bearer token alone is not
enough to ask: the request is signed with the laptop's key, and each page comes back
sealed to a key the laptop made for that request alone and signed by the hub, so a
copy of the answer, or of the request replayed, is no use to anyone else. Each page is
applied in one transaction that also moves the laptop's place, so a recovery cut short
goes on from there at the next push, and nothing is brought back twice.
"""

from __future__ import annotations

import base64
import json

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ..db import utc_now
from . import envelope
from .envelope import Refused
from .tables import REGISTRY, changed_before, columns

#: The tables brought back, in the order that what others refer to comes first. Media
#: and what is read from scans stay on the hub (the scans can be imported again); the
#: conversations come with the laptop's ordinary pull.
TABLES = ("users", "workshops", "workshop_facilitators", "kiosks", "participants",
          "contributions", "exposures")
#: Rows in one page at most.
PAGE_ROWS = 2000
#: What a recovered account gets for a password: no hash ever matches it, so it cannot
#: sign in until an administrator gives it a new password (``engage users set-password``).
NO_PASSWORD = ""


def _mine(table: str) -> str:
    """Which of the hub's rows of ``table`` this laptop made (``?`` its record device id)."""
    if table == "workshop_facilitators":
        return "workshop_id in (select id from workshops where device_id = ?)"
    return "device_id = ?"


# --- the hub ------------------------------------------------------------------------


def signed_request(request: dict, signature_b64: str, device: dict) -> dict:
    """The laptop's request, once its signature by the laptop's own key is checked."""
    if not isinstance(request, dict) or request.get("device_id") != device["id"]:
        raise Refused("bad-signature", "the request names a different laptop from its token")
    try:
        laptop_key = envelope.unb64(device["public_key"])
        envelope.verify_signature(laptop_key, envelope.canonical(request),
                                  envelope.unb64(signature_b64 or ""))
    except (ValueError, Refused):
        raise Refused("bad-signature", "the request is not signed by this laptop") from None
    return request


def page(db, device: dict, after: dict | None,
         limit: int | None = None) -> tuple[list, dict | None]:
    """The next rows this laptop made, from ``after`` (``{"table", "rowid"}``, None: from
    the start), as sections ``{"table", "columns", "rows"}``; and where the next page
    starts (None: this is the last)."""
    record = device["record_device_id"]
    sections: list[dict] = []
    if not record:
        return sections, None
    start, rowid = 0, 0
    if after and after.get("table") in TABLES:
        start = TABLES.index(after["table"])
        try:
            rowid = int(after.get("rowid") or 0)
        except (TypeError, ValueError):
            raise Refused("bad-header", "the request's place is not a row number") from None
    left = limit or PAGE_ROWS
    for table in TABLES[start:]:
        cols = columns(db, table)
        rows = db.execute(
            f"select rowid, {', '.join(cols)} from {table} where {_mine(table)} and rowid > ?"
            " order by rowid limit ?",
            [record, rowid, left],
        ).fetchall()
        if rows:
            sections.append({"table": table, "columns": cols,
                             "rows": [list(r[1:]) for r in rows]})
            left -= len(rows)
        if left <= 0:
            return sections, {"table": table, "rowid": rows[-1][0]}
        rowid = 0
    return sections, None


def sealed_page(db, device: dict, request: dict, hub_key, hub_key_id: str) -> bytes:
    """One page, sealed to the key the request names and signed by the hub."""
    try:
        recipient = envelope.unb64(str(request.get("recipient") or ""))
        if len(recipient) != 32:
            raise ValueError
    except ValueError:
        raise Refused("bad-header", "the request names no key to seal the answer to") from None
    after = request.get("after") if isinstance(request.get("after"), dict) else None
    sections, following = page(db, device, after)
    header = {"kind": "recovery", "device_id": device["id"], "after": after,
              "next": following, "made_at": utc_now(), "hub": hub_key_id}
    to = envelope.HubPublic(recipient, envelope.unb64(device["public_key"]))
    return envelope.seal(header, envelope.canonical({"sections": sections}), hub=to,
                         device_key=hub_key)


# --- the laptop ---------------------------------------------------------------------


def ask(state: dict, key, after: dict | None) -> tuple[dict, X25519PrivateKey]:
    """A signed request for the page after ``after``, and the key its answer is sealed to."""
    answer_key = X25519PrivateKey.generate()
    request = {"device_id": state["device_id"], "after": after, "made_at": utc_now(),
               "recipient": envelope.b64(envelope.raw_public(answer_key))}
    signature = key.sign(envelope.canonical(request))
    return {"request": request, "signature": envelope.b64(signature)}, answer_key


def open_page(answer: dict, state: dict, hub: envelope.HubPublic, answer_key,
              after: dict | None) -> tuple[list, dict | None]:
    """The sections of a page from the hub, once its signature and seal are checked."""
    try:
        frame = envelope.parse_one(base64.b64decode(str(answer.get("frame") or ""),
                                                    validate=True))
        frame.verify(hub.ed25519)
        header = frame.header
        if (header.get("kind") != "recovery" or header.get("device_id") != state["device_id"]
                or header.get("after") != after):
            raise Refused("bad-header", "the answer is not the page this laptop asked for")
        document = json.loads(frame.open(answer_key))
        sections = document["sections"]
        if not isinstance(sections, list):
            raise ValueError
    except (Refused, ValueError, KeyError, TypeError) as error:
        raise RecoveryRefused(str(error)) from None
    following = header.get("next")
    return sections, following if isinstance(following, dict) else None


class RecoveryRefused(ValueError):
    """The hub's answer could not be checked or read: nothing of it is applied."""


def apply_page(db, sections: list, here: str) -> dict[str, int]:
    """Bring back the rows of a page that this laptop lacks; the caller holds the
    transaction, with references checked after the whole recovery. Rows brought back
    are this laptop's own, so its change log would queue them to send again: they are
    taken off it (the hub holds them)."""
    before = db.execute("select coalesce(max(seq), 0) from changes").fetchone()[0]
    counts: dict[str, int] = {}
    for section in sections:
        table = section.get("table")
        if table not in TABLES:
            raise RecoveryRefused(f"the answer holds a table that is not brought back: {table}")
        spec = REGISTRY[table]
        here_cols = set(columns(db, table))
        cols = [c for c in section["columns"] if c in here_cols]
        if table == "users":
            cols = [c for c in cols if c not in ("password_hash", "active")]
        for values in section["rows"]:
            row = {c: v for c, v in zip(section["columns"], values, strict=True) if c in cols}
            if row.get("device_id") != here and table != "workshop_facilitators":
                raise RecoveryRefused(f"the answer holds a {table} row another laptop made")
            if table == "users":
                row.update(password_hash=NO_PASSWORD, active=0)
            names = list(row)
            added = db.execute(
                f"insert or ignore into {table} ({', '.join(names)})"
                f" values ({', '.join('?' * len(names))})",
                [row[c] for c in names],
            ).rowcount
            if not added and spec.policy == "owned":
                added = _newer(db, table, spec.key[0], row)
            if added:
                counts[table] = counts.get(table, 0) + 1
    db.execute("delete from changes where seq > ?", [before])
    return counts


def _newer(db, table: str, key: str, row: dict) -> int:
    """An owned row (a kiosk) the laptop has an older copy of takes the hub's."""
    found = db.execute(f"select updated_at from {table} where {key} = ?", [row[key]]).fetchone()
    if not found or not changed_before({"updated_at": found[0]}, row):
        return 0
    sets = [c for c in row if c != key]
    return db.execute(
        f"update {table} set {', '.join(c + ' = ?' for c in sets)} where {key} = ?",
        [row[c] for c in sets] + [row[key]],
    ).rowcount

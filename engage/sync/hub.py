"""The hub's data layer: enrolment, receiving batches and files, and what coordinators see."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from flask import current_app

from ..db import get_db, new_id, utc_now
from ..validation import InvalidInput, NotFound
from . import envelope, keys
from .apply import apply_frame, check_frame
from .envelope import Refused
from .messages import ENROL_MESSAGES

CODE_ALPHABET = "346789ACDEFGHJKMNPQRTUVWXY"  # no 0/O, 1/I/L, 5/S or 2/Z
CODE_LENGTH = 12
CODE_DAYS = 7
ENROL_FILE_MAGIC = b"ENGENRL1"


def normalise_code(code: str | None) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def our_keys():
    x, ed = keys.hub_keys(current_app.instance_path)
    return x, ed, keys.hub_public(current_app.instance_path)


def create_code(name: str, created_by: str | None, days: int = CODE_DAYS) -> str:
    """A one-time enrolment code for one laptop, shown once and stored only as a hash."""
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise InvalidInput(ENROL_MESSAGES["name"], "name")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    now = datetime.now(timezone.utc)
    db = get_db()
    with db.atomic():
        db["enrolment_codes"].insert({
            "code_hash": _hash(code), "name": name, "created_by": created_by,
            "created_at": now.isoformat(timespec="microseconds"),
            "expires_at": (now + timedelta(days=days)).isoformat(timespec="microseconds"),
            "used_at": None, "device_id": None,
        })
    return "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def _use_code(db, code: str) -> dict:
    """Spend a code; the caller holds the transaction."""
    rows = list(db.query("select * from enrolment_codes where code_hash = ?",
                         [_hash(normalise_code(code))]))
    if not rows:
        raise InvalidInput(ENROL_MESSAGES["unknown"], "code")
    found = rows[0]
    if found["used_at"]:
        raise InvalidInput(ENROL_MESSAGES["used"], "code")
    if found["expires_at"] < utc_now():
        raise InvalidInput(ENROL_MESSAGES["expired"], "code")
    return found


def _new_device(db, code_row: dict, name: str, public_key: bytes, via: str,
                record_device_id: str | None) -> tuple[dict, str]:
    token = secrets.token_urlsafe(32)
    device = {
        "id": new_id(), "name": (name or code_row["name"]).strip()[:80] or code_row["name"],
        "record_device_id": record_device_id, "public_key": envelope.b64(public_key),
        "token_hash": _hash(token), "held_seq": 0, "enrolled_at": utc_now(),
        "enrolled_by": code_row["created_by"], "via": via, "last_heard_at": None,
        "revoked_at": None,
    }
    db["devices"].insert(device)
    db.execute("update enrolment_codes set used_at = ?, device_id = ? where code_hash = ?",
               [utc_now(), device["id"], code_row["code_hash"]])
    return device, token


def enrol(code: str, *, name: str, public_key_b64: str, record_device_id: str | None) -> dict:
    """Enrol a laptop over the network: it keeps its own private key and sends the public."""
    try:
        public_key = envelope.unb64(public_key_b64 or "")
        if len(public_key) != 32:
            raise ValueError
    except ValueError:
        raise InvalidInput(ENROL_MESSAGES["key"], "public_key") from None
    db = get_db()
    _, _, hub = our_keys()
    with db.atomic():
        code_row = _use_code(db, code)
        device, token = _new_device(db, code_row, name or code_row["name"], public_key,
                                    "network", record_device_id)
    return {"device_id": device["id"], "device_name": device["name"], "token": token,
            "hub": hub.to_json()}


def _code_key(code: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=2**15, r=8, p=1).derive(normalise_code(code).encode())


def enrolment_file(code: str, hub_url: str) -> bytes:
    """Enrol a laptop that is offline: the hub makes its key pair and seals the whole
    enrolment with the code, so the file alone is no use to whoever finds it."""
    key = Ed25519PrivateKey.generate()
    db = get_db()
    _, _, hub = our_keys()
    with db.atomic():
        code_row = _use_code(db, code)
        device, token = _new_device(db, code_row, code_row["name"], envelope.raw_public(key),
                                    "file", None)
    content = envelope.canonical({
        "device_id": device["id"], "device_name": device["name"], "token": token,
        "hub": hub.to_json(), "hub_url": hub_url,
        "private_key": envelope.b64(envelope.raw_private(key)),
    })
    salt, nonce = os.urandom(16), os.urandom(12)
    sealed = AESGCM(_code_key(code, salt)).encrypt(nonce, content, ENROL_FILE_MAGIC)
    return ENROL_FILE_MAGIC + salt + nonce + sealed


def open_enrolment_file(data: bytes, code: str) -> dict:
    if not data.startswith(ENROL_FILE_MAGIC) or len(data) < len(ENROL_FILE_MAGIC) + 28 + 16:
        raise InvalidInput(ENROL_MESSAGES["not-file"], "file")
    salt = data[8:24]
    nonce = data[24:36]
    try:
        content = AESGCM(_code_key(code, salt)).decrypt(nonce, data[36:], ENROL_FILE_MAGIC)
    except InvalidTag:
        raise InvalidInput(ENROL_MESSAGES["wrong-code"], "code") from None
    return json.loads(content)


def authenticate(token: str | None) -> dict | None:
    """The enrolled, not withdrawn device a bearer token belongs to."""
    if not token:
        return None
    rows = list(get_db().query("select * from devices where token_hash = ?", [_hash(token)]))
    if not rows or rows[0]["revoked_at"]:
        return None
    return rows[0]


def heard_from(device_id: str) -> None:
    db = get_db()
    with db.atomic():
        db.execute("update devices set last_heard_at = ? where id = ?", [utc_now(), device_id])


def receive_network(body: bytes, device: dict) -> dict:
    """Apply one sealed batch sent by ``device`` over the network, in one transaction."""
    frame = envelope.parse_one(body)
    if frame.header.get("device_id") != device["id"]:
        raise Refused("bad-signature", "the batch names a different laptop from its token")
    x, _, hub = our_keys()
    db = get_db()
    with references_checked_by_batch(db), db.atomic():
        return apply_frame(db, current_app.instance_path, frame, x, hub.key_id, via="network")


@contextlib.contextmanager
def references_checked_by_batch(db):
    """Apply with SQLite's per-row foreign key check off: ``apply`` checks every
    reference a batch at a time instead, a third faster for a large push. The pragma
    can only change outside a transaction, so it is set around one and always restored."""
    db.execute("pragma foreign_keys = off")
    try:
        yield
    finally:
        db.execute("pragma foreign_keys = on")


def _check_bundle(path: Path, x, key_id: str) -> list[str]:
    """Read the whole file before anything is applied: every frame sealed for this hub,
    signed by one enrolled laptop, decryptable, and closed by a seal that lists them
    all. Returns the frames' hashes in order."""
    db = get_db()
    seen: list[str] = []
    bundle_id = device_id = None
    closed = False
    with path.open("rb") as stream:
        for frame in envelope.read_frames(stream):
            if closed:
                raise Refused("altered", "there is more after the end of the file")
            check_frame(db, frame, key_id)
            header = frame.header
            if bundle_id is None:
                bundle_id, device_id = header.get("bundle_id"), header.get("device_id")
            if header.get("bundle_id") != bundle_id or header.get("device_id") != device_id:
                raise Refused("altered", "it mixes parts of different files")
            if header.get("kind") == "bundle-end":
                if header.get("frames") != seen:
                    raise Refused("altered", "its parts do not match its list of contents")
                frame.open(x)
                closed = True
            elif header.get("kind") == "batch":
                frame.open(x)
                seen.append(frame.sha256)
            else:
                raise Refused("bad-header", "it holds a part this hub does not know")
    if not closed:
        raise Refused("truncated", "the file stops before its end")
    return seen


def receive_file(path: Path, received_by: str | None = None) -> dict:
    """Verify a sealed USB file whole, then apply its batches in one transaction."""
    x, _, hub = our_keys()
    expected = _check_bundle(Path(path), x, hub.key_id)
    db = get_db()
    summary = {"batches": 0, "applied": {}, "conflicts": 0, "status": "nothing-new",
               "held_seq": None, "device_id": None}
    with references_checked_by_batch(db), db.atomic(), Path(path).open("rb") as stream:
        for index, frame in enumerate(envelope.read_frames(stream)):
            if frame.header.get("kind") == "bundle-end":
                break
            if index >= len(expected) or frame.sha256 != expected[index]:
                raise Refused("altered", "the file changed while it was being read")
            result = apply_frame(db, current_app.instance_path, frame, x, hub.key_id,
                                 via="file", bundle_id=frame.header.get("bundle_id"),
                                 received_by=received_by)
            summary["held_seq"] = result["held_seq"]
            summary["device_id"] = result["device_id"]
            if result["status"] == "applied":
                summary["batches"] += 1
                summary["status"] = "applied"
                summary["conflicts"] += result["conflicts"]
                for table, n in result["applied"].items():
                    summary["applied"][table] = summary["applied"].get(table, 0) + n
    return summary


def recovery_page(device: dict, data: dict) -> bytes:
    """The next page of the records ``device`` made, for a laptop restored from a backup
    (engage/sync/recovery.py): only for a request signed by the laptop's own key, and
    sealed so that only the laptop that asked can read it."""
    from . import recovery

    request = recovery.signed_request(data.get("request"), str(data.get("signature") or ""),
                                      device)
    _, ed, hub = our_keys()
    return recovery.sealed_page(get_db(), device, request, ed, hub.key_id)


def receipt(device_id: str) -> bytes:
    """A signed note of what the hub holds from a laptop, to take back on the USB stick."""
    rows = list(get_db().query("select id, held_seq from devices where id = ?", [device_id]))
    if not rows:
        raise NotFound(device_id)
    _, ed, hub = our_keys()
    return envelope.sign_receipt(
        {"device_id": rows[0]["id"], "held_seq": rows[0]["held_seq"], "at": utc_now(),
         "hub_key_id": hub.key_id}, ed,
    )


def snapshot() -> dict:
    """Conversations with their prompts and ideas, in every language, for laptops."""
    db = get_db()
    return {
        "conversations": list(db.query("select * from conversations order by created_at")),
        "prompts": list(db.query("select * from prompts order by conversation_id, position")),
        "ideas": list(db.query("select * from ideas order by conversation_id, position")),
        "at": utc_now(),
    }


def list_devices() -> list[dict]:
    return list(get_db().query(
        "select d.*, (select count(*) from batches b where b.device_id = d.id) as batch_count"
        " from devices d order by coalesce(d.last_heard_at, d.enrolled_at) desc"
    ))


def list_batches(limit: int = 200, offset: int = 0) -> list[dict]:
    rows = list(get_db().query(
        "select b.*, d.name as device_name from batches b join devices d on d.id = b.device_id"
        " order by b.received_at desc limit ? offset ?", [limit, offset],
    ))
    for row in rows:
        for column in ("counts", "sent", "workshops"):
            row[column] = json.loads(row[column])
    return rows


def count_batches() -> int:
    return get_db().execute("select count(*) from batches").fetchone()[0]


def workshop_titles(ids) -> dict[str, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return {
        row[0]: row[1] for row in get_db().execute(
            "select id, title from workshops where id in (select value from json_each(?))",
            [json.dumps(ids)],
        )
    }


def list_conflicts(open_only: bool = True) -> list[dict]:
    where = "where c.resolved_at is null" if open_only else ""
    rows = list(get_db().query(
        "select c.*, d.name as device_name from conflicts c left join devices d"
        f" on d.id = c.device_id {where} order by c.detected_at desc limit 500"
    ))
    for row in rows:
        row["incoming"] = json.loads(row["incoming"])
        row["existing"] = json.loads(row["existing"]) if row["existing"] else None
    return rows


def resolve_conflict(conflict_id: str, user_id: str, note: str | None) -> None:
    db = get_db()
    with db.atomic():
        cursor = db.execute(
            "update conflicts set resolved_at = ?, resolved_by = ?, note = ?"
            " where id = ? and resolved_at is null",
            [utc_now(), user_id, (note or "").strip()[:500] or None, conflict_id],
        )
        if cursor.rowcount != 1:
            raise NotFound(conflict_id)


def revoke(device_id: str) -> None:
    db = get_db()
    with db.atomic():
        cursor = db.execute("update devices set revoked_at = ? where id = ? and revoked_at is null",
                            [utc_now(), device_id])
        if cursor.rowcount != 1:
            raise NotFound(device_id)

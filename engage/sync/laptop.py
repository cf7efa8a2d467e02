"""The laptop's data layer for sync: enrol, push, pull, USB files and receipts."""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..db import device_id as record_device_id
from ..db import get_db, new_id, utc_now
from ..validation import InvalidInput
from . import changelog, envelope, keys, recovery
from .client import HubClient, HubError
from .hub import open_enrolment_file, references_checked_by_batch
from .tables import changed_before


class NotEnrolled(InvalidInput):
    def __init__(self):
        super().__init__(_l("This laptop is not enrolled with a hub yet. Enrol it first."))


def status() -> dict:
    db = get_db()
    state = changelog.state(db)
    waiting = changelog.waiting(db, state["acked_seq"])
    return {
        "enrolled": bool(state["device_id"]),
        "hub_url": state["hub_url"],
        "device_id": state["device_id"],
        "device_name": state["device_name"],
        "enrolled_at": state["enrolled_at"],
        "acked_seq": state["acked_seq"],
        "acked_at": state["acked_at"],
        "last_seq": changelog.last_seq(db),
        "waiting": waiting,
        "waiting_total": sum(waiting.values()),
        "last_attempt_at": state["last_attempt_at"],
        "last_error": state["last_error"],
        "failures": state["failures"],
        "next_attempt_at": state["next_attempt_at"],
        "pulled_at": state["pulled_at"],
        "restored_found_at": state["restored_found_at"],
    }


def restored_found_at() -> str | None:
    """When sync found this laptop restored from a backup, until a coordinator has read
    the notice (None: nothing to say)."""
    row = get_db().execute("select restored_found_at from sync_state where id = 1").fetchone()
    return row[0] if row else None


def restore_notice_read() -> None:
    """A coordinator has read that this laptop was restored: the notice goes."""
    db = get_db()
    with db.atomic():
        db.execute("update sync_state set restored_found_at = null where id = 1")


def _enrolled_state() -> dict:
    state = changelog.state(get_db())
    if not state["device_id"]:
        raise NotEnrolled()
    return state


def _save_enrolment(*, hub_url: str | None, answer: dict, key: Ed25519PrivateKey) -> None:
    hub = envelope.HubPublic.from_json(answer["hub"])
    keys.write_private(keys.key_dir(current_app.instance_path) / keys.DEVICE_KEY, key)
    db = get_db()
    with db.atomic():
        # A new enrolment is a new identity on the hub, which holds nothing from it yet.
        db.execute(
            "update sync_state set hub_url = ?, device_id = ?, device_name = ?, token = ?,"
            " hub_key_id = ?, hub_keys = ?, enrolled_at = ?, acked_seq = 0, acked_at = null,"
            " last_error = null, failures = 0, next_attempt_at = null where id = 1",
            [hub_url, answer["device_id"], answer.get("device_name"), answer["token"],
             hub.key_id, json.dumps(hub.to_json()), utc_now()],
        )


def _check_url(hub_url: str) -> str:
    hub_url = (hub_url or "").strip().rstrip("/")
    if not hub_url.startswith(("http://", "https://")) or len(hub_url) > 300:
        raise InvalidInput(
            _l("Enter the hub's address, starting with http:// or https://."), "hub_url"
        )
    return hub_url


def enrol_network(hub_url: str, code: str, name: str | None = None, **client_options) -> dict:
    """Enrol over the network: the key pair is made here and only its public half sent."""
    hub_url = _check_url(hub_url)
    if not (code or "").strip():
        raise InvalidInput(_l("Enter the enrolment code the coordinator gave you."), "code")
    key = Ed25519PrivateKey.generate()
    device_name = (name or "").strip()  # empty: the hub uses the name given with the code
    client = HubClient(hub_url, **{"attempts": 2, **client_options})
    try:
        answer = client.post_json("/api/v1/enrol", {
            "code": code, "name": device_name, "record_device_id": record_device_id(),
            "public_key": envelope.b64(envelope.raw_public(key)),
        })
    except HubError as error:
        if error.status and 400 <= error.status < 500:
            raise InvalidInput(error.answer.get("message") or str(error), "code") from None
        raise InvalidInput(
            _l("The hub could not be reached. Check the address and the network, then try "
               "again."), "hub_url"
        ) from None
    _save_enrolment(hub_url=hub_url, answer=answer, key=key)
    return status()


def enrol_file(data: bytes, code: str) -> dict:
    """Enrol from the file a coordinator made on the hub, opened with its code."""
    content = open_enrolment_file(data, code)
    key = Ed25519PrivateKey.from_private_bytes(envelope.unb64(content["private_key"]))
    _save_enrolment(hub_url=content.get("hub_url"), answer=content, key=key)
    return status()


def _sealing(state: dict):
    key = keys.device_key(current_app.instance_path)
    if key is None:
        raise NotEnrolled()
    return key, envelope.HubPublic.from_json(json.loads(state["hub_keys"]))


def client_for(state: dict, **options) -> HubClient:
    if not state["hub_url"]:
        raise InvalidInput(_l("This laptop was enrolled by file and has no hub address. Make a "
                              "USB file instead, or enrol again over the network."))
    return HubClient(state["hub_url"], state["token"], **options)


def _failed(error: HubError, client: HubClient) -> None:
    wait = client.pause(min(changelog.state(get_db())["failures"], 10))
    next_at = (datetime.now(timezone.utc) + timedelta(seconds=wait)).isoformat(
        timespec="microseconds")
    changelog.record_failure(get_db(), str(error), next_at)


def push(*, max_changes: int = changelog.MAX_CHANGES, **client_options) -> dict:
    """Send every change the hub has not acknowledged, batch by batch.

    The hub's answer moves the acknowledged sequence; an error or a time-out, after
    the client's retries, leaves everything queued and is recorded for the status page.
    """
    state = _enrolled_state()
    key, hub = _sealing(state)
    client = client_for(state, **client_options)
    db = get_db()
    instance = current_app.instance_path
    changelog.record_attempt(db)
    sent = {"batches": 0, "rows": {}, "conflicts": 0}
    try:
        held = int(client.get("/api/v1/sync/status")["held_seq"])
        _catch_up(db, held)
        changelog.set_acked(db, held)
        while True:
            out = changelog.build(db, instance, held, record_device_id=record_device_id(),
                                  max_changes=max_changes)
            if out is None:
                break
            frame = changelog.seal(out, device_id=state["device_id"], hub=hub, key=key)
            changelog.set_sent(db, out.seq_to)
            try:
                answer = client.post_frame("/api/v1/sync/batches", frame)
            except HubError as error:
                if error.reason == "gap" and "held_seq" in error.answer:
                    held = int(error.answer["held_seq"])
                    changelog.set_acked(db, held)
                    continue
                raise
            if int(answer["held_seq"]) < out.seq_to:
                raise HubError("the hub did not take the whole batch", status=502)
            held = int(answer["held_seq"])
            changelog.set_acked(db, held)
            sent["batches"] += 1
            sent["conflicts"] += int(answer.get("conflicts") or 0)
            for table, n in out.counts.items():
                sent["rows"][table] = sent["rows"].get(table, 0) + n
    except HubError as error:
        _failed(error, client)
        raise
    return {**sent, "held_seq": held, "waits": client.waits,
            "recovered": _recover(client, state, key, hub)}


def _recover(client: HubClient, state: dict, key, hub: envelope.HubPublic) -> dict[str, int]:
    """Bring back from the hub, page by page, the records this laptop made that a restore
    took off it (engage/sync/recovery.py); the conversations they belong to first. What
    stops it (the network, an answer that cannot be checked) is logged, and the next
    push goes on from the last page applied: everything sent is already on the hub."""
    db = get_db()
    place = json.loads(changelog.state(db)["recovery"] or "null")
    if place is None:
        return {}  # not restored, or everything is back
    here = record_device_id()
    recovered: dict[str, int] = {}
    try:
        _pull(client)
        while place is not None:
            after = place.get("after")
            body, answer_key = recovery.ask(state, key, after)
            answer = client.post_json("/api/v1/sync/recover", body)
            sections, following = recovery.open_page(answer, state, hub, answer_key, after)
            place = None if following is None else {"after": following}
            with references_checked_by_batch(db), db.atomic():
                for table, n in recovery.apply_page(db, sections, here).items():
                    recovered[table] = recovered.get(table, 0) + n
                db.execute("update sync_state set recovery = ? where id = 1",
                           [None if place is None else json.dumps(place)])
    except (HubError, recovery.RecoveryRefused, sqlite3.Error, ValueError, KeyError,
            TypeError) as error:
        # Sending is done and every page applied is whole: nothing is lost by stopping.
        current_app.logger.warning("bringing back this laptop's records from the hub"
                                   " stopped, to go on at the next push: %r", error)
        return recovered
    broken = db.execute("pragma foreign_key_check").fetchall()
    if broken:
        current_app.logger.warning("records brought back from the hub refer to %d rows this"
                                   " laptop lacks: %s", len(broken), broken[:5])
    return recovered


def _catch_up(db, held: int) -> None:
    """The hub holds more than this log ever sent: the laptop was restored from a backup,
    and what it has recorded since carries numbers the hub thinks it has (it takes only
    changes after what it holds, so those would never reach it). So number on from the
    hub's, and queue again everything since the last acknowledgement this laptop knew:
    the hub takes once what it already has. Its pages then say that the work it lost is
    safe on the hub, so nobody enters it again (it would count twice)."""
    state = changelog.state(db)
    if held <= state["sent_seq"]:
        return
    current_app.logger.warning("the hub holds change %s, beyond what this laptop sent", held)
    with db.atomic():
        # SQLite keeps the highest number used in sqlite_sequence, once it has used one.
        if not db.execute("update sqlite_sequence set seq = max(seq, ?) where name = 'changes'",
                          [held]).rowcount:
            db.execute("insert into sqlite_sequence (name, seq) values ('changes', ?)", [held])
        db.execute(
            "insert into changes (tbl, key) select tbl, key from changes where seq > ?"
            " order by seq",
            [state["acked_seq"]],
        )
        # What the hub holds is now accounted for: only a hub holding more than that
        # again is another restore (before, a restore found by a receipt, or with
        # nothing new to send, was found again at each contact, and queued again).
        db.execute("update sync_state set sent_seq = max(sent_seq, ?), restored_found_at = ?,"
                   " recovery = ? where id = 1", [held, utc_now(), json.dumps({"after": None})])


def pull(**client_options) -> dict:
    """Fetch the hub's conversations, prompts and ideas, with all their translations.

    Rows this laptop made are left as they are (its changes go up, not down), unless
    the hub's copy is newer: a laptop restored from a backup gets back what it changed
    after the backup was taken. The rest take the hub's version, keeping any language
    only this laptop has.
    """
    state = _enrolled_state()
    client = client_for(state, **client_options)
    try:
        return _pull(client)
    except HubError as error:
        _failed(error, client)
        raise


def _pull(client: HubClient) -> dict:
    snapshot = client.get("/api/v1/sync/conversations")
    here = record_device_id()
    db = get_db()
    counts = {"conversations": 0, "prompts": 0, "ideas": 0}
    with db.atomic():
        for table in ("conversations", "prompts", "ideas"):
            for row in snapshot.get(table, []):
                if _pull_row(db, table, row, here):
                    counts[table] += 1
        db.execute("update sync_state set pulled_at = ? where id = 1", [utc_now()])
    return counts


_TEXTS = {"conversations": ("title", "description"), "prompts": ("text", "easy_read"),
          "ideas": ("text", "easy_read")}


def _pull_row(db, table: str, row: dict, here: str) -> bool:
    cols = [r[1] for r in db.execute(f"pragma table_info({table})")]
    row = {c: row.get(c) for c in cols}
    found = list(db.query(f"select * from {table} where id = ?", [row["id"]]))
    if found:
        local = found[0]
        if local["device_id"] == here:
            if not changed_before(local, row):
                return False
            # The hub's copy is this laptop's own later one, lost to a restore: taken whole.
        else:
            for column in _TEXTS[table]:
                mine, theirs = _texts(local.get(column)), _texts(row.get(column))
                row[column] = json.dumps({**mine, **theirs}, ensure_ascii=False)
        if table == "conversations":
            row["slug"] = local["slug"]
        if row == local:
            return False
        sets = [c for c in cols if c != "id"]
        db.execute(f"update {table} set {', '.join(c + ' = ?' for c in sets)} where id = ?",
                   [row[c] for c in sets] + [row["id"]])
        return True
    if table == "conversations":
        slug, n = row["slug"], 2
        while db.execute("select 1 from conversations where slug = ?", [row["slug"]]).fetchone():
            row["slug"] = f"{slug}-{n}"
            n += 1
    db.execute(f"insert into {table} ({', '.join(cols)}) values ({', '.join('?' * len(cols))})",
               [row[c] for c in cols])
    return True


def _texts(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        found = json.loads(value or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def write_bundle(out: Path, *, max_changes: int = changelog.MAX_CHANGES) -> dict:
    """Seal everything not yet acknowledged into one file for a USB stick.

    The file is the same sealed batches the network push sends, closed by a signed
    seal that lists them, so a copy cut short or spliced is refused whole. It is written
    beside its target and renamed, so a half-written file is never left under the name.
    """
    state = _enrolled_state()
    key, hub = _sealing(state)
    db = get_db()
    bundle_id = new_id()
    after = state["acked_seq"]
    seq_from = after + 1
    frames: list[str] = []
    totals: dict[str, int] = {}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as handle:
        while True:
            batch = changelog.build(db, current_app.instance_path, after,
                                    record_device_id=record_device_id(), max_changes=max_changes)
            if batch is None:
                break
            frame = changelog.seal(batch, device_id=state["device_id"], hub=hub, key=key,
                                   bundle_id=bundle_id)
            handle.write(frame)
            frames.append(envelope.parse_one(frame).sha256)
            after = batch.seq_to
            for table, n in batch.counts.items():
                totals[table] = totals.get(table, 0) + n
        if not frames:
            handle.close()
            partial.unlink()
            return {"written": False, "waiting": 0}
        manifest = {"bundle_id": bundle_id, "seq_from": seq_from, "seq_to": after,
                    "counts": totals, "frames": len(frames)}
        handle.write(envelope.seal(
            {"kind": "bundle-end", "device_id": state["device_id"], "bundle_id": bundle_id,
             "frames": frames, "seq_from": seq_from, "seq_to": after, "made_at": utc_now()},
            envelope.canonical(manifest), hub=hub, device_key=key,
        ))
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(out)
    changelog.set_sent(db, after)
    return {"written": True, "path": str(out), "bundle_id": bundle_id, "seq_from": seq_from,
            "seq_to": after, "counts": totals, "batches": len(frames)}


def take_receipt(data: bytes) -> dict:
    """Move the acknowledged sequence to what a receipt from the hub says it holds."""
    state = _enrolled_state()
    hub = envelope.HubPublic.from_json(json.loads(state["hub_keys"]))
    try:
        receipt = envelope.open_receipt(data, hub.ed25519)
    except envelope.Refused:
        raise InvalidInput(_l("This is not a receipt from this laptop's hub."), "file") from None
    if receipt.get("device_id") != state["device_id"]:
        raise InvalidInput(_l("This receipt is for a different laptop."), "file")
    held, db = int(receipt["held_seq"]), get_db()
    _catch_up(db, held)
    changelog.set_acked(db, held)
    return status()

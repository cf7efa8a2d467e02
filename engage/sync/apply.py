"""The hub's side: check a sealed batch and apply it, once, in one transaction.

Every batch is checked before anything is written: sealed for this hub, from an
enrolled device, signed by its key, its contents matching its manifest. Its changes
after the sequence the hub already holds from that device are applied in table order;
the rest were applied before, so a batch sent twice, a USB file received again or an
older file after a newer push change nothing. A row that clashes with one the hub
already has is never written over: the first stays, and the other is kept in
``conflicts`` for a coordinator.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from pathlib import Path

from ..db import new_id, utc_now
from . import envelope
from .changelog import manifest_of, media_path
from .envelope import Refused
from .tables import RECEIPT_COLUMNS, REGISTRY, SyncedTable, changed_before, columns, ordered

log = logging.getLogger("engage.sync")


def device_for(db, header: dict, our_key_id: str) -> dict:
    """The enrolled device a frame names, after the checks that need no decryption."""
    if header.get("hub_key_id") != our_key_id:
        raise Refused("wrong-hub", "sealed for a different hub")
    rows = list(db.query("select * from devices where id = ?", [str(header.get("device_id"))]))
    if not rows:
        raise Refused("unknown-device", "from a laptop this hub has not enrolled")
    if rows[0]["revoked_at"]:
        raise Refused("revoked", "from a laptop whose enrolment was withdrawn")
    return rows[0]


def check_frame(db, frame: envelope.Frame, our_key_id: str) -> dict:
    device = device_for(db, frame.header, our_key_id)
    frame.verify(envelope.unb64(device["public_key"]))
    return device


def apply_frame(
    db, instance, frame: envelope.Frame, hub_x25519, our_key_id: str, *, via: str,
    bundle_id: str | None = None, received_by: str | None = None,
) -> dict:
    """Apply one batch frame; the caller holds the transaction. Returns what happened."""
    device = check_frame(db, frame, our_key_id)
    header = frame.header
    if header.get("kind") != "batch":
        raise Refused("bad-header", "this frame is not a batch")
    batch_id = str(header.get("batch_id", ""))
    try:
        seq_from, seq_to = int(header["seq_from"]), int(header["seq_to"])
    except (KeyError, TypeError, ValueError):
        raise Refused("bad-header", "the batch does not say which changes it holds") from None
    held = device["held_seq"]
    result = {"batch_id": batch_id, "device_id": device["id"], "held_seq": held,
              "applied": {}, "conflicts": 0}
    if db.execute("select 1 from batches where batch_id = ?", [batch_id]).fetchone():
        return {**result, "status": "duplicate"}
    if seq_from > held + 1:
        raise Refused("gap", f"it starts at change {seq_from} but the hub holds only up to {held}")
    document, blobs = envelope.unpack_payload(frame.open(hub_x25519))
    sections = document.get("sections") or []
    manifest = manifest_of(sections, seq_from, seq_to)
    if (document.get("manifest") != manifest
            or hashlib.sha256(envelope.canonical(manifest)).hexdigest()
            != header.get("manifest_sha256")):
        raise Refused("bad-manifest", "its contents do not match its manifest")
    record_device = document.get("record_device_id")
    if device["record_device_id"] and record_device != device["record_device_id"]:
        raise Refused("other-laptop", "another laptop is already using this enrolment")
    now = utc_now()
    batch = _Batch(db, instance, device, batch_id, held, now, via)
    media = {}
    tables = {}
    for section in sections:
        data = bytes(blobs[section["offset"] : section["offset"] + section["length"]])
        if len(data) != section["length"] or hashlib.sha256(data).hexdigest() != section[
            "sha256"
        ]:
            raise Refused("bad-manifest", "its contents do not match its manifest")
        if section["kind"] == "media":
            media[section["sha256"]] = data
        elif section["kind"] == "rows":
            if section["table"] not in REGISTRY:
                raise Refused("unknown-table", f"it holds a table this hub does not take: "
                              f"{section['table']}")
            rows = json.loads(data)
            if len(rows) != section["rows"]:
                raise Refused("bad-manifest", "its contents do not match its manifest")
            tables[section["table"]] = (section["columns"], rows)
        else:
            raise Refused("bad-payload", "it holds a section this hub does not know")
    # Changes numbered after what the hub holds from this laptop are new. So are those at
    # or below it that name a row the hub never received: a laptop restored from a backup
    # numbers what it records as changes the hub already holds (its own catch-up needs
    # word from the hub first, which a USB stick written before any cannot have had).
    late = 0
    for name, (cols, rows) in tables.items():
        unseen = _unreceived(db, REGISTRY[name], cols, [r for r in rows if r[0] <= held])
        late += len(unseen)
        new = [r for r in rows if r[0] > held]
        tables[name] = (cols, sorted(unseen + new, key=lambda r: r[0]) if unseen else new)
    if seq_to <= held and not late:
        return {**result, "status": "nothing-new"}
    batch.media = media
    for spec in ordered(tables):
        cols, rows = tables[spec.name]
        batch.apply(spec, cols, rows)
    held_after = max(held, seq_to)
    db.execute(
        "insert into batches (batch_id, device_id, bundle_id, via, seq_from, seq_to,"
        " held_before, held_after, made_at, received_at, counts, sent, workshops, conflicts,"
        " manifest_sha256, frame_sha256, received_by)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, device["id"], bundle_id, via, seq_from, seq_to, held, held_after,
         str(header.get("made_at", "")), now, json.dumps(batch.applied, sort_keys=True),
         json.dumps({n: t["rows"] for n, t in manifest["tables"].items()}, sort_keys=True),
         json.dumps(sorted(batch.workshops)), batch.conflicts, header["manifest_sha256"],
         frame.sha256, received_by],
    )
    db.execute(
        "update devices set held_seq = ?, last_heard_at = ?,"
        " record_device_id = coalesce(record_device_id, ?) where id = ?",
        [held_after, now, record_device, device["id"]],
    )
    return {**result, "status": "applied", "held_seq": held_after, "applied": batch.applied,
            "conflicts": batch.conflicts}


def _unreceived(db, spec: SyncedTable, cols: list[str], rows: list[list]) -> list[list]:
    """Those of these rows (``[seq, *values]``) whose key the hub has never received, and
    those changed in place whose copy is newer than the hub's (a kiosk ended on the
    restored laptop): numbered as changes the hub holds, they are news all the same."""
    if not rows:
        return []
    try:
        at = [cols.index(c) + 1 for c in spec.key]
    except ValueError:
        raise Refused("bad-payload", f"rows of {spec.name} have no key") from None
    by_key = {
        (json.dumps([r[i] for i in at], separators=(",", ":")) if spec.composite else r[at[0]]): r
        for r in rows
    }
    known = {row[0] for row in db.execute(
        "select key from received where tbl = ? and key in (select value from json_each(?))",
        [spec.name, json.dumps(list(by_key))])}
    news = [r for key, r in by_key.items() if key not in known]
    if spec.policy == "owned" and "updated_at" in cols and known:
        at_change = cols.index("updated_at") + 1
        held = dict(db.execute(
            f"select {spec.key[0]}, updated_at from {spec.name}"
            f" where {spec.key[0]} in (select value from json_each(?))",
            [json.dumps(sorted(known))],
        ).fetchall())
        news += [r for key, r in by_key.items() if key in held
                 and changed_before({"updated_at": held[key]}, {"updated_at": r[at_change]})]
    return news


class _Batch:
    """Applies the rows of one batch, table by table, keeping count and noting clashes."""

    def __init__(self, db, instance, device: dict, batch_id: str, held: int, now: str,
                 via: str):
        self.db = db
        self.instance = instance
        self.device = device
        self.batch_id = batch_id
        self.held = held
        self.now = now
        self.via = via
        self.applied: dict[str, int] = {}
        self.conflicts = 0
        self.workshops: set[str] = set()
        self.media: dict[str, bytes] = {}

    # --- helpers ------------------------------------------------------------------

    def _columns(self, spec: SyncedTable, sent: list[str]) -> list[str]:
        ours = columns(self.db, spec.name)
        unknown = set(sent) - set(ours)
        if unknown:
            raise Refused(
                "newer-laptop",
                f"it has columns this hub does not ({', '.join(sorted(unknown))}): update the hub",
            )
        return sent

    def _existing(self, spec: SyncedTable, cols: list[str], keys: list[str], by: str = ""):
        by = by or (
            "json_array(" + ", ".join(spec.key) + ")" if spec.composite else spec.key[0]
        )
        found = {}
        for start in range(0, len(keys), 20000):
            chunk = json.dumps(keys[start : start + 20000])
            for row in self.db.execute(
                f"select {by}, {', '.join(cols)} from {spec.name}"
                f" where {by} in (select value from json_each(?))",
                [chunk],
            ):
                found[row[0]] = dict(zip(cols, row[1:], strict=True))
        return found

    def conflict(self, spec: SyncedTable, key: str, kind: str, incoming: dict,
                 existing: dict | None, record_id: str | None = None) -> None:
        self.db.execute(
            "insert into conflicts (id, tbl, key, record_id, kind, batch_id, device_id,"
            " existing, incoming, detected_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [new_id(), spec.name, key, record_id, kind, self.batch_id, self.device["id"],
             json.dumps(existing, ensure_ascii=False, sort_keys=True) if existing else None,
             json.dumps(incoming, ensure_ascii=False, sort_keys=True), self.now],
        )
        self.conflicts += 1
        log.warning("sync conflict (%s) in %s %s from device %s", kind, spec.name, key,
                    self.device["id"])

    def _foreign_keys(self, table: str) -> list[tuple[str, str, str]]:
        """(column, parent table, parent column) for each foreign key of ``table``."""
        found = []
        for row in self.db.execute(f"pragma foreign_key_list({table})"):
            parent, column, parent_column = row[2], row[3], row[4]
            if parent_column is None:
                parent_column = next(r[1] for r in self.db.execute(
                    f"pragma table_info({parent})") if r[5] == 1)
            found.append((column, parent, parent_column))
        return found

    def _referenced(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> list[dict]:
        """The rows whose references all exist; the others become conflicts.

        Checked a batch at a time (one query per foreign key, not one per row), which is
        why the hub applies batches with SQLite's own per-row check switched off."""
        links = [link for link in self._foreign_keys(spec.name) if link[0] in cols]
        while rows and links:
            bad = set()
            for column, parent, parent_column in links:
                values = {r[column] for r in rows if r[column] is not None}
                if parent == spec.name:
                    values -= {r[parent_column] for r in rows}
                if not values:
                    continue
                present = {row[0] for row in self.db.execute(
                    f"select {parent_column} from {parent}"
                    f" where {parent_column} in (select value from json_each(?))",
                    [json.dumps(sorted(values))],
                )}
                bad.update(i for i, r in enumerate(rows)
                           if r[column] is not None and r[column] in values - present)
            if not bad:
                break
            for i in sorted(bad):
                self.conflict(spec, spec.key_of(rows[i]), "missing-reference", rows[i], None,
                              rows[i].get("id"))
            rows = [r for i, r in enumerate(rows) if i not in bad]
        return rows

    def _insert(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        """Insert checked rows; a clash only the database can see becomes a conflict."""
        rows = self._referenced(spec, cols, rows)
        if not rows:
            return
        # A table that records its receipt on the row gets it with the row (no update).
        receipt = [self.batch_id, self.via, self.now, self.device["name"]] if spec.receipt else []
        written = cols + list(RECEIPT_COLUMNS[: len(receipt)])
        sql = (
            f"insert or ignore into {spec.name} ({', '.join(written)})"
            f" values ({', '.join('?' * len(written))})"
        )
        values = [[r[c] for c in cols] + receipt for r in rows]
        self.db.execute("savepoint sync_rows")
        try:
            inserted = self.db.conn.executemany(sql, values).rowcount
        except sqlite3.IntegrityError:
            # A row refers to something the hub does not have: apply the rest one by one.
            self.db.execute("rollback to sync_rows")
            inserted = 0
            landed = []
            for row, value in zip(rows, values, strict=True):
                self.db.execute("savepoint sync_row")
                try:
                    if self.db.conn.execute(sql, value).rowcount:
                        inserted += 1
                        landed.append(row)
                    self.db.execute("release sync_row")
                except sqlite3.IntegrityError:
                    self.db.execute("rollback to sync_row")
                    self.db.execute("release sync_row")
                    self.conflict(spec, spec.key_of(row), "missing-reference", row, None,
                                  row.get("id"))
            rows = landed
        finally:
            self.db.execute("release sync_rows")
        if inserted < len(rows):
            keys = [spec.key_of(r) for r in rows]
            present = self._existing(spec, cols, keys)
            kept = []
            for row in rows:
                there = present.get(spec.key_of(row))
                if there is None or there != {c: row[c] for c in cols}:
                    self.conflict(spec, spec.key_of(row), "unique-clash", row, None,
                                  row.get("id"))
                else:
                    kept.append(row)
            rows = kept
        self._received(spec, rows)

    def _received(self, spec: SyncedTable, rows: list[dict]) -> None:
        if not rows:
            return
        self.db.conn.executemany(
            "insert or ignore into received (tbl, key, batch_id) values (?, ?, ?)",
            [(spec.name, spec.key_of(r), self.batch_id) for r in rows],
        )
        self.applied[spec.name] = self.applied.get(spec.name, 0) + len(rows)
        if spec.workshop_column:
            self.workshops.update(r[spec.workshop_column] for r in rows
                                  if r.get(spec.workshop_column))

    # --- policies -----------------------------------------------------------------

    def apply(self, spec: SyncedTable, sent: list[str], raw: list[list]) -> None:
        if not raw:
            return
        cols = self._columns(spec, sent)
        rows = []
        for r in raw:
            if len(r) != len(cols) + 1:
                raise Refused("bad-payload", f"a row of {spec.name} has the wrong length")
            rows.append(dict(zip(cols, r[1:], strict=True)))
        getattr(self, "_" + spec.policy)(spec, cols, rows)

    def _revisions(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        for needed in ("revision_id", "id", "replaces"):
            if needed not in cols:
                raise Refused("bad-payload", f"rows of {spec.name} have no {needed}")
        existing = self._existing(spec, cols, [r["revision_id"] for r in rows])
        ids = {r["id"] for r in rows}
        bases = sorted({r["replaces"] for r in rows if r["replaces"]})
        records_present = {
            row[0] for row in self.db.execute(
                f"select distinct id from {spec.name} where id in (select value from json_each(?))",
                [json.dumps(sorted(ids))],
            )
        }
        bases_present = {
            row[0] for row in self.db.execute(
                f"select revision_id from {spec.name}"
                " where revision_id in (select value from json_each(?))",
                [json.dumps(bases)],
            )
        } if bases else set()
        replaced = {
            row[0]: row[1] for row in self.db.execute(
                f"select replaces, revision_id from {spec.name}"
                " where replaces in (select value from json_each(?))",
                [json.dumps(bases)],
            )
        } if bases else {}
        held_back = {
            row[0] for row in self.db.execute(
                "select key from conflicts where tbl = ? and key in (select value from"
                " json_each(?))",
                [spec.name, json.dumps(bases)],
            )
        } if bases else set()
        accept: list[dict] = []
        accepted: set[str] = set()
        for row in rows:
            rid, base = row["revision_id"], row["replaces"]
            there = existing.get(rid)
            if there is not None:
                if there != row:
                    self.conflict(spec, rid, "changed", row, there, row["id"])
                continue
            if rid in accepted:
                continue
            if base is None:
                if row["id"] in records_present:
                    first = self._first_revision(spec, cols, row["id"])
                    self.conflict(spec, rid, "same-record", row, first, row["id"])
                    held_back.add(rid)
                    continue
                records_present.add(row["id"])
            elif base in held_back:
                self.conflict(spec, rid, "follows-conflict", row, None, row["id"])
                held_back.add(rid)
                continue
            elif base not in bases_present and base not in accepted:
                self.conflict(spec, rid, "missing-base", row, None, row["id"])
                held_back.add(rid)
                continue
            elif base in replaced and replaced[base] != rid:
                other = self._existing(spec, cols, [replaced[base]]).get(replaced[base])
                self.conflict(spec, rid, "fork", row, other, row["id"])
                held_back.add(rid)
                continue
            if base:
                replaced[base] = rid
            accepted.add(rid)
            records_present.add(row["id"])
            accept.append(row)
        self._insert(spec, cols, accept)

    def _first_revision(self, spec, cols, record_id):
        rows = list(self.db.query(
            f"select {', '.join(cols)} from {spec.name} where id = ? order by revision limit 1",
            [record_id],
        ))
        return rows[0] if rows else None

    def _fixed(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        existing = self._existing(spec, cols, [spec.key_of(r) for r in rows])
        accept, seen = [], set()
        for row in rows:
            key = spec.key_of(row)
            there = existing.get(key)
            if there is not None:
                if there != row:
                    self.conflict(spec, key, "changed", row, there, row.get("id"))
                continue
            if key not in seen:
                seen.add(key)
                accept.append(row)
        self._insert(spec, cols, accept)

    def _owned(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        existing = self._existing(spec, cols, [spec.key_of(r) for r in rows])
        fresh, changed = [], []
        for row in rows:
            key = spec.key_of(row)
            there = existing.get(key)
            if there is None:
                if spec.name == "conversations":
                    row = {**row, "slug": self._free_slug(row["slug"])}
                fresh.append(row)
                existing[key] = row
            elif there == row:
                continue
            elif there.get("device_id") == row.get("device_id"):
                if changed_before(row, there):
                    # A copy from before the hub's (a laptop restored from a backup sends
                    # what the backup still had waiting): set aside, never put back.
                    self.conflict(spec, key, "older", row, there, row.get("id"))
                    continue
                if spec.name == "conversations" and there.get("slug") != row.get("slug"):
                    row = {**row, "slug": there["slug"]}  # the hub's own name for it stays
                changed.append(row)
                existing[key] = row
            else:
                self.conflict(spec, key, "other-owner", row, there, row.get("id"))
        self._insert(spec, cols, fresh)
        for row in changed:
            sets = [c for c in cols if c not in spec.key]
            self.db.execute(
                f"update {spec.name} set {', '.join(c + ' = ?' for c in sets)}"
                f" where {spec.key[0]} = ?",
                [row[c] for c in sets] + [row[spec.key[0]]],
            )
        self._received(spec, changed)

    def _free_slug(self, slug: str) -> str:
        base, n, candidate = slug, 2, slug
        while self.db.execute("select 1 from conversations where slug = ?",
                              [candidate]).fetchone():
            candidate = f"{base}-{n}"
            n += 1
        return candidate

    def _users(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        """Laptop accounts become names on the hub: switched off, with no password, so
        that 'entered by' reads as a person; never an account that can sign in."""
        accept = []
        for row in rows:
            if self.db.execute("select 1 from users where id = ?", [row["id"]]).fetchone():
                continue
            name = str(row.get("username") or "user")
            candidate, n = name, 1
            suffix = str(self.device["name"])[:20].replace(" ", "-") or "laptop"
            while self.db.execute(
                "select 1 from users where username = ?", [candidate]
            ).fetchone():
                candidate = f"{name}@{suffix}" if n == 1 else f"{name}@{suffix}-{n}"
                n += 1
            accept.append({
                "id": row["id"], "username": candidate, "password_hash": "!synced",
                "role": "facilitator", "locale": None, "active": 0,
                "device_id": row.get("device_id") or self.device["id"],
                "created_at": row.get("created_at") or self.now, "created_by": None,
            })
        self._insert(spec, list(accept[0]) if accept else cols, accept)

    def _media(self, spec: SyncedTable, cols: list[str], rows: list[dict]) -> None:
        for row in rows:
            data = self.media.get(row["sha256"])
            if data is None or hashlib.sha256(data).hexdigest() != row["sha256"]:
                raise Refused("bad-manifest", "a media file is missing from the batch")
            target = media_path(self.instance, row["sha256"])
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(target.name + ".partial")
                partial.write_bytes(data)
                partial.replace(target)
        self._fixed(spec, cols, rows)


def store_path(instance) -> Path:
    return Path(instance) / "media"

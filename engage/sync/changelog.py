"""The laptop's side: what is waiting in the change log, and batches made from it.

``changes`` is filled by triggers and never trimmed; ``sync_state.acked_seq`` is the
last sequence the hub acknowledged. A batch is the next run of changes after it, read
with the rows as they are now, and sealed for the hub. Nothing here drops anything:
only an acknowledgement from the hub moves ``acked_seq``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..db import new_id, utc_now
from . import envelope
from .tables import REGISTRY, columns, ordered

MAX_CHANGES = 5000  # rows in one batch: about 2 MB of contributions
MAX_MEDIA_BYTES = 16 * 1024 * 1024  # scans in one batch, beyond the first file


def media_path(instance: str | Path, sha256: str) -> Path:
    return Path(instance) / "media" / sha256


def state(db) -> dict:
    return next(db.query("select * from sync_state where id = 1"))


def last_seq(db) -> int:
    return db.execute("select coalesce(max(seq), 0) from changes").fetchone()[0]


def waiting(db, after: int | None = None) -> dict[str, int]:
    """Changes not yet acknowledged, counted by table."""
    if after is None:
        after = state(db)["acked_seq"]
    return {
        row[0]: row[1]
        for row in db.execute(
            "select tbl, count(*) from changes where seq > ? group by tbl order by tbl", [after]
        )
    }


def set_acked(db, held_seq: int) -> None:
    """Take the hub's word for what it holds, even when it is less than we thought (a
    hub restored from a backup): the log is never trimmed, so it is sent again."""
    with db.atomic():
        db.execute(
            "update sync_state set acked_seq = ?, acked_at = ?, failures = 0, last_error = null,"
            " next_attempt_at = null where id = 1",
            [held_seq, utc_now()],
        )


def record_failure(db, message: str, next_attempt_at: str | None) -> None:
    with db.atomic():
        db.execute(
            "update sync_state set last_attempt_at = ?, last_error = ?, failures = failures + 1,"
            " next_attempt_at = ? where id = 1",
            [utc_now(), message, next_attempt_at],
        )


def set_sent(db, seq: int) -> None:
    """Note that the changes up to ``seq`` went into a batch or a bundle (which may reach
    the hub even when its answer does not reach us), before it is sent."""
    with db.atomic():
        db.execute("update sync_state set sent_seq = max(sent_seq, ?) where id = 1", [seq])


def record_attempt(db) -> None:
    with db.atomic():
        db.execute("update sync_state set last_attempt_at = ? where id = 1", [utc_now()])


@dataclass
class Outgoing:
    """One batch before sealing: a run of changes and the rows they name."""

    batch_id: str
    seq_from: int
    seq_to: int
    document: dict
    blobs: list[bytes] = field(default_factory=list)

    @property
    def manifest(self) -> dict:
        return self.document["manifest"]

    @property
    def counts(self) -> dict[str, int]:
        counts = {name: t["rows"] for name, t in self.manifest["tables"].items()}
        if self.manifest["media"]["files"]:
            counts["media"] = self.manifest["media"]["files"]
        return counts


def manifest_of(sections: list[dict], seq_from: int, seq_to: int) -> dict:
    """Counts and hashes of a batch, as both ends compute them."""
    tables = {
        s["table"]: {"rows": s["rows"], "sha256": s["sha256"]}
        for s in sections
        if s["kind"] == "rows"
    }
    media = [s for s in sections if s["kind"] == "media"]
    return {
        "seq_from": seq_from,
        "seq_to": seq_to,
        "tables": tables,
        "media": {"files": len(media), "bytes": sum(s["length"] for s in media),
                  "sha256": sorted(s["sha256"] for s in media)},
    }


def _fetch(db, table: str, keys: list[str]) -> tuple[list[str], dict[str, list]]:
    spec = REGISTRY[table]
    cols = columns(db, table)
    key_sql = "json_array(" + ", ".join(spec.key) + ")" if spec.composite else spec.key[0]
    found = {}
    for start in range(0, len(keys), 20000):
        chunk = json.dumps(keys[start : start + 20000])
        for row in db.execute(
            f"select {key_sql}, {', '.join(cols)} from {table}"
            f" where {key_sql} in (select value from json_each(?))",
            [chunk],
        ):
            found[row[0]] = list(row[1:])
    return cols, found


def build(
    db, instance, after: int, *, record_device_id: str, max_changes: int = MAX_CHANGES,
    max_media_bytes: int | None = None,
) -> Outgoing | None:
    """The next batch after sequence ``after``, or None when nothing is waiting.

    A batch holds at most ``max_changes`` changes, and media files up to
    ``max_media_bytes`` beyond its first, so a stack of scans goes in several batches."""
    max_media_bytes = max_media_bytes or MAX_MEDIA_BYTES
    changes = db.execute(
        "select seq, tbl, key from changes where seq > ? order by seq limit ?",
        [after, max_changes],
    ).fetchall()
    if not changes:
        return None
    media_bytes = 0
    by_table: dict[str, dict[str, int]] = {}
    seq_to = after
    for seq, table, key in changes:
        if table not in REGISTRY:
            raise ValueError(f"the change log names a table engage does not sync: {table}")
        if table == "media":
            size = (db.execute("select size from media where sha256 = ?", [key]).fetchone()
                    or [0])[0]
            if media_bytes and media_bytes + size > max_media_bytes:
                break
            media_bytes += size
        # A row changed twice in one batch is sent once, as it is now, at its last change.
        by_table.setdefault(table, {})[key] = seq
        seq_to = seq
    sections: list[dict] = []
    blobs: list[bytes] = []
    offset = 0
    for spec in ordered(by_table):
        keyed = by_table[spec.name]
        cols, found = _fetch(db, spec.name, list(keyed))
        rows = sorted(([seq, *found[key]] for key, seq in keyed.items() if key in found),
                      key=lambda r: r[0])
        encoded = json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()
        sections.append({"kind": "rows", "table": spec.name, "columns": cols, "rows": len(rows),
                         "sha256": hashlib.sha256(encoded).hexdigest(), "offset": offset,
                         "length": len(encoded)})
        blobs.append(encoded)
        offset += len(encoded)
        if spec.name == "media":
            for key, seq in sorted(keyed.items(), key=lambda kv: kv[1]):
                data = media_path(instance, key).read_bytes()
                if hashlib.sha256(data).hexdigest() != key:
                    raise ValueError(f"media file {key} does not match its hash")
                sections.append({"kind": "media", "sha256": key, "seq": seq, "offset": offset,
                                 "length": len(data)})
                blobs.append(data)
                offset += len(data)
    document = {
        "format": 1,
        "record_device_id": record_device_id,
        "sections": sections,
        "manifest": manifest_of(sections, after + 1, seq_to),
    }
    return Outgoing(batch_id=new_id(), seq_from=after + 1, seq_to=seq_to, document=document,
                    blobs=blobs)


def seal(out: Outgoing, *, device_id: str, hub: envelope.HubPublic, key,
         bundle_id: str | None = None) -> bytes:
    header = {
        "kind": "batch",
        "device_id": device_id,
        "batch_id": out.batch_id,
        "bundle_id": bundle_id,
        "seq_from": out.seq_from,
        "seq_to": out.seq_to,
        "made_at": utc_now(),
        "manifest_sha256": hashlib.sha256(envelope.canonical(out.manifest)).hexdigest(),
    }
    return envelope.seal(header, envelope.pack_payload(out.document, out.blobs), hub=hub,
                         device_key=key)

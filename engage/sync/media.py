"""Media by content hash: scans, crops and other files that travel with the records.

A file is stored once as ``instance/media/<sha256>`` and named by a row in ``media``;
records refer to it by that hash. The row's change-log trigger queues the file for the
hub like any row, and the batch carries its bytes, checked against the hash on arrival.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flask import current_app

from ..db import device_id, get_db, utc_now
from .changelog import media_path


def store(data: bytes, content_type: str) -> str:
    """Keep ``data`` (written whole, then renamed) and return its SHA-256; storing the
    same bytes again changes nothing."""
    sha256 = hashlib.sha256(data).hexdigest()
    target = media_path(current_app.instance_path, sha256)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{sha256}.{os.getpid()}.partial")
        with partial.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(target)
    db = get_db()
    with db.atomic():
        db.execute(
            "insert or ignore into media (sha256, size, content_type, device_id, created_at)"
            " values (?, ?, ?, ?, ?)",
            [sha256, len(data), content_type, device_id(), utc_now()],
        )
    return sha256


def path(sha256: str) -> Path:
    """Where a stored file is; it may not be there if the hash is unknown."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(sha256)
    return media_path(current_app.instance_path, sha256)

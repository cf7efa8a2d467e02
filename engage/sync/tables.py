"""Which tables sync to the hub, how each row is named, and how the hub applies it.

A table syncs when a migration gives it a ``sync_log_<table>`` trigger (which appends
its new rows to ``changes``) and it is registered here. A later module (scans, say)
adds its own table with :func:`register`; anything not registered is refused by the
hub, so a batch can never write to accounts, devices or batches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: How the hub applies a table's rows:
#: ``revisions``  append-only revisions keyed by revision_id; corrections name the
#:                revision they replace; anything else with the same UUID is a conflict
#: ``owned``      keyed by id; the device that made a row may change it in place
#:                (a kiosk ended, an idea's translation added), stamping ``updated_at``;
#:                an older copy never replaces a newer one (:func:`changed_before`)
#: ``fixed``      keyed by id; never changes after it is made
#: ``users``      names for provenance only: never a password, never able to sign in
#: ``media``      a file by its SHA-256, carried beside the rows
POLICIES = ("revisions", "owned", "fixed", "users", "media")
#: The hub's record, on the row itself, of the batch that brought it (migration 0008):
#: written by the hub as it applies the batch, never sent by a laptop.
RECEIPT_COLUMNS = ("sync_batch_id", "sync_via", "sync_received_at", "sync_laptop")


@dataclass(frozen=True)
class SyncedTable:
    name: str
    key: tuple[str, ...]
    policy: str
    order: int  # tables are applied in this order, so what others refer to comes first
    private: tuple[str, ...] = ()  # columns never sent to the hub
    workshop_column: str | None = "workshop_id"
    receipt: bool = False  # the row carries RECEIPT_COLUMNS

    @property
    def composite(self) -> bool:
        return len(self.key) > 1

    def key_of(self, row: dict) -> str:
        """The key text the change log holds for ``row`` (JSON array when composite)."""
        if self.composite:
            return json.dumps([row[c] for c in self.key], separators=(",", ":"))
        return row[self.key[0]]


REGISTRY: dict[str, SyncedTable] = {}


def register(table: SyncedTable) -> SyncedTable:
    if table.policy not in POLICIES:
        raise ValueError(table.policy)
    REGISTRY[table.name] = table
    return table


for _table in (
    SyncedTable("users", ("id",), "users", 10, workshop_column=None,
                private=("password_hash", "locale", "active", "created_by")),
    SyncedTable("conversations", ("id",), "owned", 20, workshop_column=None),
    SyncedTable("prompts", ("id",), "owned", 30, workshop_column=None),
    SyncedTable("ideas", ("id",), "owned", 40, workshop_column=None),
    SyncedTable("workshops", ("id",), "fixed", 50, workshop_column="id"),
    SyncedTable("workshop_facilitators", ("workshop_id", "user_id"), "fixed", 60),
    SyncedTable("kiosks", ("id",), "owned", 70),
    SyncedTable("forms", ("id",), "fixed", 80),
    SyncedTable("media", ("sha256",), "media", 90, workshop_column=None),
    SyncedTable("participants", ("revision_id",), "revisions", 100,
                private=RECEIPT_COLUMNS, receipt=True),
    SyncedTable("contributions", ("revision_id",), "revisions", 110,
                private=RECEIPT_COLUMNS, receipt=True),
    SyncedTable("exposures", ("id",), "fixed", 120),
):
    register(_table)


def changed_before(row: dict, other: dict) -> bool:
    """Whether an owned row was last changed before ``other``, a copy of the same row.
    Both times come from the device that owns the row. A copy without one (from a
    laptop too old to send it) is taken at its word, as before it was kept."""
    mine, theirs = row.get("updated_at"), other.get("updated_at")
    return bool(mine and theirs) and mine < theirs


def ordered(names) -> list[SyncedTable]:
    return sorted((REGISTRY[n] for n in names), key=lambda t: t.order)


def columns(db, table: str) -> list[str]:
    """The table's columns on this database, in schema order, less the private ones."""
    spec = REGISTRY[table]
    return [
        row[1] for row in db.execute(f"pragma table_info({table})") if row[1] not in spec.private
    ]

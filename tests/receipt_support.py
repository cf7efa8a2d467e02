"""The hub's receipt on participant and contribution rows (migration 0008), for tests
that compare the hub's rows with a laptop's."""

from __future__ import annotations

from engage.sync.tables import RECEIPT_COLUMNS


def as_sent(row: dict) -> dict:
    """A hub row as the laptop holds it: the hub's receipt is empty on a laptop."""
    return {k: (None if k in RECEIPT_COLUMNS else v) for k, v in row.items()}


def receipts(rows, batches: dict, laptop: str) -> set[str]:
    """Check every row's receipt names an applied batch, its way and time, and the
    laptop; returns the ways the rows came."""
    ways = set()
    for row in rows:
        batch = batches[row["sync_batch_id"]]
        assert (row["sync_via"], row["sync_received_at"], row["sync_laptop"]) == (
            batch["via"], batch["received_at"], laptop), row
        ways.add(row["sync_via"])
    return ways

"""The hub's receipt on each participant and contribution row (migration 0008): written
with the row as a batch is applied, filled in for rows a hub already held, never sent by
a laptop, and never inherited by a revision made on the hub itself."""

from __future__ import annotations

import pytest
from receipt_support import receipts
from sync_support import capture, context, enrol_laptop, make_hub, query, transport

from engage.data import contributions
from engage.db import connect, get_db, migrate
from engage.migrations import migrations
from engage.sync import changelog, laptop
from engage.sync.envelope import Refused
from engage.sync.tables import RECEIPT_COLUMNS, columns

REVISED = ("participants", "contributions")


@pytest.fixture
def pushed(tmp_path):
    hub_app = make_hub(tmp_path / "hub")
    lap = enrol_laptop(tmp_path / "laptop", hub_app, "Leeds laptop 3")
    capture(lap, participants=2)
    with context(lap):
        laptop.push(transport=transport(hub_app), max_changes=7)
    return hub_app, lap


def test_each_row_carries_the_batch_that_brought_it(pushed):
    hub_app, lap = pushed
    batches = {b["batch_id"]: b for b in query(hub_app, "select * from batches")}
    for table in REVISED:
        rows = query(hub_app, f"select * from {table}")
        assert receipts(rows, batches, "Leeds laptop 3") == {"network"}, table
        # the same batch as the hub's list of what each batch brought
        listed = {r["key"]: r["batch_id"] for r in query(
            hub_app, "select key, batch_id from received where tbl = ?", [table])}
        assert {r["revision_id"]: r["sync_batch_id"] for r in rows} == listed, table
        assert len(set(listed.values())) > 1, table  # more than one batch: each its own
        assert all(r[c] is None for r in query(lap, f"select * from {table}")
                   for c in RECEIPT_COLUMNS), table


def test_a_laptop_never_sends_a_receipt_and_the_hub_takes_none(pushed):
    hub_app, lap = pushed
    with context(lap):
        for table in REVISED:
            assert not set(RECEIPT_COLUMNS) & set(columns(get_db(), table)), table
        made = changelog.build(get_db(), lap.instance_path, 0, record_device_id="x")
    sent = [s for s in made.document["sections"] if s["kind"] == "rows"]
    assert {s["table"] for s in sent} >= set(REVISED)
    assert all(not set(RECEIPT_COLUMNS) & set(s["columns"]) for s in sent)
    with context(hub_app), pytest.raises(Refused, match="sync_batch_id"):
        from engage.sync.apply import _Batch
        from engage.sync.tables import REGISTRY

        db = get_db()
        device = {"id": "d", "name": "laptop"}
        batch = _Batch(db, hub_app.instance_path, device, "b", 0, "now", "network")
        spec = REGISTRY["contributions"]
        batch.apply(spec, columns(db, "contributions") + ["sync_batch_id"], [[1]])


def test_a_correction_made_on_the_hub_has_no_receipt(pushed):
    hub_app, _ = pushed
    with context(hub_app):
        db = get_db()
        row = next(db.query("select * from contributions where kind = 'idea' and not exists"
                            " (select 1 from contributions r where r.replaces ="
                            " contributions.revision_id)"))
        assert row["sync_batch_id"]
        with db.atomic():
            saved = contributions.correct_contribution(
                row["workshop_id"], row["id"], {"text": "Corrected on the hub"},
                expected_revision_id=row["revision_id"], entered_by=None)
        new = next(db.query("select * from contributions where revision_id = ?",
                            [saved["revision_id"]]))
    assert new["replaces"] == row["revision_id"]
    assert all(new[c] is None for c in RECEIPT_COLUMNS)


def test_migration_0008_gives_rows_already_on_a_hub_their_receipt(tmp_path):
    db = connect(tmp_path / "old.db")
    migrations.apply(db, stop_before="0008_receipts_on_rows")
    db.execute("insert into devices (id, name, public_key, token_hash, enrolled_at, via)"
               " values ('d1', 'Leeds laptop 3', 'k', 'h', 't0', 'network')")
    db.execute("insert into batches (batch_id, device_id, via, seq_from, seq_to, held_before,"
               " held_after, made_at, received_at, counts, sent, workshops, manifest_sha256,"
               " frame_sha256) values ('b1', 'd1', 'file', 1, 9, 0, 9, 't1', 't2', '{}', '{}',"
               " '[]', 'm', 'f')")
    db.execute("insert into conversations (id, slug, title, description, device_id,"
               " created_at) values ('c', 'c', '{}', '{}', 'd1', 't0')")
    db.execute("insert into workshops (id, conversation_id, title, date, postcode_district,"
               " tags, languages, device_id, created_at) values"
               " ('w', 'c', 'W', '2026-03-14', 'LS6', '[]', '[]', 'd1', 't0')")
    for rid, batch in (("p1", "b1"), ("p2", None)):
        db.execute("insert into participants (revision_id, id, revision, workshop_id, code,"
                   " channel, language, device_id, created_at) values"
                   " (?, ?, 1, 'w', 'ABCDE', 'facilitator', 'en', 'd1', 't0')", [rid, rid])
        db.execute("insert into contributions (revision_id, id, revision, kind, workshop_id,"
                   " participant_id, text, channel, device_id, created_at) values"
                   " (?, ?, 1, 'idea', 'w', ?, 'words', 'facilitator', 'd1', 't0')",
                   ["c" + rid, "c" + rid, rid])
        if batch:
            for table, key in (("participants", rid), ("contributions", "c" + rid)):
                db.execute("insert into received (tbl, key, batch_id) values (?, ?, ?)",
                           [table, key, batch])
    db.conn.commit()
    migrate(db)
    for table, key in (("participants", "p"), ("contributions", "cp")):
        got = {r[0]: tuple(r[1:]) for r in db.execute(
            f"select revision_id, {', '.join(RECEIPT_COLUMNS)} from {table}")}
        assert got == {key + "1": ("b1", "file", "t2", "Leeds laptop 3"),
                       key + "2": (None, None, None, None)}, table
    db.close()

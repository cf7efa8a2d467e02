"""The schema is built by numbered migrations on an empty database, once."""

from engage.db import connect, migrate
from engage.migrations import migrations


def test_migrating_an_empty_database_builds_the_schema(tmp_path):
    db = connect(tmp_path / "new.db")
    migrate(db)
    assert {"users", "conversations", "prompts", "ideas", "workshops", "participants",
            "contributions", "exposures", "device"} <= set(db.table_names())
    assert [m.name for m in migrations.applied(db)] == [m.name for m in migrations._migrations]
    assert all(m.name[:4].isdigit() for m in migrations._migrations)


def test_migrating_twice_changes_nothing(tmp_path):
    db = connect(tmp_path / "again.db")
    migrate(db)
    device = list(db["device"].rows)
    migrate(db)
    assert list(db["device"].rows) == device
    assert len(device) == 1


def test_database_is_in_wal_mode_and_its_log_is_flushed_by_the_group_commit(tmp_path):
    db = connect(tmp_path / "wal.db")
    migrate(db)
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
    # SQLite leaves the flush to engage's group commit (tests/test_walsync.py)...
    assert db.execute("pragma synchronous").fetchone()[0] == 1  # NORMAL
    assert db.wal_sync is not None
    # ...and makes no temporary files: statement journals and sorts stay in memory.
    assert db.execute("pragma temp_store").fetchone()[0] == 2  # MEMORY


def test_where_the_log_cannot_be_opened_sqlite_flushes_every_commit(tmp_path, monkeypatch):
    import engage.db

    monkeypatch.setattr(engage.db, "can_flush", lambda path: False)
    db = connect(tmp_path / "full.db")
    assert db.execute("pragma synchronous").fetchone()[0] == 2  # FULL
    assert db.wal_sync is None


def test_device_id_is_a_uuid_made_here(tmp_path):
    import uuid

    db = connect(tmp_path / "device.db")
    migrate(db)
    (device,) = db["device"].rows
    assert uuid.UUID(device["id"]).version == 4


def test_a_save_writes_no_duplicate_index_and_lookups_by_participant_still_use_one(tmp_path):
    db = connect(tmp_path / "indexes.db")
    migrate(db)
    indexes = {row["name"]: row["sql"] for row in db.query(
        "select name, sql from sqlite_master where type = 'index' and tbl_name = 'contributions'")}
    assert "contributions_participant" not in indexes
    assert "(participant_id, idea_id, kind, revision)" in indexes["contributions_participant_idea"]
    for sql in (
        "select * from contributions where participant_id = ?",
        "select count(*) from contributions c where c.participant_id = ?",
    ):
        plan = " ".join(row[-1] for row in db.execute(f"explain query plan {sql}", ["p"]))
        assert "USING INDEX contributions_participant_idea" in plan or (
            "USING COVERING INDEX contributions_participant_idea" in plan), plan


def test_the_current_revision_is_read_from_the_end_of_an_index_not_revision_by_revision(
        tmp_path):
    """However often a vote or an entry was changed, finding its current revision reads
    the index backwards and stops: no sort, no walk over every revision."""
    db = connect(tmp_path / "current.db")
    migrate(db)
    from engage.data.revisions import current_where

    current = current_where("c", "contributions")
    for sql, index in (
        ("select * from contributions c where c.participant_id = ? and c.idea_id = ?"
         f" and c.kind = 'vote' and {current} order by c.revision desc limit 1",
         "contributions_participant_idea"),
        (f"select * from contributions c where c.id = ? and {current}"
         " order by c.revision desc limit 1", "contributions_id"),
    ):
        plan = " ".join(row[-1] for row in db.execute(
            f"explain query plan {sql}", ["x"] * sql.count("?")))
        assert f"USING INDEX {index}" in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_rows_changed_in_place_get_the_time_they_last_changed_and_nothing_is_queued(tmp_path):
    """Migration 0012: a conversation, idea and kiosk made before it get when they were
    made (a kiosk: when it ended, if it has) as their last change, with the triggers that
    queue changes for the hub left exactly as they were."""
    db = connect(tmp_path / "old.db")
    migrations.apply(db, stop_before="0012_owned_rows_updated_at")
    device = db.execute("select id from device").fetchone()[0]
    db.execute("insert into users (id, username, password_hash, role, active, device_id,"
               " created_at) values ('u1', 'fay', 'x', 'admin', 1, ?, '1')", [device])
    db.execute("insert into conversations values ('c1', 's', '{}', '{}', 'open', ?, '2', null)",
               [device])
    db.execute("insert into ideas (id, conversation_id, position, text, easy_read, device_id,"
               " created_at) values ('i1', 'c1', 1, '{}', '{}', ?, '3')", [device])
    db.execute("insert into workshops (id, conversation_id, title, date, postcode_district,"
               " tags, languages, device_id, created_at, created_by)"
               " values ('w1', 'c1', 't', '2026-01-01', 'LS6', '[]', '[\"en\"]', ?, '4', 'u1')",
               [device])
    db.execute("insert into kiosks values ('k1', 'w1', 'u1', '5', '6', ?)", [device])
    db.execute("insert into kiosks values ('k2', 'w1', 'u1', '7', null, ?)", [device])
    db.conn.commit()
    triggers = db.execute("select name, sql from sqlite_master where type = 'trigger'"
                          " order by name").fetchall()
    queued = db.execute("select max(seq) from changes").fetchone()[0]

    migrations.apply(db)

    changed = {r[0]: r[1] for table in ("conversations", "ideas", "kiosks")
               for r in db.execute(f"select id, updated_at from {table}")}
    assert changed == {"c1": "2", "i1": "3", "k1": "6", "k2": "7"}
    assert db.execute("select max(seq) from changes").fetchone()[0] == queued
    assert db.execute("select name, sql from sqlite_master where type = 'trigger'"
                      " order by name").fetchall() == triggers
    db.execute("update kiosks set ended_at = '8' where id = 'k2'")
    assert db.execute("select max(seq) from changes").fetchone()[0] == queued + 1


def test_every_table_changed_in_place_keeps_when_it_last_changed(tmp_path):
    """The hub tells a newer copy of an owned row from an older one by ``updated_at``
    (engage/sync/tables.py, changed_before): a table synced as owned without it would
    let a laptop restored from a backup put the hub's rows back in time."""
    import engage.data.scans  # noqa: F401 - registers the scan tables
    from engage.sync.tables import REGISTRY

    db = connect(tmp_path / "new.db")
    migrate(db)
    owned = [spec.name for spec in REGISTRY.values() if spec.policy == "owned"]
    assert {"conversations", "kiosks", "scan_pages", "review_items"} <= set(owned)
    for table in owned:
        assert "updated_at" in {r[1] for r in db.execute(f"pragma table_info({table})")}, table

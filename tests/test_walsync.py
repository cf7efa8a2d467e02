"""Group commit: a save is answered only after a flush of the log that began after it
committed, and saves that arrive together share one flush."""

from __future__ import annotations

import os
import threading
import time

import pytest

from engage.db import get_db
from engage.walsync import WalSync, flush_file


class SlowDisk:
    """A flush that takes a while and remembers the order flushes started and ended."""

    def __init__(self, seconds=0.005, fail_first=0):
        self.seconds = seconds
        self.fail_first = fail_first
        self.started = 0
        self.finished: list[int] = []  # the start order of each flush that finished
        self.guard = threading.Lock()

    def __call__(self, path):
        with self.guard:
            number = self.started
            self.started += 1
        time.sleep(self.seconds)
        if number < self.fail_first:
            raise OSError("the disk said no")
        with self.guard:
            self.finished.append(number)


def test_a_sync_returns_only_after_a_flush_that_began_after_it_was_asked(tmp_path):
    disk = SlowDisk()
    wal = WalSync(tmp_path / "db-wal", flush=disk)
    late: list[tuple[int, list[int]]] = []

    def saver():
        for _ in range(25):
            asked_at = disk.started  # flushes that began before this one asked
            wal.sync()
            with disk.guard:
                if not any(n >= asked_at for n in disk.finished):
                    late.append((asked_at, list(disk.finished)))

    threads = [threading.Thread(target=saver) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert late == []
    # 300 saves arrived twelve at a time: they shared flushes.
    assert wal.flushes == len(disk.finished) < 300 / 3


def test_one_save_alone_gets_its_own_flush(tmp_path):
    disk = SlowDisk(seconds=0)
    wal = WalSync(tmp_path / "db-wal", flush=disk)
    for _ in range(3):
        wal.sync()
    assert disk.finished == [0, 1, 2]


def test_a_failed_flush_is_an_error_for_its_caller_and_the_next_one_tries_again(tmp_path):
    disk = SlowDisk(seconds=0, fail_first=1)
    wal = WalSync(tmp_path / "db-wal", flush=disk)
    with pytest.raises(OSError):
        wal.sync()
    wal.sync()
    assert disk.finished == [1]


def test_flushing_a_real_log_and_one_sqlite_has_already_removed(tmp_path):
    log = tmp_path / "db-wal"
    log.write_bytes(b"frames")
    flush_file(log)
    flush_file(tmp_path / "gone-wal")  # checkpointed and deleted: nothing to flush


def test_the_log_is_flushed_with_fdatasync_where_the_system_has_one(tmp_path, monkeypatch):
    log = tmp_path / "db-wal"
    log.write_bytes(b"frames")
    flushed = []
    monkeypatch.setattr(os, "fdatasync", lambda fd: flushed.append(fd), raising=False)
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync where fdatasync is"))
    flush_file(log)
    assert len(flushed) == 1


def test_the_log_is_flushed_with_fsync_where_there_is_no_fdatasync(tmp_path, monkeypatch):
    log = tmp_path / "db-wal"
    log.write_bytes(b"frames")
    flushed = []
    monkeypatch.delattr(os, "fdatasync", raising=False)  # Windows and macOS
    monkeypatch.setattr(os, "fsync", lambda fd: flushed.append(fd))
    flush_file(log)
    assert len(flushed) == 1


def _counting(app):
    """Count the flushes of the app's database log (the real flush still runs)."""
    with app.app_context():
        wal = get_db().wal_sync
    assert wal is not None
    counted = []
    real = wal._flush

    def flush(path):
        counted.append(path)
        real(path)

    wal._flush = flush
    return counted


def test_a_save_is_flushed_before_it_is_answered(app, capture):
    counted = _counting(app)
    answer = capture["fay"].post(
        capture["page"] + "/ideas",
        {"text": "More benches at the bus stop", "language": "pl"},
        headers={"Accept": "application/json"},
    )
    assert answer.get_json()["saved"] is True
    assert len(counted) >= 1


def test_a_write_made_outside_a_transaction_block_is_flushed_when_its_request_ends(app):
    counted = _counting(app)
    with app.app_context():
        db = get_db()
        db.conn.execute("create table scratch (note text)")
        db.conn.execute("insert into scratch values ('written without atomic()')")
        db.conn.commit()
        assert counted == []
    assert len(counted) == 1
    with app.app_context():
        get_db().execute("select 1").fetchone()
    assert len(counted) == 1  # a connection that wrote nothing new waits for nothing


def test_no_answer_is_sent_while_the_flush_is_still_going(app, capture):
    with app.app_context():
        wal = get_db().wal_sync
    disk_done = threading.Event()
    real = wal._flush

    def slow_flush(path):
        disk_done.wait(10)
        real(path)

    wal._flush = slow_flush
    answers = []
    saver = threading.Thread(target=lambda: answers.append(capture["fay"].post(
        capture["page"] + "/ideas", {"text": "A lift that works", "language": "pl"},
        headers={"Accept": "application/json"})))
    saver.start()
    saver.join(0.5)
    assert saver.is_alive() and answers == []  # committed, but not yet on the disk
    disk_done.set()
    saver.join(10)
    assert answers[0].get_json()["saved"] is True


def test_the_log_is_copied_into_the_database_in_the_background(tmp_path):
    from engage.db import connect
    from engage.walsync import CHECKPOINT_EVERY

    db = connect(tmp_path / "busy.db")
    db.execute("create table notes (n integer)")
    for n in range(CHECKPOINT_EVERY * 2):
        with db.atomic():
            db.execute("insert into notes values (?)", [n])
    deadline = time.monotonic() + 10
    while db.wal_sync.checkpoints < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.wal_sync.checkpoints >= 1
    assert db.execute("select count(*) from notes").fetchone()[0] == CHECKPOINT_EVERY * 2
    db.close()


def test_an_idle_checkpoint_thread_ends_and_a_later_one_starts(tmp_path, monkeypatch):
    import engage.walsync
    from engage.db import connect
    from engage.walsync import CHECKPOINT_EVERY

    monkeypatch.setattr(engage.walsync, "IDLE_SECONDS", 0.05)
    db = connect(tmp_path / "quiet.db")
    db.execute("create table notes (n integer)")

    def saves():
        for n in range(CHECKPOINT_EVERY):
            with db.atomic():
                db.execute("insert into notes values (?)", [n])

    saves()
    first = db.wal_sync._checkpointer
    assert first is not None
    first.join(5)  # nothing more to do: it ends
    assert db.wal_sync._checkpointer is None
    saves()
    deadline = time.monotonic() + 5
    while db.wal_sync.checkpoints < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert db.wal_sync.checkpoints == 2
    db.close()

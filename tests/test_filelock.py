"""The server's write lock holds between processes, wakes the next writer at once, and
is let go when a process holding it dies."""

from __future__ import annotations

import multiprocessing as mp
import os
import time

from engage.filelock import WriteLock


def _hold(path: str, held, release_at: float) -> None:
    lock = WriteLock(path)
    lock.acquire()
    held.set()
    time.sleep(max(0.0, release_at - time.time()))
    lock.release()


def _hold_and_die(path: str, held) -> None:
    WriteLock(path).acquire()
    held.set()
    time.sleep(0.2)
    os._exit(1)  # killed while holding it


def test_another_process_waits_and_is_woken_as_soon_as_it_is_released(tmp_path):
    ctx = mp.get_context("spawn")
    held = ctx.Event()
    release_at = time.time() + 3.0
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "db-write.lock"), held, release_at))
    holder.start()
    assert held.wait(20)
    lock = WriteLock(tmp_path / "db-write.lock")
    lock.acquire()
    woken = time.time()
    lock.release()
    holder.join(10)
    assert woken >= release_at - 0.01  # it waited for the other process...
    assert woken - release_at < 0.5  # ...and was woken, not left polling (a loose bound)


def test_a_process_that_dies_holding_it_lets_it_go(tmp_path):
    ctx = mp.get_context("spawn")
    held = ctx.Event()
    holder = ctx.Process(target=_hold_and_die, args=(str(tmp_path / "db-write.lock"), held))
    holder.start()
    assert held.wait(20)
    holder.join(10)
    lock = WriteLock(tmp_path / "db-write.lock")
    assert lock.acquire(timeout=5)
    lock.release()


def test_threads_of_one_process_take_turns(tmp_path):
    lock = WriteLock(tmp_path / "db-write.lock")
    assert lock.acquire()
    assert not lock.acquire(timeout=0.05)  # the same process, another caller: it waits
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_where_files_cannot_be_locked_saves_go_on_with_sqlites_lock(tmp_path, monkeypatch,
                                                                     caplog):
    import engage.filelock

    def refuse(fd):
        raise OSError("locking not supported here")

    monkeypatch.setattr(engage.filelock, "_lock", refuse)
    lock = WriteLock(tmp_path / "db-write.lock")
    assert lock.acquire()
    assert not lock.acquire(timeout=0.05)  # threads still take turns
    lock.release()
    assert lock.acquire()
    lock.release()
    assert [r.message for r in caplog.records if "cannot lock" in r.message]

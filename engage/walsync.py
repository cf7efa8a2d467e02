"""Group commit: one flush of the write-ahead log makes every save before it durable.

With ``synchronous=FULL`` SQLite flushes the log inside each commit, while it holds the
database's only write lock, so saves queue behind one another's disk flushes. Instead
the connections run ``synchronous=NORMAL`` (a commit writes its log frames but does not
flush them) and a save, once committed and its write lock let go, waits here until a
flush of the log that began after its commit has finished. A flush covers every frame
written before it, so saves arriving together share one. The log is only ever appended
to until SQLite checkpoints it, and in NORMAL mode SQLite flushes the log before a
checkpoint, the database after it, and the log's header when it starts the log again;
so a committed save is either in the log file this flushes or already flushed into the
database. Nothing is acknowledged before it could survive a power cut.

The log is copied into the database (a checkpoint) by a thread of its own every
CHECKPOINT_EVERY commits. SQLite would otherwise do it inside the commit that crossed the
mark, holding the write lock while it copies megabytes and flushes them: every ~70th
save stalled all the others.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("engage")

#: Every so many commits of this process, the log is copied into the database in the
#: background (a save writes about 14 pages: SQLite's own point is 1,000 pages).
CHECKPOINT_EVERY = 64
#: SQLite's own checkpoint, run inside the commit that crosses it while the write lock
#: is held, is left only as a backstop for a log the background could not keep down.
BACKSTOP_PAGES = 8000
#: A checkpoint thread with nothing to do for this long ends, closing its connection.
IDLE_SECONDS = 10.0

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation


def flush_file(path: Path) -> None:
    """Flush a file's written data to the disk: fdatasync where there is one (as SQLite
    does), else fsync (FlushFileBuffers on Windows). Once SQLite starts the log again
    from its beginning, a save overwrites frames within the file's size, and fdatasync
    then leaves the file's times for later instead of committing the file system's
    journal on every flush (measured: a fifth more flushes a second, shorter waits).

    Opened anew each time, never kept open: SQLite may have checkpointed and removed the
    log and made a new one, and a kept descriptor would flush the old file. A file that
    is gone has nothing left to flush."""
    try:
        fd = os.open(path, os.O_RDWR | _O_BINARY)
    except FileNotFoundError:
        return
    try:
        getattr(os, "fdatasync", os.fsync)(fd)
    finally:
        os.close(fd)


def can_flush(path: Path) -> bool:
    """Whether this process may open ``path`` to flush it (a log that is not there yet
    will be made by SQLite, with the same rights as the database)."""
    try:
        os.close(os.open(path, os.O_RDWR | _O_BINARY))
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


class WalSync:
    """Flushes of one database's log, shared by the threads of this process.

    Each caller takes a ticket after its commit; a flush that starts after ticket *t* was
    taken covers *t*. One thread flushes at a time; callers that arrive meanwhile wait
    for the next flush, which covers all of them at once.
    """

    def __init__(self, wal_path: str | Path, flush=flush_file):
        self.path = Path(wal_path)
        self._flush = flush
        self._cond = threading.Condition()
        self._issued = 0  # tickets taken
        self._covered = 0  # every ticket up to this one has been flushed
        self._flushing = False
        self.flushes = 0
        self._commits = 0
        self._checkpoint_wanted = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.checkpoints = 0

    def committed(self) -> None:
        """After a commit, outside the write lock: every so many commits, ask for a
        checkpoint. The save does not wait for it."""
        with self._cond:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY:
                return
            if self._checkpointer is None:
                self._checkpointer = threading.Thread(
                    target=self._checkpoints, name="engage-checkpoint", daemon=True)
                self._checkpointer.start()
        self._checkpoint_wanted.set()

    def _checkpoints(self) -> None:
        """Checkpoint whenever asked; after IDLE_SECONDS with nothing asked, close the
        connection and end (the next request starts a thread again)."""
        database = str(self.path)[: -len("-wal")]
        conn = sqlite3.connect(database, timeout=30, check_same_thread=False)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")  # flush the log before, file after
            while True:
                if not self._checkpoint_wanted.wait(IDLE_SECONDS):
                    with self._cond:
                        if not self._checkpoint_wanted.is_set():
                            self._checkpointer = None
                            return
                    continue
                self._checkpoint_wanted.clear()
                try:
                    # PASSIVE: copies what no reader still needs, never blocks a save.
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as error:  # SQLite's backstop still runs
                    log.warning("background checkpoint of %s failed: %s", database, error)
        finally:
            conn.close()

    def sync(self) -> None:
        """Return once everything this thread committed is on the disk."""
        with self._cond:
            self._issued += 1
            ticket = self._issued
            while self._covered < ticket:
                if self._flushing:
                    self._cond.wait()
                    continue
                self._flushing = True
                target = self._issued
                self._cond.release()
                try:
                    self._flush(self.path)
                finally:  # a failed flush leaves the next waiter to try again
                    self._cond.acquire()
                    self._flushing = False
                    self._cond.notify_all()
                self._covered = max(self._covered, target)
                self.flushes += 1

"""Pooled SQLite connections in WAL mode, one per request, migrated on first use."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import sqlite_utils
from flask import Flask, current_app, g
from sqlite_utils.utils import dedupe_keys

from .filelock import WriteLock
from .walsync import BACKSTOP_PAGES, WalSync, can_flush

_migrate_lock = threading.Lock()
_shared: dict[tuple[str, str], WriteLock | WalSync] = {}
_shared_guard = threading.Lock()
BUSY_TIMEOUT_SECONDS = 30
POOL_SIZE = 16  # connections kept open per app; more than the server's threads


def new_id() -> str:
    """A UUID made on this device, so records from many laptops never collide."""
    return str(uuid.uuid4())


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with microseconds, sortable as text."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Database(sqlite_utils.Database):
    """A sqlite-utils database whose transactions take the write lock when they begin.

    A plain ``BEGIN`` reads first and asks for the write lock at the first write; if
    another request committed in between, SQLite cannot upgrade the stale read and
    fails at once with "database is locked" (the busy timeout does not apply).
    ``BEGIN IMMEDIATE`` queues for the lock instead, so concurrent saves wait their
    turn and a read-then-write (such as the current vote before its revision) is never
    based on an out-of-date row. Nested blocks still use savepoints.

    Writers of this server (its threads and its worker processes) also queue on a lock
    of their own first: SQLite's busy handler polls with sleeps of up to 100 ms, which
    under load left the write lock idle while saves waited; a lock waited for in the
    operating system wakes the next writer as soon as one commits.
    """

    write_lock: WriteLock | None = None
    wal_sync: WalSync | None = None
    _durable_changes = 0

    def query(self, sql: str, params=None):
        """Rows as dicts. A plain SELECT runs as it is: sqlite-utils wraps every query
        in a savepoint (three statements for one) to undo a query that writes, and a
        SELECT cannot write."""
        if self._tracer or sql.lstrip()[:7].lower() != "select ":
            return super().query(sql, params)
        cursor = self.conn.execute(sql, params if params is not None else ())
        keys = _row_keys(tuple(d[0] for d in cursor.description))
        return map(dict, map(functools.partial(zip, keys), cursor))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Database]:
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        lock = self.write_lock
        if lock is not None and not lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise sqlite3.OperationalError("database is locked")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.rollback()
                raise
            try:
                self.conn.execute("COMMIT")
            except BaseException:
                self.rollback()
                raise
        finally:
            if lock is not None:
                lock.release()
        # Outside the lock, so the next writer goes on while this one waits for the disk.
        self.make_durable(force=True)
        if self.wal_sync is not None:
            self.wal_sync.committed()

    def make_durable(self, force: bool = False) -> None:
        """Wait until what this connection has committed is on the disk (see walsync).
        Without ``force``, only if it has changed rows since it last waited."""
        if self.wal_sync is None:
            return
        changes = self.conn.total_changes
        if force or changes != self._durable_changes:
            self.wal_sync.sync()
            self._durable_changes = changes

    def close(self) -> None:
        self.make_durable()
        super().close()


@functools.lru_cache(maxsize=256)
def _row_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """A query's column names as sqlite-utils names them (a repeated name gets a
    suffix), worked out once per distinct set of columns."""
    return tuple(dedupe_keys(names))


def insert_row(db: sqlite_utils.Database, table: str, row: dict, *, or_ignore: bool = False):
    """One INSERT of ``row``'s columns. sqlite-utils' ``insert`` reads the table's schema
    first, which on a save's or a scanned page's path cost more than the insert itself.
    ``table`` and the column names are the code's own, never input."""
    verb = "insert or ignore" if or_ignore else "insert"
    return db.execute(
        f"{verb} into {table} ({', '.join(row)}) values ({', '.join('?' * len(row))})",  # noqa: S608
        list(row.values()),
    )


def _per_file(kind: str, path: str, make):
    """One of ``make(path)`` per database file in this process, shared by every
    connection to it: its write lock (through a lock file beside it, also shared with
    the server's other processes) and the flushes of its log."""
    key = (kind, path)
    with _shared_guard:
        if key not in _shared:
            _shared[key] = make(path)
        return _shared[key]


def connect(path: str | Path) -> Database:
    """Open the database with the pragmas that make an acknowledged save durable.

    WAL lets readers carry on during writes. A transaction's log is flushed to the disk
    before it is acknowledged: by this process's group commit (walsync) where it can
    open the log itself, else by SQLite inside each commit (synchronous=FULL). Either
    way a save confirmed on screen survives a power cut.
    """
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
    db = Database(conn, execute_plugins=False)
    db.execute("PRAGMA journal_mode=WAL")
    synchronous = "FULL"
    if str(path) != ":memory:":
        key = str(Path(path).resolve())
        db.write_lock = _per_file("lock", key, lambda p: WriteLock(p + "-write.lock"))
        if can_flush(Path(key + "-wal")):
            db.wal_sync = _per_file("wal", key, lambda p: WalSync(p + "-wal"))
            synchronous = "NORMAL"
            db.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA foreign_keys=ON")
    # Statement journals and sorts in memory: on disk they were a file made and removed
    # in the temporary folder every few saves (and on Windows, in the user's %TEMP%).
    db.execute("PRAGMA temp_store=MEMORY")
    db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
    return db


def migrate(db: sqlite_utils.Database) -> None:
    """Apply any pending migrations (a new database gets the whole schema)."""
    from .migrations import migrations

    migrations.apply(db)


def get_db() -> sqlite_utils.Database:
    """The request's database, migrated the first time this app opens it.

    Connections are kept in a small pool on the app and reused by later requests:
    opening one costs its pragmas and a fresh read of the schema, and closing the last
    one checkpoints the log, which under load was a third of a save's time.
    """
    db = g.get("db")
    if db is None:
        app = current_app
        path = app.config["DATABASE"]
        pool = _pool(app, path)
        try:
            db = pool.pop()
        except IndexError:
            db = connect(path)
        state = app.extensions.setdefault("engage.db", {"migrated": False})
        if not state["migrated"]:
            with _migrate_lock:
                if not state["migrated"]:
                    migrate(db)
                    db.make_durable(force=True)
                    state["migrated"] = True
        g.db = db
    return db


def _pool(app: Flask, path: str) -> list[Database]:
    pools = app.extensions.setdefault("engage.db_pools", {})
    return pools.setdefault(str(path), [])


def close_db(_exc: BaseException | None = None) -> None:
    """Give the request's connection back to the pool, with nothing left uncommitted."""
    db = g.pop("db", None)
    if db is None:
        return
    try:
        if db.conn.in_transaction:
            db.conn.rollback()
        # A write made outside atomic() is on the disk before its answer is sent.
        db.make_durable()
        pool = _pool(current_app, current_app.config["DATABASE"])
        if len(pool) < POOL_SIZE:
            pool.append(db)
            return
    except sqlite3.Error:
        pass
    db.close()


def device_id() -> str:
    """This instance's device UUID, stamped on every record it creates."""
    cached = current_app.extensions.get("engage.device_id")
    if cached is None:
        row = get_db().execute("select id from device limit 1").fetchone()
        cached = current_app.extensions["engage.device_id"] = row[0]
    return cached


def init_app(app: Flask) -> None:
    app.teardown_appcontext(close_db)

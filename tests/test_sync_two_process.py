"""A real laptop and a real hub on 127.0.0.1: the hub is killed in the middle of a push.

The hub is ``python run.py --hub`` in a subprocess; the laptop is its own instance,
pushing with ``engage sync push`` in another. Once the hub has applied a few batches it
is killed outright (SIGKILL) and started again on the same port. The push, retrying
with back-off, must carry on by itself and finish; then the hub's rows must match the
laptop's exactly, each once, with nothing left waiting and no conflicts.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import server_support
from server_support import engage_cli as _cli
from server_support import free_port
from sync_support import PASSWORD, capture, make_app
from test_durability import Server

from engage.sync.tables import RECEIPT_COLUMNS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BATCHES_BEFORE_KILL = 4


class Hub(Server):
    """``run.py --hub`` on a fixed port, so the laptop finds it again after a restart."""

    def __init__(self, instance: Path, log: Path, port: int):
        super().__init__(instance, log)
        self.port = port

    def start(self) -> None:
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = server_support.start(self.instance, self.port, self.log, "--hub")


def _count(database: Path, sql: str) -> int:
    """Read the hub's database from outside, as a coordinator's script would."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True,
                                                timeout=5)) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _rows(database: Path, table: str, where: str = "1") -> list[tuple]:
    """The rows as the laptop sent them (without the hub's receipt on each row)."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        names = [r[1] for r in db.execute(f"pragma table_info({table})")
                 if r[1] not in RECEIPT_COLUMNS]
        return sorted(db.execute(f"select {', '.join(names)} from {table} where {where}")
                      .fetchall())


def test_a_hub_killed_mid_push_is_restarted_and_the_push_completes(tmp_path):
    hub_dir, lap_dir = tmp_path / "hub", tmp_path / "laptop"
    _cli(hub_dir, "users", "add", "cora", "--role", "coordinator", stdin=PASSWORD + "\n")
    _cli(hub_dir, "demo", "load")
    code = json.loads(_cli(hub_dir, "sync", "code", "--name", "Leeds laptop 3", "--json"))["code"]
    hub = Hub(hub_dir, tmp_path / "hub.log", free_port())
    hub.start()
    push = None
    try:
        _cli(lap_dir, "users", "add", "fay", "--role", "admin", stdin=PASSWORD + "\n")
        _cli(lap_dir, "sync", "enrol", "--hub", hub.base, "--code", code)
        _cli(lap_dir, "sync", "pull")
        laptop = make_app(lap_dir)
        for n in range(3):
            capture(laptop, participants=10, seed=n)
        with laptop.app_context():
            from engage.db import get_db

            waiting = get_db().execute("select max(seq) from changes").fetchone()[0]
        assert waiting > 500

        push = subprocess.Popen(
            [sys.executable, "-m", "engage.cli", "--instance", str(lap_dir), "sync", "push",
             "--batch-size", "10", "--attempts", "12", "--json"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        hub_db = hub_dir / "engage.db"
        deadline = time.monotonic() + 60
        while _count(hub_db, "select count(*) from batches") < BATCHES_BEFORE_KILL:
            assert time.monotonic() < deadline, "the push did not start"
            assert push.poll() is None, push.communicate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                push.wait(timeout=0.02)
        hub.kill()  # SIGKILL, in the middle of the push
        applied_before_restart = _count(hub_db, "select count(*) from batches")
        assert applied_before_restart < waiting // 10, "the push finished before the kill"
        hub.start()
        out, err = push.communicate(timeout=180)
        assert push.returncode == 0, out + err
        result = json.loads(out)
        assert result["held_seq"] == waiting
        assert result["waits"], "the push never had to wait for the hub"
    finally:
        if push and push.poll() is None:
            push.kill()
            push.wait(timeout=30)
        hub.kill()

    lap_db = lap_dir / "engage.db"
    device = _rows(lap_db, "device")[0][0]
    mine = f"device_id = '{device}'"  # the hub has workshops of its own too
    for table in ("workshops", "participants", "contributions", "exposures"):
        assert _rows(hub_db, table, mine) == _rows(lap_db, table), table
    assert _rows(lap_db, "workshop_facilitators") == _rows(
        hub_db, "workshop_facilitators",
        f"workshop_id in (select id from workshops where {mine})")
    with contextlib.closing(sqlite3.connect(hub_db)) as db:
        for table in ("participants", "contributions"):  # each with the hub's receipt
            assert db.execute(f"select count(*) from {table} where {mine} and sync_via ="
                              " 'network' and sync_laptop = 'Leeds laptop 3'").fetchone()[0] == len(
                _rows(lap_db, table)), table
    assert _count(hub_db, "select count(*) from conflicts") == 0
    assert _count(hub_db, "select held_seq from devices") == waiting
    assert _count(lap_db, "select acked_seq from sync_state") == waiting
    status = json.loads(_cli(lap_dir, "sync", "status", "--json"))
    assert status["waiting_total"] == 0 and status["last_error"] is None

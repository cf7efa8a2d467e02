"""``python run.py`` serves from several processes: workers share the port, a worker
that dies is replaced, and when the server is killed no worker is left behind."""

from __future__ import annotations

import gc
import http.client
import os
import signal
import socket
import time
import urllib.request
import weakref
from pathlib import Path

import pytest
import server_support
from server_support import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)"),
]


def workers(pid: int) -> list[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        command = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in command:
            found.append(int(child))
    return found


def answers(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
        return response.status == 200


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def port_is_free(port: int) -> bool:
    """Whether a new server could listen there (as run.py binds: past TIME_WAIT)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def serving(pid: int) -> bool:
    """Whether a worker has started waitress's threads (beside its main thread and the
    one watching the parent)."""
    from engage.serve import DEFAULT_THREADS

    return len(list(Path(f"/proc/{pid}/task").iterdir())) >= 2 + DEFAULT_THREADS


def open_connections(pid: int) -> int:
    """Sockets a worker holds, besides the listening one they all share."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir() if os.readlink(fd).startswith("socket:")) - 1


def test_kept_open_connections_are_shared_out_between_the_workers(tmp_path):
    port = free_port()
    server = server_support.start(tmp_path / "instance", port, tmp_path / "server.log",
                                  "--processes", "2")
    kept = []
    try:
        wait_for(lambda: len(workers(server.pid)) == 2)
        # Until a worker runs waitress (its threads started), the other takes all.
        wait_for(lambda: all(serving(pid) for pid in workers(server.pid)))
        for _ in range(20):  # one after another, as browsers and the benchmark open them
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            connection.request("GET", "/healthz")
            assert connection.getresponse().read()
            kept.append(connection)
        held = sorted(open_connections(pid) for pid in workers(server.pid))
        assert sum(held) == 20
        assert held[0] >= 8, held  # not all on whichever worker woke first
    finally:
        for connection in kept:
            connection.close()
        server_support.stop(server, hard=True)


def test_workers_share_the_port_are_replaced_and_end_with_the_server(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = server_support.start(tmp_path / "instance", port, tmp_path / "server.log",
                                  "--processes", "2")
    try:
        wait_for(lambda: len(workers(server.pid)) == 2)
        first, second = workers(server.pid)
        assert all(answers(base) for _ in range(20))

        os.kill(first, signal.SIGKILL)  # a worker dies: another takes its place
        wait_for(lambda: first not in workers(server.pid) and len(workers(server.pid)) == 2)
        assert all(answers(base) for _ in range(20))
        assert "starting another" in (tmp_path / "server.log").read_text()

        left = workers(server.pid)
        server.kill()  # the server itself, without mercy: its workers follow it
        server.wait(timeout=10)
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in left), 10)
        wait_for(lambda: port_is_free(port), 10)
        assert second in left
    finally:
        server_support.stop(server, hard=True)


def test_one_process_serves_without_workers(tmp_path):
    port = free_port()
    server = server_support.start(tmp_path / "instance", port, tmp_path / "server.log",
                                  "--processes", "1")
    try:
        assert answers(f"http://127.0.0.1:{port}")
        assert workers(server.pid) == []
    finally:
        server_support.stop(server, hard=True)


def test_waitress_busy_warnings_are_kept_to_one_a_minute(monkeypatch):
    import logging

    from engage import serve

    clock = [1000.0]
    monkeypatch.setattr(serve.time, "monotonic", lambda: clock[0])
    once = serve.OncePerMinute()
    record = logging.LogRecord("waitress.queue", logging.WARNING, "", 0,
                               "Task queue depth is %d", (3,), None)
    shown = []
    for _ in range(50):  # a burst of saves, each waiting for a thread
        shown.append(once.filter(record))
        clock[0] += 0.01
    assert shown.count(True) == 1
    clock[0] += 60
    assert once.filter(record)  # a minute on, it says so again


def test_settling_memory_leaves_the_app_alone_and_still_collects_new_garbage():
    from engage.serve import settle_memory

    class Node:
        pass

    try:
        settle_memory()
        assert gc.get_freeze_count() > 0  # what was built before is left out of collection
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle only the collector can free
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(("cores", "expected"), [(None, 2), (1, 2), (2, 3), (3, 4), (16, 4)])
def test_one_process_more_than_the_cores_so_none_idles_while_a_save_waits(
        monkeypatch, cores, expected):
    from engage import serve

    monkeypatch.setattr(serve.os, "cpu_count", lambda: cores)
    assert serve.default_processes() == expected


def test_a_server_process_hands_the_gil_on_within_half_a_millisecond(tmp_path, monkeypatch):
    """A save back from SQLite waits for the GIL while it holds the write lock every
    server process queues on: the server shortens that wait from Python's 5 ms."""
    import sys

    from waitress import server as waitress_server

    from engage import serve

    class Serving(Exception):
        pass

    seen = {}

    def create_server(app, **options):
        seen["interval"] = sys.getswitchinterval()
        raise Serving  # as far as the test goes: waitress would serve from here

    monkeypatch.setattr(waitress_server, "create_server", create_server)
    monkeypatch.setenv("ENGAGE_INSTANCE", str(tmp_path / "instance"))
    before = sys.getswitchinterval()
    try:
        with pytest.raises(Serving):
            serve._serve(None, str(tmp_path / "instance"), False, serve.DEFAULT_THREADS)
    finally:
        sys.setswitchinterval(before)
        gc.unfreeze()
    assert before == pytest.approx(0.005)  # Python's own, in the test process
    assert seen["interval"] == pytest.approx(serve.SWITCH_INTERVAL) == pytest.approx(0.0005)

"""One thread serves every request; the spare helps only behind a slow one."""

from __future__ import annotations

import http.client
import threading
import time

import pytest
from waitress.server import create_server

from engage.dispatch import SpareThreadDispatcher


class Task:
    """A stand-in for waitress's task: records which thread served it, and when."""

    def __init__(self, hold: threading.Event | None = None, seconds: float = 0.0):
        self.hold, self.seconds = hold, seconds
        self.thread: str | None = None
        self.done = threading.Event()
        self.cancelled = False

    def service(self) -> None:
        self.thread = threading.current_thread().name
        if self.hold is not None:
            self.hold.wait(10)
        time.sleep(self.seconds)
        self.done.set()

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def dispatcher():
    made = []

    def make(patience: float, threads: int = 2) -> SpareThreadDispatcher:
        d = SpareThreadDispatcher(patience=patience)
        d.set_thread_count(threads)
        made.append(d)
        return d

    yield make
    for d in made:
        d.shutdown(timeout=2)


def test_quick_requests_are_all_served_by_the_first_thread(dispatcher):
    d = dispatcher(patience=1.0)
    tasks = [Task(seconds=0.002) for _ in range(100)]
    for task in tasks:
        d.add_task(task)
    for task in tasks:
        assert task.done.wait(10)
    assert {task.thread for task in tasks} == {"waitress-0"}


def test_a_request_behind_a_slow_one_is_served_by_the_spare_after_the_patience(dispatcher):
    d = dispatcher(patience=0.1)
    hold = threading.Event()
    slow = Task(hold=hold)
    d.add_task(slow)
    time.sleep(0.02)  # the first thread has taken the slow one
    queued_at = time.monotonic()
    quick = [Task() for _ in range(5)]
    for task in quick:
        d.add_task(task)
    try:
        for task in quick:
            assert task.done.wait(5), "a quick request waited for the slow one to end"
        waited = time.monotonic() - queued_at
        assert not slow.done.is_set()
        assert slow.thread == "waitress-0"
        assert {task.thread for task in quick} == {"waitress-1"}
        assert 0.05 <= waited < 2.0  # about the patience, not at once and not forever
    finally:
        hold.set()
    assert slow.done.wait(5)


def test_a_spare_with_nothing_slow_ahead_stays_idle_while_the_first_thread_keeps_up(dispatcher):
    d = dispatcher(patience=1.0)
    waves = []
    for _ in range(5):  # requests arriving while the first thread is busy, then a pause
        wave = [Task(seconds=0.01) for _ in range(3)]
        for task in wave:
            d.add_task(task)
        waves.extend(wave)
        time.sleep(0.1)
    for task in waves:
        assert task.done.wait(10)
    assert {task.thread for task in waves} == {"waitress-0"}


def test_a_second_spare_helps_only_behind_two_slow_requests(dispatcher):
    d = dispatcher(patience=0.05, threads=3)
    hold = threading.Event()
    slow = [Task(hold=hold), Task(hold=hold)]
    try:
        for task in slow:
            d.add_task(task)
        time.sleep(0.3)  # the first took one; the spare took the other after the patience
        assert sorted(task.thread for task in slow) == ["waitress-0", "waitress-1"]
        quick = Task()
        d.add_task(quick)
        assert quick.done.wait(5)
        assert quick.thread == "waitress-2"
    finally:
        hold.set()


def test_shutdown_stops_every_thread_and_cancels_what_waits(dispatcher):
    d = dispatcher(patience=10.0)
    hold = threading.Event()
    d.add_task(Task(hold=hold))
    time.sleep(0.02)
    waiting = Task()
    d.add_task(waiting)
    hold.set()
    d.shutdown(timeout=5)
    assert d.threads == set()
    assert waiting.done.is_set() or waiting.cancelled


def test_a_real_server_answers_a_quick_request_while_a_slow_one_runs():
    """Through waitress itself: the dispatcher is what ``create_server`` runs."""
    hold = threading.Event()

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/slow":
            hold.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    d = SpareThreadDispatcher(patience=0.05)
    d.set_thread_count(2)
    server = create_server(app, host="127.0.0.1", port=0, _dispatcher=d)
    port = server.socket.getsockname()[1]
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    slow_answer = {}

    def ask_slow() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/slow")
        slow_answer["status"] = conn.getresponse().status

    slow = threading.Thread(target=ask_slow)
    slow.start()
    try:
        time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/quick")
        assert conn.getresponse().status == 200
        assert "status" not in slow_answer
    finally:
        hold.set()
        slow.join(10)
        server.close()
        d.shutdown(timeout=2)
    assert slow_answer["status"] == 200

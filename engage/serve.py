"""Serve engage with waitress from several processes sharing one listening socket.

One Python process runs Flask on one core at a time (the GIL), so a laptop with two or
more cores serves more facilitators with a process per core, and one more to work while
the others wait for the disk (default_processes). The parent binds the socket, migrates
the database, and starts the workers, which accept on the same socket; the workers exit
when the parent does, however it ends, so a killed server leaves nothing serving behind
it. SQLite's write lock keeps the workers' saves in order.

Browsers keep their connections open, and whichever worker the operating system wakes
first would accept all of them (measured: 20 of 20), leaving the others idle. So the
workers share a count of the connections each has open, and a worker with two or more
above the fewest stops listening for new ones until the others catch up.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import socket
import sys
import threading
import time
from multiprocessing.connection import wait

log = logging.getLogger("engage")

#: How long to keep trying a port that a server that just stopped may still hold.
BIND_RETRY_SECONDS = 10.0
#: Workers started again within this many seconds of each other count as a crash loop.
RESTART_WINDOW_SECONDS = 10.0
#: A worker's count while it is being started: it takes no share until it runs.
NOT_RUNNING = 2**30
#: How long a worker waits for events before it looks at the counts again (seconds).
LOOK_AGAIN_SECONDS = 0.05


#: waitress threads per worker process: one that takes every request, and a spare that
#: helps only behind a request that has run for a while (engage/dispatch.py), so a form
#: PDF, a scan upload or an export never holds up the saves for long. More threads only
#: queue waiting saves and pages in more places (measured before turns, two processes and
#: 20 clients: 2 threads 433 saves/s, 4 threads 323, 8 threads 311).
DEFAULT_THREADS = 2


#: Server processes at most, whatever the cores: each holds its own copy of the app.
MAX_PROCESSES = 4


def default_processes() -> int:
    """A worker per core and one more, up to MAX_PROCESSES: a worker serves one save at a
    time (engage/turns.py) and waits for the disk and the write lock, and with a worker
    per core the cores idled through those waits (figures: README, Benchmarks)."""
    return max(1, min((os.cpu_count() or 1) + 1, MAX_PROCESSES))


#: How long a thread may keep Python's lock (the GIL) while another waits for it (seconds;
#: Python's default is 5 ms). A save that comes back from SQLite or the disk needs the GIL
#: again, and while waitress's own thread held it, the save waited, holding the write
#: lock every server process queues on. Measured in turn with the default (figures:
#: README, Benchmarks): more saves in six pairs of eight, and a shorter tail of slow ones.
SWITCH_INTERVAL = 0.0005


def quicken_thread_switches() -> None:
    """Hand the GIL on after SWITCH_INTERVAL in this server process (see above)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def bind(host: str, port: int, retry_for: float = BIND_RETRY_SECONDS) -> socket.socket:
    """The listening socket, retried for a while when the port is still held."""
    deadline = time.monotonic() + retry_for
    while True:
        try:
            return socket.create_server((host, port), backlog=1024)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def _exit_with_parent() -> None:
    """End this worker as soon as the process that started it has gone."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="engage-parent-watch", daemon=True).start()


def take_fair_share(server, counts, index: int) -> None:
    """Let this worker's waitress server accept connections only while it has at most
    one more open than the worker with fewest (``counts``: one shared slot per worker).

    waitress asks its listening socket's ``readable()`` before every wait for events;
    answering no leaves new connections to the others. A worker that stopped listening
    looks again every LOOK_AGAIN_SECONDS: otherwise, asleep for waitress's default
    second, it could miss that the others have since stopped too (measured: one new
    connection in twenty waited a second). A connection is never refused: it waits in
    the socket's queue.
    """
    # waitress's settings take whole seconds; its event loop takes any timeout.
    server.adj.asyncore_loop_timeout = LOOK_AGAIN_SECONDS
    listening = server.readable

    def readable() -> bool:
        mine = len(server._map)  # its channels, plus the listener and its wake-up pipe
        counts[index] = mine
        return listening() and mine <= min(counts) + 1

    server.readable = readable


def _worker(sock: socket.socket, instance: str, hub: bool, threads: int,
            counts=None, index: int = 0) -> None:
    _exit_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    _serve(sock, instance, hub, threads, counts, index)


class OncePerMinute(logging.Filter):
    """Waitress warns "Task queue depth is N" for every request that waits for a free
    thread: under a burst of saves, a line per request, each costing the time of a small
    save. One a minute still says the server was busy."""

    def __init__(self, seconds: float = 60.0):
        super().__init__()
        self.seconds = seconds
        self._last = -seconds

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


def settle_memory() -> None:
    """Leave what the server has built so far (the app, its libraries, their data) out of
    Python's garbage collection from now on.

    The collector's occasional full pass walks every object the process holds, and an
    engage process holds the imports of Flask, Babel's locale data and the rest of what
    the app loads, none of which is ever garbage (ReportLab, loaded at the first print,
    is left to the collector). Measured with the app driven in-process, a save
    took 1.33 to 1.47 ms of CPU against 1.66 to 1.73 without this; through the server the
    difference was within the run-to-run noise of this machine. What requests make is
    still collected as before.
    """
    gc.collect()
    gc.freeze()


def _serve(sock: socket.socket, instance: str, hub: bool, threads: int,
           counts=None, index: int = 0) -> None:
    os.environ["ENGAGE_INSTANCE"] = instance
    quicken_thread_switches()
    logging.getLogger("waitress.queue").addFilter(OncePerMinute())
    from waitress.server import create_server

    from engage import create_app
    from engage.dispatch import SpareThreadDispatcher

    app = create_app()
    app.config["HUB"] = hub
    # Settled before waitress starts its threads: a worker whose threads run but whose
    # loop has not started yet counts as not running, and the others take every new
    # connection meanwhile (a collection under load took long enough for 14 of 20).
    settle_memory()
    dispatcher = SpareThreadDispatcher()
    dispatcher.set_thread_count(threads)
    server = create_server(app, sockets=[sock], threads=threads, ident="engage",
                           _dispatcher=dispatcher)
    if counts is not None:
        take_fair_share(server, counts, index)
    server.run()


def run(sock: socket.socket, *, instance: str, hub: bool, threads: int, processes: int) -> None:
    """Serve on ``sock`` until interrupted: in this process, or from ``processes``
    workers, each started again if it dies."""
    if processes <= 1:
        _serve(sock, instance, hub, threads)
        return
    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", [NOT_RUNNING] * processes, lock=False)

    def start(index: int) -> mp.Process:
        # Not a daemon, so a worker may start processes of its own (a pool reading scans);
        # it ends with the parent through _exit_with_parent, or is stopped below.
        counts[index] = NOT_RUNNING
        worker = ctx.Process(target=_worker, name="engage-worker",
                             args=(sock, instance, hub, threads, counts, index))
        worker.start()
        return worker

    workers = [start(i) for i in range(processes)]
    restarts: list[float] = []
    try:
        while True:
            wait([w.sentinel for w in workers])
            for i, worker in enumerate(workers):
                if worker.exitcode is None:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW_SECONDS]
                if len(restarts) >= processes * 3:
                    raise RuntimeError("engage workers keep stopping; see the log above")
                log.warning("engage worker %s stopped (exit code %s); starting another",
                            worker.pid, worker.exitcode)
                restarts.append(now)
                workers[i] = start(i)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        for worker in workers:
            worker.join(timeout=10)

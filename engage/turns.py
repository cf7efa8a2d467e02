"""Quick saves take turns within each server process.

A save holds the database's write lock (shared by every server process) for a few SQL
statements, and each statement lets go of Python's lock (the GIL) while SQLite works.
With two saves running in one process, the one holding the write lock then waited for
the other to hand the GIL back, up to Python's switch interval (then 5 ms; the server
now sets 0.5 ms, engage/serve.py) each time, while the other processes' saves queued
behind the write lock. Measured with two processes and 20 clients: one thread a process
served 10 to 15% more saves, at less CPU a save, than two.

So the quick capture saves of a process run one at a time, from the first thing the
request does to its answer. The process's other server threads stay free for everything
else: a form PDF, an export or a page never waits for the saves, nor they for it.
"""

from __future__ import annotations

import threading

from flask import Flask, current_app, g, request

_turn = threading.Lock()  # one per process: the GIL it works around is per process
#: A save that waited this long for its turn runs anyway (as the database's busy timeout).
WAIT_SECONDS = 30


def one_at_a_time(view):
    """Mark a view as a quick save that takes its turn (put it under ``@bp.route``)."""
    view.one_at_a_time = True
    return view


def _take_turn() -> None:
    view = current_app.view_functions.get(request.endpoint)
    # A save that waited this long runs anyway: a slow turn must never become an error.
    if getattr(view, "one_at_a_time", False) and _turn.acquire(timeout=WAIT_SECONDS):
        g.engage_turn = True


def _give_turn(_exc: BaseException | None = None) -> None:
    # Held through the wait for the disk too: handing the turn on before it measured no
    # better (the waiting save's answer then ran beside the next save).
    if g.pop("engage_turn", False):
        _turn.release()


def init_app(app: Flask) -> None:
    """Register before anything else that runs before a request (the CSRF check, the
    user), so the whole save takes its turn."""
    app.before_request(_take_turn)
    app.teardown_request(_give_turn)

"""Hand a server process's requests to one thread, and to a spare only behind a slow one.

A second thread serving quick saves beside the first costs more than it gives: the two
fight over Python's lock (the GIL) and over the CPU, and every save gets slower. Measured
with two processes and 20 clients, 60 s each, back to back: one thread a process served
528.6 saves/s (p95 51.6 ms, 2.77 ms of CPU a save), two threads 419.9 (71.6 ms, 3.41 ms).
But with one thread, a request that takes seconds (a form PDF, an export, a scan upload,
a sync push) would hold up every save behind it.

So the first thread takes every request at once, and a spare takes a waiting request only
when every thread ahead of it has been on its current request for ``patience`` seconds:
under quick saves the process serves like one thread, behind a PDF like two. A waiting
request is held up by a slow one for ``patience`` at most.

waitress takes its dispatcher through ``create_server(_dispatcher=...)``, a parameter it
names a test shim; this class keeps its parent's interface (``set_thread_count``,
``add_task``, ``shutdown``, which stops threads through ``set_thread_count``), and
``tests/test_dispatch.py`` pins the behaviour against the installed waitress.
"""

from __future__ import annotations

import threading
import time

from waitress.task import ThreadedTaskDispatcher

#: How long every thread ahead must have been on one request before a spare helps.
PATIENCE_SECONDS = 0.2


class SpareThreadDispatcher(ThreadedTaskDispatcher):
    """waitress's dispatcher, with thread 0 taking every request and threads 1, 2, ...
    taking one only behind requests that have run for ``patience`` seconds."""

    def __init__(self, patience: float = PATIENCE_SECONDS):
        super().__init__()
        self.patience = patience
        #: thread number -> when it took the request it is on (absent: idle)
        self.busy_since: dict[int, float] = {}
        self.spare_cv = threading.Condition(self.lock)
        self._spares_asleep = 0  # spares waiting with no timeout: to be woken by add_task

    def _spare_wait(self, thread_no: int) -> float | None:
        """0 if this spare should take the next request now, else how long to wait
        before looking again (None: until told). Called with the lock held."""
        if not self.queue:
            return None
        since = []
        for ahead in self.threads:
            if ahead < thread_no:
                started = self.busy_since.get(ahead)
                if started is None:
                    return None  # a thread ahead is free and will take it
                since.append(started)
        if not since:
            return 0.0  # nothing ahead (thread 0 stopped): this one is the first
        left = max(since) + self.patience - time.monotonic()
        return max(left, 0.0)

    def handler_thread(self, thread_no: int) -> None:
        while True:
            with self.lock:
                self.busy_since.pop(thread_no, None)
                while True:
                    if self.stop_count > 0:
                        self.active_count -= 1
                        self.stop_count -= 1
                        self.threads.discard(thread_no)
                        self.thread_exit_cv.notify()
                        self.spare_cv.notify_all()  # the threads behind look again
                        return
                    if thread_no == min(self.threads, default=thread_no):
                        if self.queue:
                            break
                        self.active_count -= 1
                        self.queue_cv.wait()
                        self.active_count += 1
                        continue
                    wait = self._spare_wait(thread_no)
                    if wait == 0.0:
                        break
                    self.active_count -= 1
                    if wait is None:
                        self._spares_asleep += 1
                        self.spare_cv.wait()
                        self._spares_asleep -= 1
                    else:
                        self.spare_cv.wait(wait)
                    self.active_count += 1
                task = self.queue.popleft()
                self.busy_since[thread_no] = time.monotonic()
                if self.queue and self._spares_asleep:
                    self.spare_cv.notify_all()  # more waits: the spares start their clocks
            try:
                task.service()
            except BaseException:
                self.logger.exception("Exception when servicing %r", task)

    def set_thread_count(self, count: int) -> None:
        super().set_thread_count(count)
        with self.lock:
            self.spare_cv.notify_all()

    def add_task(self, task) -> None:
        super().add_task(task)
        # A sleeping spare starts its clock only when the first thread is busy; while it
        # keeps up, the spares are not woken for each request.
        with self.lock:
            if self._spares_asleep and self.busy_since:
                self.spare_cv.notify_all()

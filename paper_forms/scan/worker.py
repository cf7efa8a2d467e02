"""How a reader worker process starts: its numerical libraries one thread each.

A worker is one core's worth of work, but numpy's OpenBLAS starts a thread per core of
its own as it loads, which spun after each 3 x 3 fit (0.7 ms of CPU a page beside the
reader). Those libraries read their thread count from the environment only as they
load, so it is set in the new worker before numpy is imported there: while the worker
unpickles its initializer (this module imports nothing heavy, and paper_forms.scan
imports its modules only when asked), before the lookup that brings in the reader.
The caller's own environment is never changed (the web app runs threads), and a
variable the caller set is left as it is.
"""

from __future__ import annotations

import os

#: Each library's own thread count: OpenBLAS's, MKL's, and OpenMP's (others read it).
ONE_THREAD = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


class Initializer:
    """ProcessPoolExecutor's initializer for reader workers: called with the layout
    lookup, it sets the worker up; unpickled in a new worker, it first makes that
    process's numerical libraries single-threaded (see the module's docstring)."""

    def __call__(self, lookup) -> None:
        _start(lookup)

    def __reduce__(self):
        return _single_threaded, ()


def _single_threaded():
    """Run as a new worker unpickles its initializer: the environment its numerical
    libraries will read, then the initializer itself."""
    for name in ONE_THREAD:
        os.environ.setdefault(name, "1")
    return _start


def _start(lookup) -> None:
    from .read import _init_worker

    _init_worker(lookup)

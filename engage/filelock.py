"""A write lock shared by the server's processes, waited for in the operating system.

SQLite's own lock is polled: a writer that finds it taken sleeps 1, 2, 5 ... up to 100 ms
before looking again, and every save queued behind it in that process waits too. A lock
on a file wakes the next writer the moment the last one lets go. On POSIX it is
``flock``; on Windows, ``LockFileEx`` on the file's first byte. The operating system
drops it when a process dies, so a killed server never leaves it held.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("engage")

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import ctypes
    import msvcrt
    from ctypes import wintypes

    class _Overlapped(ctypes.Structure):
        _fields_ = [
            ("Internal", ctypes.c_void_p),
            ("InternalHigh", ctypes.c_void_p),
            ("Offset", wintypes.DWORD),
            ("OffsetHigh", wintypes.DWORD),
            ("hEvent", wintypes.HANDLE),
        ]

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _LOCKFILE_EXCLUSIVE_LOCK = 0x2

    def _lock(fd: int) -> None:
        overlapped = _Overlapped()
        handle = wintypes.HANDLE(msvcrt.get_osfhandle(fd))
        if not _kernel32.LockFileEx(handle, _LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0,
                                    ctypes.byref(overlapped)):
            raise ctypes.WinError(ctypes.get_last_error())

    def _unlock(fd: int) -> None:
        overlapped = _Overlapped()
        handle = wintypes.HANDLE(msvcrt.get_osfhandle(fd))
        if not _kernel32.UnlockFileEx(handle, 0, 1, 0, ctypes.byref(overlapped)):
            raise ctypes.WinError(ctypes.get_last_error())

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class WriteLock:
    """Exclusive between threads (a ``threading.Lock``) and between processes (a lock
    on ``path``). One per database file per process.

    The file lock only makes waiting cheaper: SQLite's own lock keeps writers apart in
    any case. So where the file cannot be locked, this says so once in the log and goes
    on with the thread lock alone, rather than refuse every save."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._usable = True
        self._held = False

    def acquire(self, timeout: float = -1) -> bool:
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            if self._usable:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                _lock(self._fd)
                self._held = True
        except OSError as error:
            self._usable = False
            log.warning("cannot lock %s (%s); writers wait on SQLite's lock alone",
                        self.path, error)
        except BaseException:
            self._threads.release()
            raise
        return True

    def release(self) -> None:
        try:
            if self._held:
                self._held = False
                _unlock(self._fd)
        finally:
            self._threads.release()

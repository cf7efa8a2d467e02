"""The real server (``python run.py``) and the ``engage`` command in subprocesses, for
tests and benchmarks.

One place that starts it, waits until it answers and stops it: the durability test, the
two-process sync test, the browser tests and the capture benchmark all drive the same
server the same way. The server binds its port before its workers are up, so a request
made early waits instead of being refused; the wait here counts both as "not yet".
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env() -> dict:
    """The environment for a server: its instance comes from ``--instance`` alone."""
    env = {k: v for k, v in os.environ.items() if k != "ENGAGE_INSTANCE"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(instance: Path, port: int, log: Path, *options: str) -> subprocess.Popen:
    """``run.py`` serving ``instance`` on 127.0.0.1:``port``, its output appended to ``log``."""
    command = [sys.executable, str(ROOT / "run.py"), "--host", "127.0.0.1", "--port",
               str(port), "--instance", str(instance), *options]
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=server_env(), stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        wait_until_serving(proc, f"http://127.0.0.1:{port}", log)
    except BaseException:
        stop(proc, hard=True)
        raise
    return proc


def wait_until_serving(proc: subprocess.Popen, base: str, log: Path | None = None,
                       timeout: float = STARTUP_SECONDS) -> None:
    """Poll ``/healthz`` until it answers; waiting on the process between polls notices
    at once if the server dies instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Refused, reset or timed out: not up yet.
        with contextlib.suppress(OSError), urllib.request.urlopen(
            f"{base}/healthz", timeout=2
        ) as answer:
            if answer.status == 200:
                return
        try:
            code = proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"the server exited with {code}:\n{_tail(log)}")
    raise RuntimeError(f"the server did not answer within {timeout:g} s:\n{_tail(log)}")


def stop(proc: subprocess.Popen | None, hard: bool = False) -> None:
    """End the server: politely, or with SIGKILL (TerminateProcess on Windows)."""
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill() if hard else proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def engage_cli(instance: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``python -m engage.cli --instance DIR ...`` and return what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "engage.cli", "--instance", str(instance), *args],
        cwd=ROOT, env=server_env(), input=stdin, capture_output=True, text=True, timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"engage {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _tail(log: Path | None) -> str:
    if not log or not Path(log).exists():
        return ""
    return Path(log).read_text(errors="replace")[-4000:]

"""The least a durable save can be on engage's stack: a yardstick for capture_load.py.

Flask on waitress, served from as many processes as engage's server uses, sharing one
listening socket; each POST parses its form, inserts one row in one SQLite transaction
(WAL, ``BEGIN IMMEDIATE``) and answers JSON only once the log is flushed to the disk,
as engage does (``synchronous=NORMAL``, then ``fdatasync`` of the log outside the write
lock). No sign-in, CSRF check, validation, revision or sync log: what engage's save
costs beyond this is what those cost.

    python benchmarks/reference_app.py PORT THREADS PROCESSES DATABASE
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import sqlite3
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, Response, request
from waitress.server import create_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the engage beside it
from engage.serve import _exit_with_parent  # noqa: E402 - ends with the process that started it
from engage.walsync import flush_file  # noqa: E402 - the log flushed as engage flushes it

SCHEMA = (
    "create table if not exists saves (id text primary key, submission_id text unique,"
    " text text, created_at text not null)"
)


def make_app(database: str) -> Flask:
    app = Flask(__name__)
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(database, timeout=30, isolation_level=None)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=normal")
        return conn

    @app.get("/healthz")
    def healthz():
        return "ok"

    @app.post("/")
    def save():
        form = request.form
        conn = connection()
        conn.execute("begin immediate")
        try:
            conn.execute(
                "insert into saves (id, submission_id, text, created_at) values (?, ?, ?, ?)",
                [str(uuid.uuid4()), form.get("submission_id"), form.get("text"),
                 datetime.now(timezone.utc).isoformat()],
            )
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        flush_file(Path(database + "-wal"))
        return Response(json.dumps({"saved": True}, separators=(",", ":")),
                        mimetype="application/json")

    return app


def serve(sock: socket.socket, threads: int, database: str) -> None:
    _exit_with_parent()
    create_server(make_app(database), sockets=[sock], threads=threads, ident="reference").run()


def main(argv: list[str]) -> None:
    port, threads, processes, database = int(argv[0]), int(argv[1]), int(argv[2]), argv[3]
    with sqlite3.connect(database) as conn:
        conn.execute("pragma journal_mode=wal")
        conn.execute(SCHEMA)
    conn.close()
    sock = socket.create_server(("127.0.0.1", port), backlog=1024)
    if processes <= 1:
        serve(sock, threads, database)
        return
    ctx = mp.get_context("spawn")
    workers = [ctx.Process(target=serve, args=(sock, threads, database), daemon=True)
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1:])

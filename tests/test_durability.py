"""Nothing lost: every save the server acknowledged survives the server being killed.

The real server (``run.py``) runs in a subprocess on a temporary instance. Several
facilitators stream ideas and votes, each with its own ``submission_id``; a save is
acknowledged when its POST answers 302, which the app sends only after the commit. In
the middle of the stream the server process is killed outright (SIGKILL; on Windows,
TerminateProcess), then started again on the same instance. Every acknowledged save
must be in the database exactly once, and sending a save again with the same
``submission_id`` (as a browser does when its connection broke) must not double it.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path

import pytest
import requests
import server_support
from server_support import engage_cli as _cli
from server_support import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "durable password 1"
CLIENTS = 4
ACKS_BEFORE_KILL = 40  # acknowledged saves to wait for before killing the server
MAX_SAVES_PER_CLIENT = 5000  # a bound on each client's loop, never reached in practice
VOTES = ("agree", "disagree", "unsure")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Server:
    """``python run.py`` on an instance, started and waited for; killed without mercy."""

    def __init__(self, instance: Path, log: Path):
        self.instance = instance
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.base = ""

    def start(self) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = server_support.start(self.instance, port, self.log)

    def kill(self) -> None:
        server_support.stop(self.proc, hard=True)


class Facilitator:
    """A signed-in browser-like client that keeps its signed-in cookie as it was.

    Saves are not followed to the page they redirect to, so the cookies they set (which
    collect the flash messages) are dropped rather than sent back growing.
    """

    def __init__(self, base: str):
        self.base = base
        self.http = requests.Session()
        page = self.http.get(f"{base}/login", timeout=30)
        signed_in = self.http.post(
            f"{base}/login",
            data={"csrf_token": _CSRF.search(page.text).group(1), "username": "fay",
                  "password": PASSWORD},
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302, signed_in.text
        # Signing in starts a new session: take the form token from a page of that one.
        page = self.http.get(f"{base}/workshops/", timeout=30)
        self.token = _CSRF.search(page.text).group(1)
        self.cookies = self.http.cookies.get_dict()

    def post(self, path: str, data: dict, base: str | None = None) -> requests.Response:
        self.http.cookies.clear()
        return self.http.post(
            f"{base or self.base}{path}",
            data={"csrf_token": self.token, **data},
            cookies=self.cookies,
            allow_redirects=False,
            timeout=30,
        )


def _location_id(response: requests.Response) -> str:
    assert response.status_code == 302, response.status_code
    return response.headers["Location"].split("#")[0].rstrip("/").rsplit("/", 1)[-1]


def _open_workshop(fay: Facilitator, conversation_id: str, people: int) -> tuple[str, list]:
    workshop_id = _location_id(
        fay.post(
            "/workshops/new",
            {
                "conversation_id": conversation_id,
                "title": "Durability workshop",
                "date": "2026-03-14",
                "postcode_district": "LS6",
                "languages": "en",
            },
        )
    )
    participants = []
    for _ in range(people):
        person = _location_id(
            fay.post(
                f"/workshops/{workshop_id}/participants",
                {"language": "en", "submission_id": str(uuid.uuid4())},
            )
        )
        consent = fay.post(
            f"/workshops/{workshop_id}/participants/{person}/consent",
            {"consent": "yes", "submission_id": str(uuid.uuid4())},
        )
        assert consent.status_code == 302
        participants.append(person)
    return workshop_id, participants


class Stream:
    """Clients saving ideas and votes until the server goes away; records every outcome."""

    def __init__(self):
        self.lock = threading.Condition()
        self.acked: list[dict] = []  # answered 302: committed
        self.in_flight: list[dict] = []  # sent when the server died: outcome unknown
        self.refused: list[tuple[dict, int]] = []  # answered, but not with 302

    def client(self, fay: Facilitator, page: str, ideas: list[str], n: int) -> None:
        for i in range(MAX_SAVES_PER_CLIENT):
            submission_id = str(uuid.uuid4())
            if i % 2 == 0:
                save = {
                    "kind": "idea",
                    "path": f"{page}/ideas",
                    "data": {"text": f"durable idea {n}-{i} {submission_id}", "language": "en"},
                }
            else:
                save = {
                    "kind": "vote",
                    "path": f"{page}/ideas/{ideas[i % len(ideas)]}/vote",
                    "data": {"vote": VOTES[i % len(VOTES)]},
                }
            save["data"]["submission_id"] = submission_id
            try:
                answer = fay.post(save["path"], save["data"])
            except requests.RequestException:
                with self.lock:
                    self.in_flight.append(save)
                return
            with self.lock:
                if answer.status_code == 302:
                    self.acked.append(save)
                else:
                    self.refused.append((save, answer.status_code))
                self.lock.notify_all()
        raise AssertionError("the server was never killed")

    def wait_for(self, count: int, timeout: float) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.acked) >= count, timeout=timeout), (
                f"only {len(self.acked)} saves acknowledged in {timeout} s"
            )


def _counts(db_path: Path, saves: list[dict]) -> list[tuple[dict, int, int | None]]:
    """For each save: rows with its submission_id, and for an idea rows with its text."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        found = []
        for save in saves:
            by_id = db.execute(
                "select count(*) from contributions where submission_id = ?",
                [save["data"]["submission_id"]],
            ).fetchone()[0]
            by_text = None
            if save["kind"] == "idea":
                by_text = db.execute(
                    "select count(*) from contributions where kind = 'idea' and text = ?",
                    [save["data"]["text"]],
                ).fetchone()[0]
            found.append((save, by_id, by_text))
    return found


def _assert_each_once(db_path: Path, saves: list[dict]) -> None:
    wrong = [
        (s["kind"], s["data"]["submission_id"], by_id, by_text)
        for s, by_id, by_text in _counts(db_path, saves)
        if by_id != 1 or by_text not in (None, 1)
    ]
    assert not wrong, f"{len(wrong)} saves not there exactly once: {wrong[:5]}"


def test_acknowledged_saves_survive_a_killed_server(tmp_path):
    instance = tmp_path / "instance"
    db_path = instance / "engage.db"
    _cli(instance, "users", "add", "fay", "--role", "facilitator", stdin=PASSWORD + "\n")
    sample = json.loads(_cli(instance, "demo", "load", "--json"))
    server = Server(instance, tmp_path / "server.log")
    server.start()
    try:
        fay = Facilitator(server.base)
        workshop_id, participants = _open_workshop(fay, sample["conversation_id"], CLIENTS)
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            ideas = [
                r[0]
                for r in db.execute(
                    "select id from ideas where conversation_id = ? order by position",
                    [sample["conversation_id"]],
                )
            ]
        assert ideas

        stream = Stream()
        clients = [Facilitator(server.base) for _ in range(CLIENTS)]
        threads = [
            threading.Thread(
                target=stream.client,
                args=(c, f"/workshops/{workshop_id}/participants/{p}", ideas, n),
                daemon=True,
            )
            for n, (c, p) in enumerate(zip(clients, participants, strict=True))
        ]
        for t in threads:
            t.start()
        stream.wait_for(ACKS_BEFORE_KILL, timeout=60)
        server.kill()  # mid-stream, with saves on the wire
        for t in threads:
            t.join(timeout=60)
            assert not t.is_alive(), "a client kept going after the server was killed"

        acked = list(stream.acked)
        assert len(acked) >= ACKS_BEFORE_KILL
        assert not stream.refused, f"saves refused before the kill: {stream.refused[:3]}"
        assert {s["kind"] for s in acked} == {"idea", "vote"}

        print(f"killed with {len(acked)} saves acknowledged, {len(stream.in_flight)} in flight")
        server.start()  # the same instance: its database and its secret key

        # Every acknowledged save is there, exactly once.
        _assert_each_once(db_path, acked)
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            ours = {
                r[0]
                for r in db.execute(
                    "select submission_id from contributions where workshop_id = ?",
                    [workshop_id],
                )
            }
        assert {s["data"]["submission_id"] for s in acked} <= ours
        sent = {s["data"]["submission_id"] for s in acked + stream.in_flight}
        assert ours <= sent, "a save nobody sent appeared"

        # The browser sends again what it never heard back about, and a few saves it
        # did hear about: the signed-in session still works, and nothing doubles.
        fay.base = server.base
        for save in stream.in_flight + acked[:3] + acked[-3:]:
            answer = fay.post(save["path"], save["data"])
            assert answer.status_code == 302, answer.status_code
        _assert_each_once(db_path, acked + stream.in_flight)
    finally:
        server.kill()

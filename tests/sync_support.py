"""Helpers for the sync tests: a hub and laptops as real apps on real SQLite files.

Laptops talk to the hub through the hub app's test client (``transport``), the same
requests and answers as over HTTP, without a server; the two-process test uses real ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from engage import create_app
from engage.data import users
from engage.db import get_db

PASSWORD = "correct horse battery"


def require_sqlite3_shell() -> str:
    """The sqlite3 shell's path, which the hub's exports use where it is installed.
    Without it these tests skip, except in CI (which installs it) where they fail: a
    machine without it would otherwise never test that way of exporting."""
    found = shutil.which("sqlite3")
    if found:
        return found
    message = "the sqlite3 shell is not installed (apt-get install sqlite3)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def make_app(instance: Path, hub: bool = False):
    return create_app({"TESTING": True, "INSTANCE_PATH": str(instance),
                       "SECRET_KEY": "test-secret-key", "HUB": hub})


def transport(hub_app):
    """Send the laptop client's requests to ``hub_app`` through its test client."""
    client = hub_app.test_client()

    def send(method, url, body, headers):
        path = url.split("://", 1)[1]
        path = path[path.index("/"):]
        response = client.open(path, method=method, data=body, headers=headers)
        return response.status_code, response.get_data()

    return send


def make_hub(instance: Path):
    app = make_app(instance, hub=True)
    with app.app_context():
        from engage.data import conversations

        users.create_user("cora", PASSWORD, "coordinator")
        conv = conversations.create_conversation(
            {"en": "Care closer to home", "pl": "Opieka bliżej domu"}, {}, None)
        conversations.add_prompt(conv["id"], {"en": "What would help you most?"})
        for text in ("Evening appointments.", "The same therapist each time.",
                     "Letters in my language.", "Booking without a smartphone."):
            conversations.add_idea(conv["id"], {"en": text})
    return app


def enrol_laptop(instance: Path, hub_app, name: str):
    """A laptop with an admin, enrolled with the hub, the hub's conversation pulled."""
    app = make_app(instance)
    with app.app_context():
        users.create_user("fay", PASSWORD, "admin")
    with hub_app.app_context():
        from engage.sync import hub

        code = hub.create_code(name, None)
    with app.app_context():
        from engage.sync import laptop

        laptop.enrol_network("http://hub.test", code, name, transport=transport(hub_app))
        laptop.pull(transport=transport(hub_app))
    return app


def copy_instance(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def restored_from_backup(hub_app, lap):
    """The laptop as a copy of its instance taken now brings it back, after the laptop
    has recorded more and sent it: the hub holds changes the restored log never had.
    Returns the restored laptop's app and what the hub holds from it."""
    from engage.sync import laptop

    instance = Path(lap.instance_path)
    backup = copy_instance(instance, instance.with_name(instance.name + "-restored"))
    capture(lap, participants=1, seed=1)
    with context(lap):
        laptop.push(transport=transport(hub_app))
    return make_app(backup), scalar(hub_app, "select held_seq from devices")


def query(app, sql, params=()):
    with app.app_context():
        return list(get_db().query(sql, params))


def scalar(app, sql, params=()):
    with app.app_context():
        return get_db().execute(sql, params).fetchone()[0]


@contextlib.contextmanager
def context(app):
    with app.test_request_context():
        yield get_db()


DATA_TABLES = ("users", "conversations", "prompts", "ideas", "workshops",
               "workshop_facilitators", "kiosks", "forms", "participants", "contributions",
               "exposures", "media", "batches", "devices", "conflicts", "received")


def snapshot(app) -> dict:
    """Every row of every table a sync could change, for 'changed nothing' checks."""
    out = {}
    with app.app_context():
        db = get_db()
        for table in DATA_TABLES:
            out[table] = sorted(tuple(r) for r in db.execute(f"select * from {table}"))
    return out


def capture(app, participants: int = 3, *, seed: int = 0) -> dict:
    """A workshop on the laptop with consenting participants, ideas, votes and a
    correction: every kind of row a workshop makes."""
    from engage.data import contributions, workshops
    from engage.data import participants as people

    with app.test_request_context():
        db = get_db()
        conv_id = db.execute("select id from conversations order by created_at").fetchone()[0]
        ideas = [r[0] for r in db.execute(
            "select id from ideas where conversation_id = ? order by position", [conv_id])]
        user = next(db.query("select * from users order by created_at"))
        workshop = workshops.create_workshop(
            conv_id, title=f"Drop-in {seed}", date="2026-03-14", postcode="LS6", tags="carers",
            languages=["en", "pl"], created_by=user["id"])
        made = []
        for n in range(participants):
            person = people.add_participant(workshop["id"], channel="facilitator",
                                            language="en", entered_by=user["id"])
            people.record_consent(workshop["id"], person["id"], True, entered_by=user["id"])
            idea = contributions.add_idea(
                workshop["id"], person["id"], {"text": f"More buses to the clinic {seed}.{n}"},
                channel="facilitator", entered_by=user["id"])
            contributions.correct_contribution(
                workshop["id"], idea["id"], {"text": f"More buses to the clinic, {seed}.{n}"},
                expected_revision_id=idea["revision_id"], entered_by=user["id"])
            for k, idea_id in enumerate(ideas):
                contributions.record_vote(workshop["id"], person["id"], idea_id,
                                          ("agree", "disagree", "unsure")[(n + k) % 3],
                                          channel="facilitator", entered_by=user["id"])
            made.append(person["id"])
        return {"workshop_id": workshop["id"], "participants": made, "ideas": ideas}


def laptop_rows(app, table: str) -> dict:
    """A laptop's rows of a revisioned table by revision_id."""
    key = "revision_id" if table in ("participants", "contributions") else "id"
    return {r[key]: r for r in query(app, f"select * from {table}")}

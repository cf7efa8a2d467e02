"""Fixtures: an app on a real SQLite file in a temp dir, its client and CLI runner."""

from __future__ import annotations

import re

import pytest

from engage import create_app
from engage.data import users
from engage.db import get_db

PASSWORD = "correct horse battery"

# The browser tests' shared fixtures (one Chromium, one served sample site per run).
pytest_plugins = ["browser_support"]


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SECRET_KEY": "test-secret-key",
        }
    )
    yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Session:
    """A signed-in browser-like client that sends the page's CSRF token with each form."""

    def __init__(self, client):
        self.client = client
        self._token = None
        self.followed = ""

    def get(self, url, **kw):
        response = self.client.get(url, **kw)
        if response.mimetype == "text/html":
            found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
            if found:
                self._token = found.group(1)
        return response

    def post(self, url, data=None, **kw):
        if self._token is None:
            self.get("/login")
        data = {"csrf_token": self._token, **(data or {})}
        response = self.client.post(url, data=data, **kw)
        if response.status_code in (302, 303) and response.location.startswith("/"):
            # As a browser would: follow it, picking up the new token and the message.
            self.followed = self.get(response.location).get_data(as_text=True)
        return response


def make_user(app, username, role, password=PASSWORD):
    with app.app_context():
        return users.create_user(username, password, role)


def sign_in(client, username, password=PASSWORD):
    session = Session(client)
    session.get("/login")
    response = session.post("/login", {"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return session


@pytest.fixture
def admin(app, client):
    make_user(app, "ada", "admin")
    return sign_in(client, "ada")


@pytest.fixture
def sample(app):
    """The sample consultation loaded into the app's database."""
    from engage.data.demo import load_sample

    with app.app_context():
        return load_sample(None)


def query(app, sql, params=()):
    with app.app_context():
        return list(get_db().query(sql, params))


@pytest.fixture
def capture(app, client, sample):
    """A signed-in facilitator on a new participant's page in their own workshop."""
    make_user(app, "fay", "facilitator")
    fay = sign_in(client, "fay")
    response = fay.post("/workshops/new", {
        "conversation_id": sample["conversation"]["id"], "title": "Hostel evening",
        "date": "2026-03-14", "postcode_district": "e1", "tags": "people who have been homeless",
        "languages": ["en", "pl"]})
    workshop_url = response.location
    page = fay.post(workshop_url + "/participants", {"language": "pl"}).location
    ideas = re.findall(r'id="idea-([0-9a-f-]{36})"', fay.get(page).get_data(as_text=True))
    fay.post(page + "/consent", {"consent": "yes"})
    html = fay.get(page).get_data(as_text=True)
    ideas = re.findall(r'<article id="idea-([0-9a-f-]{36})"', html)
    user_id = query(app, "select id from users where username = 'fay'")[0]["id"]
    return {"fay": fay, "page": page, "workshop_url": workshop_url, "ideas": ideas,
            "participant_id": page.rsplit("/", 1)[1], "user_id": user_id}


def contributions(app, capture, where="1=1", params=()):
    """This participant's contribution rows, every revision, oldest first."""
    return query(
        app,
        f"select * from contributions where participant_id = ? and {where} order by created_at",
        [capture["participant_id"], *params],
    )

"""Sessions: a cookie checked once is remembered, but a forged, altered, expired or
old-key cookie is never taken for it."""

from __future__ import annotations

import time

from conftest import make_user, sign_in


def session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_a_remembered_cookie_still_signs_in_and_an_altered_one_does_not(app, client):
    make_user(app, "fay", "facilitator")
    sign_in(client, "fay")
    cookie = session_cookie(client)
    for _ in range(3):  # the first check is remembered; the next ones use it
        assert client.get("/workshops/").status_code == 200
    client.set_cookie("session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert client.get("/workshops/").status_code == 302  # back to sign in
    client.set_cookie("session", cookie)
    assert client.get("/workshops/").status_code == 200


def test_changes_to_a_remembered_session_do_not_leak_into_the_next_request(app, client):
    make_user(app, "fay", "facilitator")
    sign_in(client, "fay")
    cookie = session_cookie(client)
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        opened = app.session_interface.open_session(app, _request())
        opened["user_id"] = "someone else"
        opened.setdefault("kiosk_participant", {})["code"] = "X"
    with app.test_request_context(headers={"Cookie": f"session={cookie}"}):
        again = app.session_interface.open_session(app, _request())
    assert again["user_id"] != "someone else" and "kiosk_participant" not in again


def test_a_remembered_cookie_expires_on_time(app, client, monkeypatch):
    make_user(app, "fay", "facilitator")
    sign_in(client, "fay")
    assert client.get("/workshops/").status_code == 200
    later = time.time() + app.permanent_session_lifetime.total_seconds() + 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert client.get("/workshops/").status_code == 302


def test_a_new_secret_key_forgets_cookies_checked_with_the_old(app, client):
    make_user(app, "fay", "facilitator")
    sign_in(client, "fay")
    assert client.get("/workshops/").status_code == 200
    app.secret_key = "a different key"
    assert client.get("/workshops/").status_code == 302


def _request():
    from flask import request

    return request._get_current_object()

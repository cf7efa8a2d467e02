"""Set-up of a new instance, signing in and out, and the protections around them."""

from conftest import PASSWORD, Session, make_user, query, sign_in

from engage import security


def test_new_instance_shows_setup_and_has_no_default_account(app, client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.location.endswith("/setup")
    assert query(app, "select count(*) as n from users")[0]["n"] == 0


def test_setup_creates_the_first_admin_once(app, client):
    session = Session(client)
    session.get("/setup")
    response = session.post(
        "/setup", {"username": "ada", "password": PASSWORD, "password_again": PASSWORD}
    )
    assert response.status_code == 302
    (user,) = query(app, "select * from users")
    assert user["role"] == "admin"
    assert user["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in user["password_hash"]
    # A second visit to /setup cannot make another admin.
    other = Session(client.application.test_client())
    assert other.get("/setup").status_code == 302
    other.post("/setup", {"username": "eve", "password": PASSWORD, "password_again": PASSWORD})
    assert len(query(app, "select * from users")) == 1


def test_setup_refuses_a_short_password(app, client):
    session = Session(client)
    session.get("/setup")
    response = session.post("/setup", {"username": "ada", "password": "short",
                                       "password_again": "short"})
    assert response.status_code == 400
    assert "at least 10 characters" in response.get_data(as_text=True)
    assert query(app, "select count(*) as n from users")[0]["n"] == 0


def test_sign_in_and_out(app, client):
    make_user(app, "fay", "facilitator")
    session = sign_in(client, "fay")
    assert "Signed in as fay" in session.get("/").get_data(as_text=True)
    session.post("/logout")
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(app, client):
    make_user(app, "fay", "facilitator")
    session = Session(client)
    session.get("/login")
    response = session.post("/login", {"username": "fay", "password": "wrong password"})
    assert response.status_code == 401
    assert "do not match" in response.get_data(as_text=True)


def test_repeated_failures_are_slowed_down(app, client):
    make_user(app, "fay", "facilitator")
    session = Session(client)
    session.get("/login")
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        assert session.post("/login", {"username": "fay", "password": "nope"}).status_code == 401
    session.post("/login", {"username": "fay", "password": "nope"})
    # Now even the right password must wait.
    response = session.post("/login", {"username": "fay", "password": PASSWORD})
    assert response.status_code == 429
    assert "Wait" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(app, client):
    make_user(app, "fay", "facilitator")
    session = Session(client)
    session.get("/login")
    response = session.post("/login", {"username": "fay", "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_form_without_the_csrf_token_changes_nothing(app, client):
    make_user(app, "fay", "facilitator")
    response = client.post("/login", data={"username": "fay", "password": PASSWORD})
    assert response.status_code == 400
    assert "expired or was not sent by engage" in response.get_data(as_text=True)
    session = sign_in(client, "fay")
    response = session.client.post(
        "/coordinate/sample", data={"csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert query(app, "select count(*) as n from conversations")[0]["n"] == 0


def _idea(session, capture, token, text):
    return session.client.post(
        capture["page"] + "/ideas",
        data={"csrf_token": token, "text": text, "language": "pl"},
        headers={"Accept": "application/json"},
    )


def test_a_remembered_csrf_token_passes_but_a_forged_or_borrowed_one_never_does(
    app, client, capture
):
    fay = capture["fay"]
    good = fay._token
    assert _idea(fay, capture, good, "first").status_code == 200
    assert _idea(fay, capture, good, "second, from memory").status_code == 200
    assert _idea(fay, capture, good[:-2] + "xx", "forged").status_code == 400
    # The same token sent with another signed-in session is that session's forgery.
    make_user(app, "sam", "facilitator")
    other = sign_in(app.test_client(), "sam")
    assert _idea(other, capture, good, "borrowed").status_code == 400
    saved = query(app, "select text from contributions where participant_id = ?",
                  [capture["participant_id"]])
    assert sorted(r["text"] for r in saved) == ["first", "second, from memory"]


def test_nothing_is_remembered_where_csrf_tokens_expire(app, capture):
    from engage.security import csrf

    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    csrf._passed.clear()
    fay = capture["fay"]
    assert _idea(fay, capture, fay._token, "checked in full").status_code == 200
    assert csrf._passed == set()


def test_next_address_cannot_point_elsewhere(app, client):
    make_user(app, "fay", "facilitator")
    session = Session(client)
    session.get("/login")
    response = session.client.post(
        "/login?next=https://evil.example/", data={"csrf_token": session._token,
                                                   "username": "fay", "password": PASSWORD}
    )
    assert response.location == "/"


def test_security_headers_forbid_other_hosts(app, client):
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"


def test_every_answer_carries_the_security_headers_once(app, client):
    page = client.get("/login")
    missing = client.get("/no-such-page")
    static = client.get("/static/engage.css")
    for response in (page, missing, static):
        assert response.headers.getlist("Content-Security-Policy") == [
            security.CONTENT_SECURITY_POLICY]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
    # Pages can show participants' words: never kept. Static files say their own.
    assert page.headers.getlist("Cache-Control") == ["no-store"]
    assert missing.headers.getlist("Cache-Control") == ["no-store"]
    assert "no-store" not in static.headers.get("Cache-Control", "")

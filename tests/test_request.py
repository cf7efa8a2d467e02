"""Small forms read directly give exactly what werkzeug's own parser gives, and a body
that breaks a limit, or ends early, is refused the same way."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest
from flask import Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

from engage.request import SMALL_FORM_BYTES, EngageRequest


def _environ(body: bytes, *, length=None, content_type="application/x-www-form-urlencoded"):
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_TYPE": content_type,
    }
    if length != "none":
        environ["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    return environ


def _read(app, request_class, body: bytes, **options):
    with app.app_context():
        request = request_class(_environ(body, **options))
        try:
            return [(k, v) for k in request.form for v in request.form.getlist(k)], None
        except Exception as error:  # noqa: BLE001 - the refusal itself is compared
            return None, type(error)


def test_a_save_reads_as_werkzeug_reads_it(app):
    body = urlencode({"csrf_token": "a.b-c", "text": "Más autobuses, por favor & ya",
                      "language": "es", "submission_id": "4f6e1c2e"}).encode()
    mine, _ = _read(app, EngageRequest, body)
    assert mine == _read(app, Request, body)[0]
    assert ("text", "Más autobuses, por favor & ya") in mine


def test_the_app_reads_requests_with_it(app):
    assert app.request_class is EngageRequest


form_bodies = st.one_of(
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=8).map(
        lambda pairs: urlencode(pairs).encode()),
    st.binary(max_size=200),  # anything at all: not UTF-8, stray % and +, empty fields
    st.lists(st.sampled_from(["a=1", "a", "=", "%", "%zz", "+", "&", "b=%C3%A9", "c=%FF",
                              ";", "d=e=f"]), max_size=10)
    .map(lambda parts: "".join(parts).encode()),
)


# The app is only read from, never changed, so one serves every example.
@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=form_bodies)
def test_any_small_body_reads_the_same_as_with_werkzeug(app, body):
    assert _read(app, EngageRequest, body) == _read(app, Request, body)


def test_a_body_over_the_length_limit_is_refused_as_werkzeug_refuses_it(app):
    app.config["MAX_CONTENT_LENGTH"] = 10
    body = b"text=" + b"x" * 20
    assert _read(app, EngageRequest, body) == (None, RequestEntityTooLarge)
    assert _read(app, Request, body) == (None, RequestEntityTooLarge)


def test_a_body_over_the_form_memory_limit_is_read_as_werkzeug_reads_it(app):
    # Refused by werkzeug 3.1.8, read by 3.1.9: the same as whichever is installed.
    app.config["MAX_FORM_MEMORY_SIZE"] = 10
    body = b"text=" + b"x" * 20
    assert _read(app, EngageRequest, body) == _read(app, Request, body)


def test_a_body_shorter_than_its_length_is_a_disconnected_client(app):
    assert _read(app, EngageRequest, b"a=1", length=10) == (None, ClientDisconnected)
    assert _read(app, Request, b"a=1", length=10) == (None, ClientDisconnected)


class Trickle(io.BytesIO):
    """A server's stream that gives a few bytes a read."""

    def read(self, size=-1):
        return super().read(min(size, 3) if size and size > 0 else size)


def test_a_body_given_a_few_bytes_a_read_is_read_whole(app):
    body = urlencode({"text": "Más autobuses", "vote": "agree"}).encode()
    with app.app_context():
        environ = _environ(body)
        environ["wsgi.input"] = Trickle(body)
        assert EngageRequest(environ).form.to_dict() == {"text": "Más autobuses", "vote": "agree"}


@pytest.mark.parametrize("options", [
    {"length": "none"},
    {"content_type": "multipart/form-data; boundary=x"},
    {"content_type": "text/plain"},
])
def test_other_bodies_go_werkzeugs_way(app, options):
    body = b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n"
    assert _read(app, EngageRequest, body, **options) == _read(app, Request, body, **options)


def test_a_large_form_goes_werkzeugs_way(app):
    body = urlencode({"text": "x" * (SMALL_FORM_BYTES + 1)}).encode()
    assert _read(app, EngageRequest, body) == _read(app, Request, body)

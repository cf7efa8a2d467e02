"""Sign-in state, role checks, CSRF protection and security headers."""

from __future__ import annotations

import functools

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from .db import new_id

#: Token checks remembered per app; past this the memory starts again.
REMEMBERED_TOKENS = 4096


class RememberingCSRFProtect(CSRFProtect):
    """Flask-WTF's CSRF check, with the tokens that passed it remembered.

    Every save on the capture page sends the same signed token with the same session, and
    checking it again (a serializer, a base64 decode, an HMAC) was a twentieth of a
    save. A token is remembered with the session's own token and the secret key, so a
    forged token, another session or a new key is checked in full. Only where tokens
    never expire and no referrer check applies (this app's settings) is anything
    remembered at all.
    """

    def __init__(self, app=None):
        self._passed: set[tuple[str, str, str]] = set()
        super().__init__(app)

    def protect(self, apply_exemptions=False):
        if apply_exemptions and (not request.endpoint or self._is_exempt()):
            return  # an exempt view (an upload) checks later, once it allows a bigger body
        key = self._key()
        if key is not None and key in self._passed:
            g.csrf_valid = True
            return
        super().protect(apply_exemptions)
        if key is not None and g.get("csrf_valid"):
            if len(self._passed) >= REMEMBERED_TOKENS:
                self._passed.clear()
            self._passed.add(key)

    def _key(self) -> tuple[str, str, str] | None:
        config = current_app.config
        if (
            request.method not in config["WTF_CSRF_METHODS"]
            or config["WTF_CSRF_TIME_LIMIT"] is not None
            or (request.is_secure and config["WTF_CSRF_SSL_STRICT"])
        ):
            return None
        stored = session.get(config["WTF_CSRF_FIELD_NAME"])
        signed = self._get_csrf_token()
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        if not (isinstance(stored, str) and signed and secret):
            return None
        return (str(secret), stored, signed)


csrf = RememberingCSRFProtect()

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def load_user() -> None:
    from .data.users import get_user

    g.user = None
    user_id = session.get("user_id")
    if user_id:
        g.user = get_user(user_id)
        if g.user is None:
            session.clear()


def login_required(view):
    """Send anyone not signed in to the sign-in page, then back here."""

    @functools.wraps(view)
    def wrapped(**kwargs):
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(**kwargs)

    return wrapped


def roles_required(*roles: str):
    """Allow only these roles; others get a 403 page that says why."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(**kwargs):
            if g.user["role"] not in roles:
                abort(403)
            return view(**kwargs)

        return wrapped

    return decorator


def sees_demographics(user: dict | None) -> bool:
    """Demographic answers are for coordinators and admins only."""
    return bool(user) and user["role"] in ("admin", "coordinator")


#: Headers every answer carries unless it set its own; pages (not the static files, which
#: may be cached) also say not to keep them, as they can show participants' words.
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)
PAGE_HEADERS = SECURITY_HEADERS + (("Cache-Control", "no-store"),)


def with_security_headers(wsgi_app, static_prefix: str):
    """Add SECURITY_HEADERS (and PAGE_HEADERS outside ``static_prefix``) to each answer
    that does not set them itself, as the answer starts. Done on the plain header list:
    through the response object's headers it was a twentieth of a save."""
    static = [(name, value, name.lower()) for name, value in SECURITY_HEADERS]
    pages = [(name, value, name.lower()) for name, value in PAGE_HEADERS]

    def app(environ, start_response):
        wanted = static if environ.get("PATH_INFO", "").startswith(static_prefix) else pages

        def start(status, headers, exc_info=None):
            have = {name.lower() for name, _ in headers}
            headers.extend((name, value) for name, value, low in wanted if low not in have)
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, start)

    return app


def allow_large_uploads(app: Flask, endpoint: str, limit: int) -> None:
    """Let one endpoint take a bigger body than the 1 MB every other page allows."""
    app.extensions.setdefault("engage.upload_limits", {})[endpoint] = limit


def _upload_limit():
    # Runs before the CSRF check, which reads the form and so would apply the default.
    limit = current_app.extensions.get("engage.upload_limits", {}).get(request.endpoint)
    if limit:
        request.max_content_length = limit


def init_app(app: Flask) -> None:
    from .sessions import RememberingSessionInterface

    app.session_interface = RememberingSessionInterface()
    app.before_request(_upload_limit)
    csrf.init_app(app)
    app.before_request(load_user)
    app.wsgi_app = with_security_headers(app.wsgi_app, app.static_url_path + "/")
    app.jinja_env.globals["sees_demographics"] = sees_demographics
    # A fresh id in each rendered form lets a resent form be recognised, not saved twice.
    app.jinja_env.globals["new_submission_id"] = new_id

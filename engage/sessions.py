"""Flask's signed-cookie sessions, with the check of a cookie seen before remembered.

A facilitator's saves bring back the same session cookie request after request (a save
in place changes nothing in it). Checking its signature and decoding it again each time
was a sixth of a save's work, so a cookie that has passed the check is remembered, keyed
by its whole signed text: a changed or forged cookie is a different key and is checked
in full. Its age is still checked on every request.
"""

from __future__ import annotations

import time

from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

#: Cookies remembered per app; past this the memory starts again.
REMEMBERED = 1024


def _fresh(value):
    """A copy of a session value that shares nothing a request could change. Session
    data is what Flask's cookie serializer reads back: dicts, lists and tuples of
    immutable values, so this is ``copy.deepcopy`` at about half its cost."""
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fresh(item) for item in value)
    return value


class RememberingSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict = {}
        self._checked: dict[str, tuple[dict, float]] = {}

    def get_signing_serializer(self, app):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        serializer = self._serializers.get(key)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if serializer is not None:
                # A new key: cookies checked with the old one are checked again.
                self._serializers = {key: serializer}
                self._checked = {}
        return serializer

    def open_session(self, app, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = app.permanent_session_lifetime.total_seconds()
        checked = self._checked.get(value)
        if checked is not None and time.time() - checked[1] <= max_age:
            return self.session_class(_fresh(checked[0]))
        try:
            data, signed_at = serializer.loads(value, max_age=int(max_age),
                                               return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if len(self._checked) >= REMEMBERED:
            self._checked = {}
        self._checked[value] = (_fresh(data), signed_at.timestamp())
        return self.session_class(data)

"""Accounts, password checks and the brake on repeated failed logins."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import vocab
from ..db import device_id, get_db, new_id, utc_now
from ..validation import InvalidInput, choice

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[\w.@-]{2,64}$")
MIN_PASSWORD_LENGTH = 10
# Verified against when the username is unknown, so timing does not reveal which exist.
_DUMMY_HASH = _hasher.hash("not a real password, only for equal timing")


class LoginThrottled(Exception):
    """Too many failed attempts: the next one is refused for ``seconds``."""

    def __init__(self, seconds: int):
        super().__init__(seconds)
        self.seconds = seconds


def any_users() -> bool:
    """Whether the instance is set up. Accounts are never deleted, so once there is one
    the answer is kept and every later request skips the query."""
    state = current_app.extensions.setdefault("engage.users", {})
    if state.get("any"):
        return True
    found = get_db().execute("select exists(select 1 from users)").fetchone()[0] == 1
    state["any"] = found
    return found


def check_new_password(password: str | None) -> str:
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            _l("Use a password of at least %(count)s characters.", count=MIN_PASSWORD_LENGTH),
            "password",
        )
    if len(password) > 1024:
        raise InvalidInput(_l("That password is too long."), "password")
    return password


def create_user(username: str, password: str, role: str, created_by: str | None = None) -> dict:
    """Add an account; the password is stored only as an argon2 hash."""
    username = (username or "").strip()
    if not _USERNAME.match(username):
        raise InvalidInput(
            _l(
                "Use 2 to 64 letters, digits, dots, dashes or underscores for the user name, "
                "with no spaces."
            ),
            "username",
        )
    choice(role, vocab.ROLES, field="role", required=True)
    password = check_new_password(password)
    db = get_db()
    user = {
        "id": new_id(),
        "username": username,
        "password_hash": _hasher.hash(password),
        "role": role,
        "locale": None,
        "active": 1,
        "device_id": device_id(),
        "created_at": utc_now(),
        "created_by": created_by,
    }
    with db.atomic():
        if db.execute("select 1 from users where username = ?", [username]).fetchone():
            raise InvalidInput(_l("There is already an account with that user name."), "username")
        db["users"].insert(user)
    return user


def create_first_admin(username: str, password: str) -> dict:
    """Create the first account of a new instance, only while there is none."""
    db = get_db()
    with db.atomic():
        if any_users():
            raise InvalidInput(_l("This instance is already set up. Sign in instead."))
        return create_user(username, password, "admin")


def get_user(user_id: str) -> dict | None:
    row = get_db().execute("select * from users where id = ? and active = 1", [user_id])
    cols = [c[0] for c in row.description]
    found = row.fetchone()
    return dict(zip(cols, found, strict=False)) if found else None


def list_users() -> list[dict]:
    return list(get_db().query("select * from users order by role, username"))


def set_locale(user_id: str, locale: str | None) -> None:
    db = get_db()
    with db.atomic():
        db.execute("update users set locale = ? where id = ?", [locale, user_id])


def set_password(username: str, password: str) -> None:
    """Give an account a new password, for the facilitator who has forgotten theirs."""
    password = check_new_password(password)
    db = get_db()
    with db.atomic():
        cursor = db.execute(
            "update users set password_hash = ? where username = ?",
            [_hasher.hash(password), (username or "").strip()],
        )
        if cursor.rowcount != 1:
            raise InvalidInput(_l("There is no account with that user name."), "username")
        db.execute("delete from login_failures where key = ?", [_throttle_key(username)])


def set_active(user_id: str, active: bool) -> None:
    db = get_db()
    with db.atomic():
        db.execute("update users set active = ? where id = ?", [1 if active else 0, user_id])


def _throttle_key(username: str) -> str:
    return (username or "").strip().lower()


def _retry_after(failures: int, last_failure_at: str) -> int:
    config = current_app.config
    extra = failures - config["LOGIN_FREE_FAILURES"]
    if extra < 0:
        return 0
    delay = min(2 ** min(extra, 20), config["LOGIN_MAX_DELAY_SECONDS"])
    ready = datetime.fromisoformat(last_failure_at) + timedelta(seconds=delay)
    remaining = (ready - datetime.now(timezone.utc)).total_seconds()
    return max(0, int(remaining + 0.999))


def authenticate(username: str, password: str) -> dict | None:
    """Return the user for a right password, or None; slow down repeated failures.

    After a few free failures each further attempt on that name must wait twice as
    long as the one before, so guessing a password takes years, not minutes.
    """
    db = get_db()
    key = _throttle_key(username)
    row = db.execute(
        "select failures, last_failure_at from login_failures where key = ?", [key]
    ).fetchone()
    if row:
        wait = _retry_after(row[0], row[1])
        if wait:
            raise LoginThrottled(wait)
    found = db.execute(
        "select id, password_hash from users where username = ? and active = 1", [username or ""]
    ).fetchone()
    ok = False
    try:
        ok = _hasher.verify(found[1] if found else _DUMMY_HASH, password or "") and bool(found)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    with db.atomic():
        if ok:
            db.execute("delete from login_failures where key = ?", [key])
        else:
            db.execute(
                "insert into login_failures (key, failures, last_failure_at) values (?, 1, ?) "
                "on conflict(key) do update set failures = failures + 1, "
                "last_failure_at = excluded.last_failure_at",
                [key, utc_now()],
            )
    if not ok:
        return None
    if _hasher.check_needs_rehash(found[1]):
        with db.atomic():
            db.execute(
                "update users set password_hash = ? where id = ?",
                [_hasher.hash(password), found[0]],
            )
    return get_user(found[0])

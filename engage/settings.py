"""Default settings; an instance's config.py or a test mapping overrides them."""

from datetime import timedelta


class Defaults:
    """Safe defaults for a workshop laptop served on the loopback address."""

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # A sign-in lasts 12 hours from the last change to the session (signing in, a page
    # that left a message), not from each request: a save in place then sends no new
    # cookie, which keeps saves cheap, and a day's workshop fits.
    SESSION_REFRESH_EACH_REQUEST = False
    WTF_CSRF_TIME_LIMIT = None  # a workshop page may stay open all afternoon
    MAX_CONTENT_LENGTH = 1 * 1024 * 1024
    SCAN_UPLOAD_MAX_BYTES = 200 * 1024 * 1024  # the scan upload only; 1 MB elsewhere
    MAX_TEXT_LENGTH = 5000
    LOGIN_FREE_FAILURES = 5
    LOGIN_MAX_DELAY_SECONDS = 900
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "Europe/London"
    KIOSK_IDLE_SECONDS = 180  # a kiosk forgets a participant after this long with no input
    DATABASE = None
    HUB = False

"""Locale choice and Babel set-up; the one list of supported locales lives here."""

from __future__ import annotations

import sys
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, dates
from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, Domain
from flask_babel import _get_current_context as _babel_context
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

#: Locales the interface is offered in; the source language comes first. English, the
#: main other languages of England, and those of recent refugee groups. Panjabi is
#: written in Gurmukhi (Babel's default script for "pa").
SUPPORTED_LOCALES = ("en", "pl", "ro", "pa", "ur", "pt", "es", "ar", "bn", "gu", "so", "uk")

#: Languages that consultation content (prompts, ideas) and participants' words may be
#: written in: the same list, so every participant's language has an interface too.
CONTENT_LANGUAGES = SUPPORTED_LOCALES

def _translations_dir() -> Path:
    """The top-level translations/ folder of a checkout, or where an install put it."""
    beside = Path(__file__).resolve().parent.parent / "translations"
    if beside.is_dir():
        return beside
    return Path(sys.prefix) / "share" / "engage" / "translations"


TRANSLATIONS_DIR = _translations_dir()


def select_locale() -> str:
    """The signed-in user's own setting, then the session's choice, then the browser."""
    if not has_request_context():  # the command line speaks the source language
        return SUPPORTED_LOCALES[0]
    if g.get("kiosk"):
        from .kiosk import kiosk_locale

        chosen = kiosk_locale()
        if chosen:
            return chosen
    user = g.get("user")
    if user and user.get("locale") in SUPPORTED_LOCALES:
        return user["locale"]
    chosen = session.get("locale")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    return browser_locale(request.headers.get("Accept-Language", ""))


@lru_cache(maxsize=256)
def browser_locale(accept_language: str) -> str:
    """The supported locale a browser's Accept-Language header asks for most.

    A browser sends the same header with every request, and matching it against every
    supported locale cost more than the rest of finding the request's catalog."""
    accepted = parse_accept_header(accept_language, LanguageAccept)
    return accepted.best_match(SUPPORTED_LOCALES) or SUPPORTED_LOCALES[0]


@lru_cache(maxsize=64)
def _locale(code: str) -> Locale:
    # Flask-Babel parses the selector's answer on every request unless it is a Locale.
    return Locale.parse(code)


def _request_locale() -> Locale:
    return _locale(select_locale())


def text_direction(locale_code: str) -> str:
    """'rtl' or 'ltr' for the <html dir> attribute, from Babel's locale data."""
    return Locale.parse(locale_code).text_direction


def locale_display_name(code: str) -> str:
    """A language's name written in that language, for switches and pickers."""
    return Locale.parse(code).get_display_name(code) or code


def _format_locale() -> Locale:
    """The page's locale for dates; English is written the British way, as in England."""
    from flask_babel import get_locale

    current = get_locale() or Locale.parse("en")
    return Locale.parse("en_GB") if str(current) == "en" else current


def day(value: str) -> str:
    """A stored ISO date as people write it in the page's language (Babel's medium form)."""
    try:
        return dates.format_date(date.fromisoformat(value), "medium", locale=_format_locale())
    except (TypeError, ValueError):
        return value or ""


def moment(value: str) -> str:
    """A stored UTC timestamp in UK local time, written the page language's way."""
    from flask_babel import get_timezone

    try:
        when = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return value or ""
    return dates.format_datetime(
        when, "short", tzinfo=get_timezone(), locale=_format_locale()
    )


class RequestDomain(Domain):
    """Flask-Babel's message domain, with the request's catalog found once per request.

    Flask-Babel finds it again for every message (the request's locale, its name, a
    cache), which cost more than the translation itself; a save translates two or three.
    It is kept in the slot Flask-Babel itself empties when the locale changes
    (``force_locale``, ``refresh``)."""

    def get_translations(self):
        ctx = _babel_context()
        if ctx is None:
            return super().get_translations()
        found = getattr(ctx, "babel_translations", None)
        if found is None:
            found = ctx.babel_translations = super().get_translations()
        return found


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel = Babel(app, locale_selector=_request_locale)
    babel.domain_instance = RequestDomain(domain=app.extensions["babel"].default_domain)
    app.context_processor(_template_context)
    app.jinja_env.filters["day"] = day
    app.jinja_env.filters["moment"] = moment


def _template_context() -> dict:
    from flask_babel import get_locale

    code = str(get_locale() or "en")
    return {
        "html_lang": code.replace("_", "-"),
        "html_dir": text_direction(code),
        "current_locale": code,
        "interface_languages": [(c, locale_display_name(c)) for c in SUPPORTED_LOCALES],
    }

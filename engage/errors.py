"""Error pages for people: what happened and what to do, never a traceback."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .validation import NotFound

MESSAGES = {
    400: (
        _l("Something in that request was not right"),
        _l("Go back, check what you entered and try again."),
    ),
    403: (
        _l("This page is not for your account"),
        _l("Your role does not include this page. Ask a coordinator if you need it."),
    ),
    404: (
        _l("Page not found"),
        _l("There is nothing here, or it belongs to a workshop you do not run."),
    ),
    405: (_l("That action is not allowed here"), _l("Go back and use the buttons on the page.")),
    413: (
        _l("That was too much to send at once"),
        _l("Shorten the text or send a smaller file, then try again."),
    ),
    500: (
        _l("Something went wrong on this laptop"),
        _l(
            "Nothing you saved before this was lost. Go back and try again; if it keeps "
            "happening, tell your coordinator the time it happened."
        ),
    ),
}


def render_error(status: int, detail=None):
    title, advice = MESSAGES.get(status, MESSAGES[400])
    return (
        render_template("error.html", status=status, title=title, advice=detail or advice),
        status,
    )


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(_error):
        app.logger.warning("CSRF check failed on %s", request.path)
        return render_error(
            400,
            _l(
                "This form had expired or was not sent by engage, so nothing was saved. "
                "Go back, reload the page and try again."
            ),
        )

    @app.errorhandler(NotFound)
    def not_found(_error):
        return render_error(404)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return render_error(error.code if error.code in MESSAGES else 400)

    @app.errorhandler(Exception)
    def unexpected(error):
        app.logger.exception("Unhandled error on %s", request.path)
        return render_error(500)

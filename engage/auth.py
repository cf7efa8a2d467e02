"""First-run set-up, sign in, sign out and each user's own settings."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from .data import users
from .forms import safe_next, show_error
from .i18n import SUPPORTED_LOCALES, locale_display_name
from .security import login_required
from .validation import InvalidInput

bp = Blueprint("auth", __name__)


@bp.before_app_request
def require_setup():
    """A new instance shows only the set-up page until the first admin exists."""
    # The health check answers too, so scripts can see a new instance is up.
    if request.endpoint in (
        "auth.setup",
        "auth.language",
        "static",
        "fonts.font",
        "views.healthz",
    ) or (request.endpoint is None):
        return None
    if not users.any_users():
        return redirect(url_for("auth.setup"))
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    if users.any_users():
        return redirect(url_for("auth.login"))
    errors = {}
    if request.method == "POST":
        try:
            if request.form.get("password") != request.form.get("password_again"):
                raise InvalidInput(_("The two passwords are not the same."), "password_again")
            user = users.create_first_admin(
                request.form.get("username", ""), request.form.get("password", "")
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            session.clear()
            session["user_id"] = user["id"]
            flash(_("Your administrator account is ready."), "success")
            return redirect(url_for("views.home"))
    return render_template("auth/setup.html", errors=errors), 400 if errors else 200


@bp.route("/login", methods=["GET", "POST"])
def login():
    errors = {}
    status = 200
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            user = users.authenticate(username, request.form.get("password", ""))
        except users.LoginThrottled as throttled:
            flash(
                ngettext(
                    "Too many wrong passwords. Wait %(num)d second, then try again.",
                    "Too many wrong passwords. Wait %(num)d seconds, then try again.",
                    throttled.seconds,
                ),
                "error",
            )
            errors = {"password": True}
            status = 429
        else:
            if user is None:
                flash(_("That user name and password do not match an account."), "error")
                errors = {"password": True}
                status = 401
            else:
                session.clear()
                session.permanent = True
                session["user_id"] = user["id"]
                return redirect(safe_next(request.args.get("next"), url_for("views.home")))
    return render_template("auth/login.html", errors=errors), status


@bp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def language():
    """The header's language switch: the session's choice, and the user's own setting."""
    locale = request.form.get("locale")
    if locale not in SUPPORTED_LOCALES:
        flash(_("That language is not offered."), "error")
    else:
        session["locale"] = locale
        if g.user:
            users.set_locale(g.user["id"], locale)
    return redirect(safe_next(request.form.get("next"), url_for("views.home")))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    if request.method == "POST":
        locale = request.form.get("locale") or None
        if locale is not None and locale not in SUPPORTED_LOCALES:
            flash(_("That language is not offered."), "error")
            return redirect(url_for("auth.account")), 303
        users.set_locale(g.user["id"], locale)
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("auth.account"))
    languages = [(code, locale_display_name(code)) for code in SUPPORTED_LOCALES]
    return render_template("auth/account.html", languages=languages)

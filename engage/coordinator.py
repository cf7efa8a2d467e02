"""Coordinators' pages: conversations with their prompts and ideas, the sample, the export,
and (for admins) accounts."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from . import vocab
from .data import conversations, demo, export, users
from .db import get_db
from .forms import show_error, texts_from_form
from .i18n import CONTENT_LANGUAGES, locale_display_name
from .security import roles_required
from .validation import InvalidInput, NotFound

bp = Blueprint("coordinator", __name__, url_prefix="/coordinate")

STAFF = ("admin", "coordinator")


@bp.context_processor
def _languages():
    return {
        "content_languages": [(c, locale_display_name(c)) for c in CONTENT_LANGUAGES],
    }


@bp.route("/conversations", methods=["GET", "POST"])
@roles_required(*STAFF)
def conversation_list():
    errors = {}
    if request.method == "POST":
        try:
            conv = conversations.create_conversation(
                texts_from_form("title"), texts_from_form("description"), g.user["id"]
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            flash(_("The conversation is created. Now add its questions and ideas."), "success")
            return redirect(url_for("coordinator.conversation", conversation_id=conv["id"]))
    return (
        render_template(
            "coordinator/conversations.html",
            conversations=conversations.list_conversations(),
            errors=errors,
        ),
        400 if errors else 200,
    )


@bp.route("/conversations/<conversation_id>")
@roles_required(*STAFF)
def conversation(conversation_id):
    conv = conversations.get_conversation(conversation_id)
    return render_template(
        "coordinator/conversation.html",
        conversation=conv,
        missing=conversations.missing_translations(conv),
        errors={},
    )


@bp.route("/conversations/<conversation_id>/<kind>", methods=["POST"])
@roles_required(*STAFF)
def add_item(conversation_id, kind):
    adders = {"prompts": conversations.add_prompt, "ideas": conversations.add_idea}
    if kind not in adders:
        abort(404)
    try:
        adders[kind](conversation_id, texts_from_form("text"), texts_from_form("easy_read"))
    except InvalidInput as error:
        conv = conversations.get_conversation(conversation_id)
        return (
            render_template(
                "coordinator/conversation.html",
                conversation=conv,
                missing=conversations.missing_translations(conv),
                errors={kind: show_error(error)},
                form_kind=kind,
            ),
            400,
        )
    flash(_("Added.") if kind == "ideas" else _("Question added."), "success")
    return redirect(
        url_for("coordinator.conversation", conversation_id=conversation_id) + f"#{kind}"
    )


@bp.route("/<kind>/<item_id>/edit", methods=["GET", "POST"])
@roles_required(*STAFF)
def edit_item(kind, item_id):
    if kind not in ("prompts", "ideas"):
        abort(404)
    rows = list(get_db().query(f"select * from {kind} where id = ?", [item_id]))  # noqa: S608
    if not rows:
        raise NotFound(item_id)
    conv = conversations.get_conversation(rows[0]["conversation_id"])
    item = next(i for i in conv[kind] if i["id"] == item_id)
    errors = {}
    if request.method == "POST":
        try:
            conversations.update_item_texts(
                kind, item_id, texts_from_form("text"), texts_from_form("easy_read")
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            flash(_("Your changes are saved."), "success")
            return redirect(url_for("coordinator.conversation", conversation_id=conv["id"]))
    return (
        render_template(
            "coordinator/item_edit.html", kind=kind, item=item, conversation=conv, errors=errors
        ),
        400 if errors else 200,
    )


@bp.route("/sample", methods=["POST"])
@roles_required(*STAFF)
def load_sample():
    loaded = demo.load_sample(g.user["id"])
    flash(
        _("The sample consultation is loaded, with a sample workshop you can try out."),
        "success",
    )
    return redirect(url_for("facilitator.workshop", workshop_id=loaded["workshop"]["id"]))


@bp.route("/export")
@roles_required(*STAFF)
def export_page():
    return render_template("coordinator/export.html", tables=export.TABLES, formats=export.FORMATS)


@bp.route("/export/<table>.<fmt>")
@roles_required(*STAFF)
def export_download(table, fmt):
    if table not in export.TABLES or fmt not in export.FORMATS:
        abort(404)
    all_revisions = request.args.get("revisions") == "all"
    body = export.stream(
        current_app.config["DATABASE"], table, fmt, all_revisions=all_revisions, demographics=True
    )
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="engage-{table}.{fmt}"'},
    )


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def user_list():
    errors = {}
    if request.method == "POST":
        try:
            if request.form.get("password") != request.form.get("password_again"):
                raise InvalidInput(_("The two passwords are not the same."), "password_again")
            users.create_user(
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.get("role", ""),
                created_by=g.user["id"],
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            flash(_("The account is created."), "success")
            return redirect(url_for("coordinator.user_list"))
    return (
        render_template(
            "coordinator/users.html", users=users.list_users(), roles=vocab.ROLES, errors=errors
        ),
        400 if errors else 200,
    )


@bp.route("/users/<user_id>/active", methods=["POST"])
@roles_required("admin")
def user_active(user_id):
    if user_id == g.user["id"]:
        flash(_("You cannot switch off your own account."), "error")
    else:
        users.set_active(user_id, request.form.get("active") == "1")
        flash(_("Your changes are saved."), "success")
    return redirect(url_for("coordinator.user_list"))

"""Sync pages: the laptop's Sync page for facilitators, and the hub's pages for
coordinators (batches, devices, enrolment codes, conflicts, online import, exports).

Laptop pages answer 404 on a hub and hub pages 404 on a laptop.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path

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
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from ..data.conversations import list_conversations
from ..forms import show_error
from ..i18n import CONTENT_LANGUAGES, locale_display_name
from ..security import login_required, roles_required
from ..validation import InvalidInput, NotFound
from . import exports, hub, keys, laptop, online
from .client import HubError
from .envelope import Refused
from .messages import conflict_explanation, refusal_message

laptop_bp = Blueprint("sync", __name__, url_prefix="/sync")
hub_bp = Blueprint("hub", __name__, url_prefix="/hub")
STAFF = ("admin", "coordinator")
UPLOAD_BYTES = 512 * 1024 * 1024
#: The web page tries a push twice, quickly: the person is waiting for the answer.
WEB_CLIENT = {"attempts": 2, "backoff": 0.5, "max_backoff": 2.0, "timeout": 30.0}


@laptop_bp.before_request
def _laptop_only():
    if current_app.config.get("HUB"):
        abort(404)


@hub_bp.before_request
def _hub_only():
    if not current_app.config.get("HUB"):
        abort(404)


# --- the laptop ---------------------------------------------------------------------


@laptop_bp.route("/")
@login_required
def page():
    return render_template("sync/sync.html", status=laptop.status(), errors={})


def _hub_failed(error: HubError) -> None:
    current_app.logger.warning("sync with the hub failed: %s", error)
    if error.status and 400 <= error.status < 500 and error.answer.get("message"):
        flash(error.answer["message"], "error")
    else:
        flash(_("The hub could not be reached, so nothing was sent. Everything stays on this "
                "laptop, waiting; try again when the network is back, or make a USB file."),
              "error")


@laptop_bp.route("/push", methods=["POST"])
@login_required
def push():
    try:
        sent = laptop.push(**WEB_CLIENT)
    except InvalidInput as error:
        show_error(error)
    except HubError as error:
        _hub_failed(error)
    else:
        if sent["batches"]:
            flash(ngettext("Sent %(num)d batch. The hub has everything from this laptop.",
                           "Sent %(num)d batches. The hub has everything from this laptop.",
                           sent["batches"]), "success")
        else:
            flash(_("Nothing was waiting: the hub already has everything from this laptop."),
                  "success")
        recovered = sum(sent.get("recovered", {}).values())
        if recovered:
            flash(ngettext("Brought back from the hub %(num)d record this laptop had sent"
                           " before it was restored.",
                           "Brought back from the hub %(num)d records this laptop had sent"
                           " before it was restored.", recovered), "success")
    return redirect(url_for("sync.page"), 303)


@laptop_bp.route("/pull", methods=["POST"])
@login_required
def pull():
    try:
        counts = laptop.pull(**WEB_CLIENT)
    except InvalidInput as error:
        show_error(error)
    except HubError as error:
        _hub_failed(error)
    else:
        flash(_("Conversations are up to date: %(conversations)d conversations, %(prompts)d "
                "questions and %(ideas)d ideas were new or changed.", **counts), "success")
    return redirect(url_for("sync.page"), 303)


@laptop_bp.route("/bundle", methods=["POST"])
@login_required
def bundle():
    """Make the sealed USB file and download it; it is kept under the instance too."""
    outbox = keys.key_dir() / "outbox"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    try:
        made = laptop.write_bundle(outbox / f"engage-{stamp}.engage-sync")
    except InvalidInput as error:
        show_error(error)
        return redirect(url_for("sync.page"), 303)
    if not made["written"]:
        flash(_("Nothing is waiting to be sent, so there is no file to make."), "success")
        return redirect(url_for("sync.page"), 303)
    for old in sorted(outbox.glob("*.engage-sync"))[:-5]:
        old.unlink(missing_ok=True)  # keep the five newest
    return send_file(made["path"], mimetype="application/octet-stream", as_attachment=True,
                     download_name=Path(made["path"]).name)


@laptop_bp.route("/enrol", methods=["POST"])
@roles_required(*STAFF)
def enrol():
    errors = {}
    try:
        if request.form.get("how") == "file":
            upload = request.files.get("file")
            if not upload or not upload.filename:
                raise InvalidInput(_("Choose the enrolment file the hub made."), "file")
            found = laptop.enrol_file(upload.read(), request.form.get("file_code", ""))
        else:
            found = laptop.enrol_network(request.form.get("hub_url", ""),
                                         request.form.get("code", ""),
                                         request.form.get("name", ""))
    except InvalidInput as error:
        if request.form.get("how") == "file" and error.field == "code":
            error.field = "file_code"
        errors = show_error(error)
        return render_template("sync/sync.html", status=laptop.status(), errors=errors), 400
    flash(_("This laptop is enrolled as %(name)s. Its work can now be sent to the hub.",
            name=found["device_name"]), "success")
    return redirect(url_for("sync.page"), 303)


@laptop_bp.route("/restored/read", methods=["POST"])
@roles_required(*STAFF)
def restore_notice_read():
    laptop.restore_notice_read()
    flash(_("The notice is gone. Work this laptop lost to the restore is still on the hub."),
          "success")
    return redirect(url_for("sync.page"), 303)


@laptop_bp.route("/receipt", methods=["POST"])
@login_required
def receipt():
    upload = request.files.get("receipt")
    try:
        if not upload or not upload.filename:
            raise InvalidInput(_("Choose the receipt file from the hub."), "receipt")
        laptop.take_receipt(upload.read())
    except InvalidInput as error:
        error.field = "receipt"
        errors = show_error(error)
        return render_template("sync/sync.html", status=laptop.status(), errors=errors), 400
    flash(_("The receipt is taken: what the hub holds is no longer waiting here."), "success")
    return redirect(url_for("sync.page"), 303)


# --- the hub ------------------------------------------------------------------------


@hub_bp.route("/")
@roles_required(*STAFF)
def home():
    return redirect(url_for("hub.batches"))


@hub_bp.route("/batches")
@roles_required(*STAFF)
def batches():
    try:
        page_number = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page_number = 1
    per_page = 100
    found = hub.list_batches(per_page, (page_number - 1) * per_page)
    titles = hub.workshop_titles(w for b in found for w in b["workshops"])
    total = hub.count_batches()
    return render_template(
        "hub/batches.html", batches=found, titles=titles, devices=hub.list_devices(),
        page=page_number, pages=max(1, -(-total // per_page)), total=total, errors={},
        open_conflicts=len(hub.list_conflicts()),
    )


@hub_bp.route("/receive", methods=["POST"])
@roles_required(*STAFF)
def receive():
    upload = request.files.get("file")
    if not upload or not upload.filename:
        flash(_("Choose the file the laptop made."), "error")
        return redirect(url_for("hub.batches"), 303)
    incoming = keys.key_dir() / "incoming"
    incoming.mkdir(exist_ok=True)
    target = incoming / f"{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S-%f')}.engage-sync"
    upload.save(target)
    try:
        result = hub.receive_file(target, received_by=g.user["id"])
    except Refused as error:
        current_app.logger.warning("USB file %s refused: %s", upload.filename, error)
        flash(refusal_message(error.reason), "error")
        return redirect(url_for("hub.batches"), 303)
    finally:
        target.unlink(missing_ok=True)
    if result["status"] == "applied":
        rows = sum(result["applied"].values())
        flash(ngettext("The file is applied: %(num)d batch with %(rows)d rows.",
                       "The file is applied: %(num)d batches with %(rows)d rows.",
                       result["batches"], rows=rows), "success")
        if result["conflicts"]:
            flash(ngettext("%(num)d row clashes with one the hub already has. See Conflicts.",
                           "%(num)d rows clash with ones the hub already has. See Conflicts.",
                           result["conflicts"]), "error")
    else:
        flash(_("Everything in this file was already on the hub, so nothing changed."),
              "success")
    return redirect(url_for("hub.batches"), 303)


@hub_bp.route("/devices")
@roles_required(*STAFF)
def devices():
    return render_template("hub/devices.html", devices=hub.list_devices())


@hub_bp.route("/devices/<device_id>/revoke", methods=["POST"])
@roles_required(*STAFF)
def revoke(device_id):
    hub.revoke(device_id)
    flash(_("The laptop's enrolment is withdrawn. Nothing it sends will be applied."), "success")
    return redirect(url_for("hub.devices"), 303)


@hub_bp.route("/devices/<device_id>/receipt")
@roles_required(*STAFF)
def device_receipt(device_id):
    data = hub.receipt(device_id)
    return Response(data, mimetype="application/octet-stream", headers={
        "Content-Disposition": 'attachment; filename="engage-receipt.engage-receipt"'})


@hub_bp.route("/enrol", methods=["GET", "POST"])
@roles_required(*STAFF)
def enrol_codes():
    errors = {}
    made = None
    if request.method == "POST":
        try:
            code = hub.create_code(request.form.get("name", ""), g.user["id"])
            made = {"code": code, "name": request.form.get("name", "").strip(), "file": None}
            if request.form.get("with_file"):
                data = hub.enrolment_file(code, request.host_url.rstrip("/"))
                folder = keys.key_dir() / "enrolment"
                folder.mkdir(exist_ok=True)
                name = re.sub(r"[^A-Za-z0-9_-]+", "-", made["name"])[:40] or "laptop"
                stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
                path = folder / f"{name}-{stamp}.engage-enrol"
                path.write_bytes(data)
                made["file"] = path.name
        except InvalidInput as error:
            errors = show_error(error)
    return render_template("hub/enrol.html", made=made, errors=errors), 400 if errors else 200


@hub_bp.route("/enrol/files/<name>")
@roles_required(*STAFF)
def enrol_file(name):
    if not re.fullmatch(r"[A-Za-z0-9_-]+\.engage-enrol", name):
        abort(404)
    path = keys.key_dir() / "enrolment" / name
    if not path.exists():
        abort(404)
    return send_file(path, mimetype="application/octet-stream", as_attachment=True,
                     download_name=name)


@hub_bp.route("/conflicts", methods=["GET", "POST"])
@roles_required(*STAFF)
def conflicts():
    if request.method == "POST":
        try:
            hub.resolve_conflict(request.form.get("conflict_id", ""), g.user["id"],
                                 request.form.get("note"))
        except NotFound:
            flash(_("That conflict is already marked as dealt with."), "error")
        else:
            flash(_("The conflict is marked as dealt with."), "success")
        return redirect(url_for("hub.conflicts"), 303)
    show_all = request.args.get("all") == "1"
    return render_template("hub/conflicts.html", conflicts=hub.list_conflicts(not show_all),
                           show_all=show_all, explain=conflict_explanation)


@hub_bp.route("/import", methods=["GET", "POST"])
@roles_required(*STAFF)
def import_upload():
    errors = {}
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if not upload or not upload.filename:
                raise InvalidInput(_("Choose the CSV file the platform exported."), "file")
            token = online.save_upload(upload.read(), upload.filename)
        except InvalidInput as error:
            errors = show_error(error)
        else:
            return redirect(url_for("hub.import_map", token=token,
                                    conversation_id=request.form.get("conversation_id", "")), 303)
    return render_template("hub/import.html", conversations=list_conversations(),
                           errors=errors, online_ideas=online.list_online()[:50]), (
        400 if errors else 200)


@hub_bp.route("/import/<token>", methods=["GET", "POST"])
@roles_required(*STAFF)
def import_map(token):
    upload = online.load(token)
    form = request.form if request.method == "POST" else request.args
    guessed = online.guess_mapping(upload["header"])
    has_choice = any(f"map_{f}" in form for fields in online.FIELDS.values() for f in fields)
    mapping = {f: form.get(f"map_{f}", "") if has_choice else guessed.get(f, "")
               for f in set(online.FIELDS["ideas"] + online.FIELDS["votes"])}
    kind = form.get("kind") or online.guess_kind(guessed)
    language = form.get("language") or "en"
    conversation_id = form.get("conversation_id", "")
    try:
        top = max(0, min(100, int(form.get("top") or 10)))
    except ValueError:
        top = 10
    errors, preview = {}, []
    wanted = {f: mapping[f] for f in online.FIELDS.get(kind, ()) if mapping.get(f)}
    try:
        preview = online.mapped_rows(upload, wanted, kind, language, limit=10)
        if request.method == "POST":
            summary = online.import_file(token, conversation_id=conversation_id, mapping=wanted,
                                         kind=kind, language=language, top=top,
                                         imported_by=g.user["id"])
            flash(_("Imported %(rows)d rows. %(added)d ideas were added to the conversation, "
                    "so laptops will get them and forms can print them.", **summary),
                  "success")
            if summary["not_english"]:
                flash(_("%(num)d of the best supported ideas are not in English, so they were "
                        "not added. Add an English wording on the conversation page to use "
                        "them.", num=summary["not_english"]), "error")
            if summary["unknown_ideas"]:
                flash(_("Votes for %(num)d ideas were not counted: import the ideas file "
                        "first.", num=summary["unknown_ideas"]), "error")
            return redirect(url_for("hub.import_upload"), 303)
    except InvalidInput as error:
        errors = show_error(error) if request.method == "POST" or has_choice else {
            error.field or "_": error.message}
    return render_template(
        "hub/import_map.html", upload=upload, mapping=mapping, kind=kind, language=language,
        conversation_id=conversation_id, top=top, preview=preview, errors=errors,
        conversations=list_conversations(), fields=online.FIELDS,
        languages=[(c, locale_display_name(c)) for c in CONTENT_LANGUAGES],
    ), 400 if errors and request.method == "POST" else 200


@hub_bp.route("/export")
@roles_required(*STAFF)
def export_page():
    return render_template("hub/export.html", tables=exports.TABLES, formats=exports.FORMATS,
                           threshold=exports.DEFAULT_THRESHOLD)


@hub_bp.route("/export/<table>.<fmt>")
@roles_required(*STAFF)
def export_download(table, fmt):
    if table not in exports.TABLES or fmt not in exports.FORMATS:
        abort(404)
    try:
        threshold = max(0, min(100, int(request.args.get("threshold",
                                                         exports.DEFAULT_THRESHOLD))))
    except ValueError:
        threshold = exports.DEFAULT_THRESHOLD
    group = request.args.get("group", "conversation")
    if group not in ("conversation", "workshop"):
        abort(404)
    options = {"all_revisions": request.args.get("revisions") == "all", "demographics": True,
               "threshold": threshold, "group": group}
    mimetypes = {"csv": "text/csv", "jsonl": "application/x-ndjson",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    body = exports.stream(current_app.config["DATABASE"], table, fmt, **options)
    return Response(body, mimetype=mimetypes[fmt], headers={
        "Content-Disposition": f'attachment; filename="engage-hub-{table}.{fmt}"'})


def _json_pretty(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True)


@hub_bp.app_template_filter("pretty_json")
def _pretty_json(value):
    return _json_pretty(value)

"""Scanned paper forms: the upload page, the people-in-the-loop pages and ``engage scans``.

Facilitators see the scans of their own workshops; coordinators and admins see all, and
also the pages imported from the command line without a workshop.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import click
from flask import (
    Blueprint,
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
from flask.cli import with_appcontext
from flask_babel import get_locale
from flask_babel import gettext as _

from . import form_texts, vocab
from .data import conversations, scans, workshops
from .data.workshops import STAFF_WHO_SEE_ALL
from .db import new_id
from .forms import show_error
from .i18n import CONTENT_LANGUAGES, locale_display_name
from .security import csrf, login_required, roles_required
from .validation import InvalidInput, NotFound

bp = Blueprint("scans", __name__)

#: Keys that choose an answer on the review page, in the order of the options;
#: 0 is "no box is marked", x "cannot tell" and s "skip", so those letters are left out.
ANSWER_KEYS = "123456789abcdefghijklmnopqrtuvwyz"
_SHA = re.compile(r"^[0-9a-f]{64}$")
#: Marks a part of a page sent to the upload page's script, not a whole page.
_FRAGMENT = {"X-Scan-Results": "1"}


@bp.context_processor
def _helpers():
    return {
        "content_languages": [(c, locale_display_name(c)) for c in CONTENT_LANGUAGES],
        "language_name": locale_display_name,
        "reasons": scans.REASONS,
    }


def _may_use(workshop_id: str) -> bool:
    try:
        workshops.get_workshop_for(g.user, workshop_id)
    except NotFound:
        return False
    return True


def _staff() -> bool:
    return g.user["role"] in STAFF_WHO_SEE_ALL


# -- the overview and the upload -----------------------------------------------------------


@bp.route("/workshops/<workshop_id>/scans")
@login_required
def overview(workshop_id):
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    return render_template(
        "scans/index.html",
        workshop=workshop,
        summary=scans.workshop_summary(workshop_id),
        unassigned=len(scans.attention_pages(None)) if _staff() else 0,
        max_mb=current_app.config["SCAN_UPLOAD_MAX_BYTES"] // (1024 * 1024),
        extensions=scans.EXTENSIONS,
    )


@bp.route("/workshops/<workshop_id>/scans", methods=["POST"])
@csrf.exempt
@login_required
def upload(workshop_id):
    """Read the files sent; one file per request when the page's script sends them, so
    each shows its own progress. Sending the same files again changes nothing."""
    # Scans are large: the limit is raised here only, before anything reads the body,
    # and the form's token is checked after (CSRFProtect would read it at 1 MB).
    request.max_content_length = current_app.config["SCAN_UPLOAD_MAX_BYTES"]
    csrf.protect()
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    partial = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    uploads = [f for f in request.files.getlist("scans") if f and f.filename]
    if not uploads:
        message = _("Choose the scanned files to read: PDF, TIFF, JPEG or PNG.")
        if partial:
            return render_template("scans/_message.html", message=message), 400, _FRAGMENT
        flash(message, "error")
        return redirect(url_for("scans.overview", workshop_id=workshop_id), 303)
    folder = Path(current_app.instance_path) / "scans" / "incoming" / new_id()
    folder.mkdir(parents=True)
    try:
        items, refused = [], []
        for n, upload in enumerate(uploads):
            name = Path(upload.filename.replace("\\", "/")).name[:200] or "scan"
            suffix = Path(name).suffix.lower()
            if suffix not in scans.EXTENSIONS:
                refused.append(_file_refused(name))
                continue
            target = folder / f"{n}{suffix}"
            upload.save(target)
            items.append((target, name))
        report = scans.import_scan_files(items, workshop_id=workshop_id,
                                         imported_by=g.user["id"], may_use=_may_use)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report["files"] = refused + report["files"]
    current_app.logger.info("scans imported into %s: %s", workshop_id, report["totals"])
    summary = scans.workshop_summary(workshop_id)
    if partial:
        return render_template("scans/_results.html", report=report, workshop=workshop,
                               summary=summary), 200, _FRAGMENT
    return render_template("scans/uploaded.html", workshop=workshop, report=report,
                           summary=summary)


def _file_refused(name: str) -> dict:
    return {"file": name, "sha256": None, "status": "error", "error_type": "NotAScan",
            "error": str(scans.file_error_message("NotAScan", name)), "detail": "", "pages": []}


# -- review: one unclear box at a time -----------------------------------------------------


def _idea_texts(workshop: dict) -> dict:
    conversation = conversations.get_conversation(workshop["conversation_id"])
    return {i["id"]: i["text"] for i in conversation["ideas"]}


def _options_for(item: dict) -> list[dict]:
    """The buttons for an item: each option in the reader's language, with its key."""
    out = []
    question = next((q for q in vocab.DEMOGRAPHICS if q.name == item["key"]), None)
    for n, option in enumerate(item["options"]):
        value = option["value"]
        if item["kind"] == "idea":
            label = vocab.VOTES.get(value, value)
        elif item["kind"] == "demographic":
            stored = vocab.PREFER_NOT[0] if value == "prefer_not_to_say" else value
            label = question.label_for(stored) if question else value
        else:
            label = _("The consent box is marked")
        out.append({**option, "label": label, "key": ANSWER_KEYS[n]})
    return out


@bp.route("/workshops/<workshop_id>/scans/review")
@login_required
def review(workshop_id):
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    item = scans.next_review_item(workshop_id, request.args.get("after"))
    if item:
        item = scans.review_image(item)
    context = {"workshop": workshop, "item": item, "counts": scans.review_counts(workshop_id)}
    if item:
        context.update(options=_options_for(item), question=_question(workshop, item))
    return render_template("scans/review.html", **context)


def _question(workshop: dict, item: dict) -> dict:
    """The question in the reader's language, beside the words printed on the form."""
    lang = str(get_locale() or "en")
    if item["kind"] == "idea":
        texts = _idea_texts(workshop).get(item["key"]) or {}
        words = conversations.localised(texts, lang)[0]
    elif item["kind"] == "demographic":
        question = next((q for q in vocab.DEMOGRAPHICS if q.name == item["key"]), None)
        words = str(question.hint or question.label) if question else item["key"]
    else:
        words = str(form_texts.CONSENT)
    return {"words": words, "printed": item["printed"], "lang": lang}


@bp.route("/workshops/<workshop_id>/scans/review/<item_id>", methods=["POST"])
@login_required
def decide(workshop_id, item_id):
    workshops.get_workshop_for(g.user, workshop_id)
    try:
        scans.decide_review(workshop_id, item_id, request.form.get("decision", ""),
                            by=g.user["id"])
    except InvalidInput as error:
        show_error(error)
        return redirect(url_for("scans.review", workshop_id=workshop_id), 303)
    flash(_("Saved. Here is the next one."), "success")
    return redirect(url_for("scans.review", workshop_id=workshop_id), 303)


# -- transcription: one piece of handwriting at a time -------------------------------------


@bp.route("/workshops/<workshop_id>/scans/transcribe")
@login_required
def transcribe(workshop_id):
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    item = scans.next_transcription(workshop_id, request.args.get("after"))
    if item:
        item = scans.transcription_image(item)
    return render_template(
        "scans/transcribe.html",
        workshop=workshop,
        item=item,
        counts=scans.transcription_counts(workshop_id),
        prompt=_prompt_words(workshop, item) if item else "",
        errors={},
        values={},
    )


def _prompt_words(workshop: dict, item: dict) -> str:
    conversation = conversations.get_conversation(workshop["conversation_id"])
    lang = str(get_locale() or "en")
    for entry in conversation["prompts"] + conversation["ideas"]:
        if entry["id"] == item["prompt_id"]:
            return conversations.localised(entry["text"], lang)[0]
    return ""


@bp.route("/workshops/<workshop_id>/scans/transcribe/<transcription_id>", methods=["POST"])
@login_required
def save_transcription(workshop_id, transcription_id):
    workshops.get_workshop_for(g.user, workshop_id)
    action = request.form.get("action", "save")
    try:
        if action in ("illegible", "empty"):
            scans.set_transcription_status(workshop_id, transcription_id, action,
                                           by=g.user["id"])
            flash(_("Noted: nothing was saved from it.") if action == "empty"
                  else _("Noted as impossible to read: nothing was saved from it."), "success")
        else:
            scans.save_transcription(workshop_id, transcription_id, request.form,
                                     by=g.user["id"])
            flash(_("Saved as their idea. Here is the next one."), "success")
    except InvalidInput as error:
        return _transcribe_again(workshop_id, transcription_id, error)
    return redirect(url_for("scans.transcribe", workshop_id=workshop_id), 303)


def _transcribe_again(workshop_id, transcription_id, error: InvalidInput):
    """The same item shown again with what was typed, and what to put right."""
    errors = show_error(error)
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    try:
        item = scans.get_transcription(workshop_id, transcription_id)
    except NotFound:
        abort(404)
    if item["status"] != "queued":
        return redirect(url_for("scans.transcribe", workshop_id=workshop_id), 303)
    item = scans.transcription_image(item)
    return render_template(
        "scans/transcribe.html", workshop=workshop, item=item,
        counts=scans.transcription_counts(workshop_id), prompt=_prompt_words(workshop, item),
        errors=errors, values=request.form,
    ), 400


# -- needs attention -----------------------------------------------------------------------


@bp.route("/workshops/<workshop_id>/scans/attention")
@login_required
def attention(workshop_id):
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    return render_template("scans/attention.html", workshop=workshop,
                           pages=scans.attention_pages(workshop_id), choices=[])


@bp.route("/scans/unassigned")
@roles_required(*STAFF_WHO_SEE_ALL)
def unassigned():
    """Pages imported from the command line with no workshop to list them under."""
    return render_template("scans/attention.html", workshop=None,
                           pages=scans.attention_pages(None),
                           choices=workshops.list_workshops_for(g.user))


@bp.route("/workshops/<workshop_id>/scans/attention/<page_id>", methods=["POST"])
@login_required
def resolve(workshop_id, page_id):
    workshops.get_workshop_for(g.user, workshop_id)
    _resolve(page_id, workshop_id)
    return redirect(url_for("scans.attention", workshop_id=workshop_id), 303)


@bp.route("/scans/unassigned/<page_id>", methods=["POST"])
@roles_required(*STAFF_WHO_SEE_ALL)
def resolve_unassigned(page_id):
    _resolve(page_id, None)
    return redirect(url_for("scans.unassigned"), 303)


def _resolve(page_id: str, workshop_id: str | None) -> None:
    action = request.form.get("action", "")
    by = g.user["id"]
    try:
        if action == "ignore":
            scans.ignore_page(page_id, workshop_id, by=by)
            flash(_("Set aside. The page is kept, but nothing is saved from it."), "success")
        elif action == "consent":
            scans.consent_marked(page_id, workshop_id, by=by)
            flash(_("Consent recorded, and the sheet's answers saved."), "success")
        elif action == "by_eye":
            scans.read_by_eye(page_id, workshop_id, by=by, form_id=request.form.get("form_id"),
                              serial=request.form.get("serial"),
                              page_number=request.form.get("page"), may_use=_may_use)
            flash(_("The page's questions are waiting for you to check them, one by one."),
                  "success")
        elif action == "workshop" and workshop_id is None:
            target = request.form.get("workshop_id", "")
            if not _may_use(target):
                raise InvalidInput(_("Choose one of the workshops."), "workshop_id")
            scans.assign_workshop(page_id, target, by=by, may_use=_may_use)
            flash(_("The page is now part of that workshop."), "success")
        else:
            abort(400)
    except InvalidInput as error:
        show_error(error)


# -- images --------------------------------------------------------------------------------


@bp.route("/scans/images/<sha256>")
@login_required
def image(sha256):
    """A page or a crop, for those who may see the workshop it belongs to."""
    if not _SHA.match(sha256):
        abort(404)
    allowed = False
    for workshop_id in scans.image_workshops(sha256):
        if (workshop_id is None and _staff()) or (workshop_id and _may_use(workshop_id)):
            allowed = True
            break
    path = scans.media_file(sha256)
    if not allowed or not path.exists():
        abort(404)
    return send_file(path, mimetype=scans.image_type(sha256), max_age=0)


@bp.route("/scans/pages/<page_id>/image")
@login_required
def page_image(page_id):
    """A scanned page, made from the kept original when first asked for, for those who
    may see its workshop (a page with no workshop yet: coordinators and admins)."""
    try:
        page = scans.get_page(page_id)
    except NotFound:
        abort(404)
    workshop_id = page["workshop_id"]
    if not ((workshop_id is None and _staff()) or (workshop_id and _may_use(workshop_id))):
        abort(404)
    sha256 = scans.page_image(page_id)
    if sha256 is None:
        abort(404)
    return send_file(scans.media_file(sha256), mimetype="image/jpeg", max_age=0)


# -- the command line ----------------------------------------------------------------------

scans_cli = click.Group("scans", help="Read scanned paper forms into contributions.")


@scans_cli.command("import")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--workshop", "workshop_id",
              help="Workshop for forms printed for a conversation only, and for pages that "
                   "cannot be identified.")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was found in every file and page as JSON.")
@with_appcontext
def import_cmd(paths, workshop_id, as_json):
    """Read scans (PDF, TIFF, JPEG or PNG files, or folders of them).

    The same file, or the same sheet's page, imported again changes nothing. Exits
    with 1 when any file could not be read; the rest are imported all the same.
    """
    bar = None
    show_bar = sys.stderr.isatty()

    def progress(done: int, total: int, name: str) -> None:
        nonlocal bar
        if not show_bar:
            return
        if bar is None:
            bar = click.progressbar(length=total, label="Reading scans", file=sys.stderr,
                                    show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        report = scans.import_scan_files(list(paths), workshop_id=workshop_id,
                                         progress=progress)
    except NotFound:
        raise click.ClickException(f"There is no workshop {workshop_id}.") from None
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        for entry in report["files"]:
            click.echo(_describe(entry))
        totals = report["totals"]
        click.echo(
            f"{totals['files']} files, {totals['pages']} pages: "
            f"{totals.get('imported', 0)} imported, {totals.get('waiting', 0)} waiting for "
            f"their sheet's consent, {totals.get('attention', 0)} need a person, "
            f"{totals['file_errors']} files not read."
        )
    if report["totals"]["file_errors"]:
        sys.exit(1)


def _describe(entry: dict) -> str:
    if entry["status"] == "error":
        return f"{entry['file']}: {entry['error']} ({entry['detail']})"
    if entry["status"] == "already_imported" and not entry["pages"]:
        return f"{entry['file']}: already imported; nothing changed."
    lines = [f"{entry['file']}:"]
    for page in entry["pages"]:
        where = (f"form {page.get('form_id')} sheet {page.get('serial')} page {page.get('page')}"
                 if page.get("form_id") else "unidentified")
        boxes = page.get("boxes") or {}
        line = (f"  page {page['page_index'] + 1}: {page['status']}, {where}")
        if boxes:
            line += (f", {boxes.get('marked', 0)} marked, {boxes.get('blank', 0)} blank, "
                     f"{boxes.get('uncertain', 0)} unclear, {page.get('areas_queued', 0)} "
                     "writing areas queued")
        if page.get("reason_code"):
            line += f" ({page['reason_code']})"
        lines.append(line)
    return "\n".join(lines)

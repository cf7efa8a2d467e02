"""Facilitators' pages: workshops and the keyboard-first capture screen."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _

from . import vocab
from .data import contributions, conversations, participants, workshops
from .forms import show_error
from .i18n import CONTENT_LANGUAGES, locale_display_name
from .security import login_required, sees_demographics
from .sync.laptop import restored_found_at
from .turns import one_at_a_time
from .validation import InvalidInput

bp = Blueprint("facilitator", __name__, url_prefix="/workshops")

CHANNEL = "facilitator"


@bp.context_processor
def _helpers():
    return {
        "content_languages": [(c, locale_display_name(c)) for c in CONTENT_LANGUAGES],
        "language_name": locale_display_name,
        "localised": conversations.localised,
        "vocab": vocab,
    }


@bp.route("/")
@login_required
def workshop_list():
    return render_template(
        "facilitator/workshops.html", workshops=workshops.list_workshops_for(g.user),
        restored_found_at=None if current_app.config.get("HUB") else restored_found_at(),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new_workshop():
    errors = {}
    if request.method == "POST":
        try:
            created = workshops.create_workshop(
                request.form.get("conversation_id", ""),
                title=request.form.get("title", ""),
                date=request.form.get("date", ""),
                postcode=request.form.get("postcode_district", ""),
                tags=request.form.get("tags", ""),
                languages=request.form.getlist("languages"),
                created_by=g.user["id"],
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            flash(_("The workshop is ready. Add the first participant."), "success")
            return redirect(url_for("facilitator.workshop", workshop_id=created["id"]))
    return (
        render_template(
            "facilitator/workshop_new.html",
            conversations=conversations.list_conversations(),
            errors=errors,
        ),
        400 if errors else 200,
    )


@bp.route("/<workshop_id>")
@login_required
def workshop(workshop_id):
    found = workshops.get_workshop_for(g.user, workshop_id)
    return render_template(
        "facilitator/workshop.html",
        workshop=found,
        participants=participants.list_participants(workshop_id),
    )


@bp.route("/<workshop_id>/facilitators", methods=["POST"])
@login_required
def add_facilitator(workshop_id):
    workshops.get_workshop_for(g.user, workshop_id)
    try:
        workshops.add_facilitator(workshop_id, request.form.get("username", ""))
    except InvalidInput as error:
        show_error(error)
    else:
        flash(_("They can now open this workshop."), "success")
    return redirect(url_for("facilitator.workshop", workshop_id=workshop_id))


@bp.route("/<workshop_id>/participants", methods=["POST"])
@one_at_a_time
@login_required
def add_participant(workshop_id):
    workshops.get_workshop_for(g.user, workshop_id)
    try:
        person = participants.add_participant(
            workshop_id,
            channel=CHANNEL,
            language=request.form.get("language", "en"),
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
        )
    except InvalidInput as error:
        show_error(error)
        return redirect(url_for("facilitator.workshop", workshop_id=workshop_id))
    flash(_("Participant %(code)s added.", code=person["code"]), "success")
    return redirect(
        url_for("facilitator.participant", workshop_id=workshop_id, participant_id=person["id"])
    )


def _participant_page(workshop_id, participant_id, errors=None, status=200):
    found = workshops.get_workshop_for(g.user, workshop_id)
    person = participants.get_participant(workshop_id, participant_id)
    conv = conversations.get_conversation(found["conversation_id"])
    votes = {
        c["idea_id"]: c
        for c in contributions.list_for_participant(participant_id)
        if c["kind"] == "vote"
    }
    return (
        render_template(
            "facilitator/participant.html",
            workshop=found,
            participant=person,
            conversation=conv,
            entries=contributions.list_for_participant(participant_id),
            votes=votes,
            exposed=contributions.exposed_idea_ids(participant_id),
            show_demographics=sees_demographics(g.user),
            undo=session.get("undo"),
            errors=errors or {},
        ),
        status,
    )


@bp.route("/<workshop_id>/participants/<participant_id>")
@login_required
def participant(workshop_id, participant_id):
    return _participant_page(workshop_id, participant_id)


def _saved(workshop_id, participant_id, message, revision_id=None, anchor=""):
    """Confirm a save that is already committed, and offer to undo it."""
    flash(message, "success")
    # The anchor lets the page show the confirmation and its undo where the save lands.
    session["undo"] = (
        {"revision_id": revision_id, "participant_id": participant_id, "anchor": anchor}
        if revision_id
        else None
    )
    target = url_for(
        "facilitator.participant", workshop_id=workshop_id, participant_id=participant_id
    )
    return redirect(target + (f"#{anchor}" if anchor else ""))


def _wants_json() -> bool:
    """The capture page's script asks for JSON: it shows the confirmation in place, so
    there is no message to keep in the session and no page to send back."""
    return request.headers.get("Accept", "").startswith("application/json")


def _saved_json(participant_id, saved, message):
    """What the capture page's script needs to confirm a save, offer its undo and show
    it among what the participant has said, without loading the page again. The page
    itself holds the words around it (labels, links), so a save translates only its
    confirmation."""
    kind = saved.get("kind")
    entry = None
    if kind:
        entry = {
            key: saved.get(key)
            for key in ("id", "kind", "text", "language", "translation", "vote", "revision")
        }
    return _json(
        saved=True,
        message=str(message),
        undo={"revision_id": saved["revision_id"], "participant_id": participant_id}
        if kind
        else None,
        entry=entry,
    )


def _json(**fields) -> Response:
    """A small JSON answer for the capture page's script, made directly (a third of
    the cost of ``jsonify``, which a save in place pays on every keypress)."""
    return Response(json.dumps(fields, ensure_ascii=False, separators=(",", ":")),
                    mimetype="application/json")


def _capture(workshop_id, participant_id, save, message, anchor="", text_field=None):
    """Run one save for this participant; a refused one re-shows the page, saving nothing.

    ``text_field`` names the box a refused text belongs to, where several forms on the
    page have a box called "text". The capture page's script gets JSON instead.
    """
    workshops.check_access(g.user, workshop_id)
    try:
        saved = save()
    except InvalidInput as error:
        if text_field and error.field == "text":
            error.field = text_field
        if _wants_json():
            return _json(saved=False, field=error.field, message=str(error.message)), 400
        return _participant_page(workshop_id, participant_id, show_error(error), 400)
    if _wants_json():
        if session.get("undo"):
            # An undo offered after an earlier page load is no longer the last entry.
            session["undo"] = None
        return _saved_json(participant_id, saved, message)
    revision_id = saved.get("revision_id") if "kind" in saved else None
    return _saved(workshop_id, participant_id, message, revision_id, anchor)


@bp.route("/<workshop_id>/participants/<participant_id>/consent", methods=["POST"])
@one_at_a_time
@login_required
def consent(workshop_id, participant_id):
    agreed = request.form.get("consent") == "yes"
    return _capture(
        workshop_id,
        participant_id,
        lambda: participants.record_consent(
            workshop_id,
            participant_id,
            agreed,
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
        ),
        _("Consent recorded.") if agreed else _("Recorded that they did not consent."),
        # No fragment once they agree: a fragment would stop the idea box's autofocus.
        "" if agreed else "consent",
    )


@bp.route("/<workshop_id>/participants/<participant_id>/demographics", methods=["POST"])
@one_at_a_time
@login_required
def demographics(workshop_id, participant_id):
    return _capture(
        workshop_id,
        participant_id,
        lambda: participants.record_demographics(
            workshop_id,
            participant_id,
            request.form,
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
            keep_unanswered=not sees_demographics(g.user),
        ),
        _("About them: saved. Only coordinators can see these answers."),
        "demographics",
    )


@bp.route("/<workshop_id>/participants/<participant_id>/ideas", methods=["POST"])
@one_at_a_time
@login_required
def add_idea(workshop_id, participant_id):
    return _capture(
        workshop_id,
        participant_id,
        lambda: contributions.add_idea(
            workshop_id,
            participant_id,
            request.form,
            channel=CHANNEL,
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
        ),
        _("Idea saved."),
        "new-idea",
    )


@bp.route("/<workshop_id>/participants/<participant_id>/ideas/<idea_id>/comments", methods=["POST"])
@one_at_a_time
@login_required
def add_comment(workshop_id, participant_id, idea_id):
    return _capture(
        workshop_id,
        participant_id,
        lambda: contributions.add_comment(
            workshop_id,
            participant_id,
            idea_id,
            request.form,
            channel=CHANNEL,
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
        ),
        _("Comment saved."),
        f"idea-{idea_id}",
        text_field=f"comment-{idea_id}",
    )


@bp.route("/<workshop_id>/participants/<participant_id>/ideas/<idea_id>/vote", methods=["POST"])
@one_at_a_time
@login_required
def vote(workshop_id, participant_id, idea_id):
    choice = request.form.get("vote")
    label = vocab.VOTES.get(choice, "")
    return _capture(
        workshop_id,
        participant_id,
        lambda: contributions.record_vote(
            workshop_id,
            participant_id,
            idea_id,
            choice,
            channel=CHANNEL,
            entered_by=g.user["id"],
            submission_id=request.form.get("submission_id"),
        ),
        _("Vote saved: %(vote)s.", vote=label),
        f"idea-{idea_id}",
    )


@bp.route("/<workshop_id>/participants/<participant_id>/exposure", methods=["POST"])
@one_at_a_time
@login_required
def exposure(workshop_id, participant_id):
    found = workshops.get_workshop_for(g.user, workshop_id)
    participants.get_participant(workshop_id, participant_id)
    conv = conversations.get_conversation(found["conversation_id"])
    contributions.record_exposure(
        workshop_id,
        participant_id,
        [i["id"] for i in conv["ideas"]],
        channel=CHANNEL,
        entered_by=g.user["id"],
    )
    return _saved(
        workshop_id, participant_id, _("Recorded that every idea was shown."), anchor="ideas"
    )


@bp.route("/<workshop_id>/undo", methods=["POST"])
@one_at_a_time
@login_required
def undo(workshop_id):
    workshops.get_workshop_for(g.user, workshop_id)
    participant_id = request.form.get("participant_id", "")
    try:
        contributions.undo(
            workshop_id, request.form.get("revision_id", ""), entered_by=g.user["id"]
        )
    except InvalidInput as error:
        show_error(error)
    else:
        flash(_("Undone. The entry is kept in the history but no longer counts."), "success")
    session["undo"] = None
    return redirect(
        url_for("facilitator.participant", workshop_id=workshop_id, participant_id=participant_id)
    )


@bp.route("/<workshop_id>/contributions/<record_id>", methods=["GET", "POST"])
@login_required
def edit_contribution(workshop_id, record_id):
    found = workshops.get_workshop_for(g.user, workshop_id)
    entry = contributions.get_contribution(workshop_id, record_id)
    errors = {}
    if request.method == "POST":
        try:
            saved = contributions.correct_contribution(
                workshop_id,
                record_id,
                request.form,
                expected_revision_id=request.form.get("revision_id"),
                entered_by=g.user["id"],
                submission_id=request.form.get("submission_id"),
            )
        except InvalidInput as error:
            errors = show_error(error)
        else:
            return _saved(
                workshop_id,
                entry["participant_id"],
                _("Correction saved. The earlier version is kept in the history."),
                saved["revision_id"],
            )
    conv = conversations.get_conversation(found["conversation_id"])
    return (
        render_template(
            "facilitator/contribution_edit.html",
            workshop=found,
            entry=entry,
            conversation=conv,
            ideas={i["id"]: i for i in conv["ideas"]},
            history=contributions.revision_history(workshop_id, record_id),
            errors=errors,
        ),
        400 if errors else 200,
    )

"""The participant kiosk: large text, one thing per screen, the participant's language.

A facilitator turns a workshop's laptop into a kiosk. While it is on, the browser's
session holds no staff sign-in at all, so staff pages are out of reach; only a
facilitator's (or coordinator's) password turns it off again.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
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
from flask_babel import lazy_gettext as _l

from . import vocab
from .data import contributions, conversations, kiosks, participants, users, workshops
from .i18n import CONTENT_LANGUAGES, SUPPORTED_LOCALES, locale_display_name, text_direction
from .security import login_required
from .validation import InvalidInput

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk")

CHANNEL = "kiosk"
#: Endpoints a kiosk may show; everything else sends the visitor back to the kiosk.
OPEN_ENDPOINTS = {"static", "fonts.font"}

CONSENT_TEXT = _l(
    "What you tell us will help write the national plan for health and care. We do not "
    "ask for your name. You can skip any question and stop at any time."
)
CONSENT_TEXT_EASY = _l(
    "We want to know what you think about health and care. We will not ask your name. "
    "You can stop at any time."
)


def kiosk_state() -> dict | None:
    return session.get("kiosk")


def participant_state() -> dict:
    return session.setdefault("kiosk_participant", {})


def kiosk_locale() -> str | None:
    """The language the participant picked, for the locale selector."""
    state = session.get("kiosk_participant") or {}
    lang = state.get("lang")
    return lang if lang in SUPPORTED_LOCALES else None


def _forget_participant() -> None:
    session["kiosk_participant"] = {}


@bp.before_app_request
def confine_to_kiosk():
    """While a kiosk is on, every other page leads back to it; idle sessions are forgotten."""
    state = kiosk_state()
    if not state:
        return None
    g.kiosk = state
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not (request.endpoint or "").startswith("kiosk."):
        return redirect(url_for("kiosk.start"))
    person = participant_state()
    now = time.time()
    # The page's own timer resets the kiosk after KIOSK_IDLE_SECONDS; this is the backstop
    # for a browser without scripts, generous so a slow writer never loses their words.
    idle = current_app.config["KIOSK_IDLE_SECONDS"] * 4
    if person.get("last") and now - person["last"] > idle and request.endpoint != "kiosk.leave":
        _forget_participant()
        if request.endpoint != "kiosk.start":
            return redirect(url_for("kiosk.start"))
    participant_state()["last"] = now
    session.modified = True
    return None


@bp.route("/begin/<workshop_id>", methods=["POST"])
@login_required
def begin(workshop_id):
    """A facilitator turns this browser into a kiosk for one workshop."""
    workshop = workshops.get_workshop_for(g.user, workshop_id)
    kiosk = kiosks.start_kiosk(workshop["id"], g.user["id"])
    session.clear()
    session["kiosk"] = {"id": kiosk["id"], "workshop_id": workshop["id"]}
    session["kiosk_participant"] = {}
    return redirect(url_for("kiosk.start"))


def _require_kiosk():
    state = kiosk_state()
    if not state:
        abort(404)
    return state


def _workshop_and_conversation():
    state = _require_kiosk()
    workshop = kiosks.kiosk_workshop(state["workshop_id"])
    return workshop, conversations.get_conversation(workshop["conversation_id"])


def _render(template, **context):
    person = participant_state()
    return render_template(
        template,
        person=person,
        easy=person.get("easy", False),
        idle_seconds=current_app.config["KIOSK_IDLE_SECONDS"],
        **context,
    )


def _text(texts_standard, texts_easy, lang, easy):
    """Easy-read wording when chosen and written; otherwise the standard text."""
    if easy:
        text, fallback = conversations.localised(texts_easy, lang)
        if text and not fallback:
            return text, False
    text, fallback = conversations.localised(texts_standard, lang)
    if easy and fallback:
        easy_en, _unused = conversations.localised(texts_easy, "en")
        if easy_en:
            return easy_en, True
    return text, fallback


def _steps(conv) -> list[tuple[str, int]]:
    """The screens of the flow after consent, in order."""
    steps = [("about", n) for n in range(len(vocab.DEMOGRAPHICS) + 1)]
    steps += [("prompt", n) for n in range(len(conv["prompts"]))]
    steps += [("idea", n) for n in range(len(conv["ideas"]))]
    steps.append(("more", 0))
    return steps


def _next_url(conv, current: tuple[str, int]) -> str:
    steps = _steps(conv)
    index = steps.index(current) + 1
    if index >= len(steps):
        return url_for("kiosk.thanks")
    kind, n = steps[index]
    return url_for(f"kiosk.{kind}", n=n) if kind != "more" else url_for("kiosk.more")


def _progress(conv, current) -> dict:
    steps = _steps(conv)
    return {"step": steps.index(current) + 1, "total": len(steps)}


def _participant_id() -> str | None:
    return participant_state().get("participant_id")


@bp.route("/")
def start():
    _require_kiosk()
    workshop, _conv = _workshop_and_conversation()
    first = [c for c in workshop["languages"] if c in SUPPORTED_LOCALES]
    rest = [c for c in SUPPORTED_LOCALES if c not in first]
    options = [(c, locale_display_name(c), text_direction(c)) for c in first + rest]
    return _render("kiosk/start.html", options=options)


@bp.route("/language", methods=["POST"])
def language():
    _require_kiosk()
    lang = request.form.get("lang")
    if lang not in SUPPORTED_LOCALES or lang not in CONTENT_LANGUAGES:
        flash(_("Please choose one of the languages."), "error")
        return redirect(url_for("kiosk.start"))
    _forget_participant()
    participant_state().update({"lang": lang, "last": time.time()})
    session.modified = True
    return redirect(url_for("kiosk.wording"))


@bp.route("/wording", methods=["GET", "POST"])
def wording():
    _require_kiosk()
    if "lang" not in participant_state():
        return redirect(url_for("kiosk.start"))
    if request.method == "POST":
        participant_state()["easy"] = request.form.get("wording") == "easy"
        session.modified = True
        return redirect(url_for("kiosk.consent"))
    return _render("kiosk/wording.html")


@bp.route("/consent", methods=["GET", "POST"])
def consent():
    state = _require_kiosk()
    person = participant_state()
    if "lang" not in person:
        return redirect(url_for("kiosk.start"))
    if request.method == "POST":
        if request.form.get("consent") != "yes":
            _forget_participant()
            return redirect(url_for("kiosk.thanks", declined=1))
        if not person.get("participant_id"):
            created = participants.add_participant(
                state["workshop_id"],
                channel=CHANNEL,
                language=person["lang"],
                entered_by=None,
                submission_id=request.form.get("submission_id"),
                kiosk_id=state["id"],
            )
            participants.record_consent(
                state["workshop_id"], created["id"], True, entered_by=None, kiosk_id=state["id"]
            )
            person["participant_id"] = created["id"]
            session.modified = True
        return redirect(url_for("kiosk.about", n=0))
    return _render(
        "kiosk/consent.html", consent_text=CONSENT_TEXT_EASY if person.get("easy") else CONSENT_TEXT
    )


def _step(kind: str, n: int, count, save, template: str, context=None):
    """One screen of the flow: show it, or save its answer (unless skipped) and go on.

    ``count(conv)`` is how many screens of this kind there are and ``context(conv)`` what
    the template needs. A refused answer shows the same screen again with the reason,
    and nothing is saved.
    """
    state = _require_kiosk()
    if not _participant_id():
        return redirect(url_for("kiosk.start"))
    _workshop, conv = _workshop_and_conversation()
    if n >= count(conv):
        abort(404)
    error = None
    if request.method == "POST":
        skipped = request.form.get("action") == "skip" or request.form.get("vote") == "skip"
        try:
            save(state, conv, skipped)
        except InvalidInput as refused:
            error = refused.message
        else:
            return redirect(_next_url(conv, (kind, n)))
    return _render(
        template,
        n=n,
        error=error,
        progress=_progress(conv, (kind, n)),
        **(context(conv) if context else {}),
    ), (400 if error else 200)


def _provenance(state) -> dict:
    """What every save from the kiosk carries: no staff member, this kiosk, this form."""
    return {
        "entered_by": None,
        "kiosk_id": state["id"],
        "submission_id": request.form.get("submission_id"),
    }


def _item_text(item) -> dict:
    person = participant_state()
    text, fallback = _text(item["text"], item["easy_read"], person["lang"], person.get("easy"))
    return {"text": text, "fallback": fallback}


def _new_idea(state, prompt_id=None) -> None:
    contributions.add_idea(
        state["workshop_id"],
        _participant_id(),
        {
            "text": request.form.get("text"),
            "language": participant_state()["lang"],
            "prompt_id": prompt_id,
        },
        channel=CHANNEL,
        **_provenance(state),
    )


@bp.route("/about/<int:n>", methods=["GET", "POST"])
def about(n):
    question = vocab.DEMOGRAPHICS[n] if n < len(vocab.DEMOGRAPHICS) else None
    name = question.name if question else "postcode_district"

    def save(state, _conv, skipped):
        if not skipped:
            participants.record_demographics(
                state["workshop_id"],
                _participant_id(),
                {name: request.form.get(name)},
                keep_unanswered=True,
                **_provenance(state),
            )

    return _step(
        "about",
        n,
        lambda _conv: len(vocab.DEMOGRAPHICS) + 1,
        save,
        "kiosk/about.html",
        lambda _conv: {"question": question},
    )


@bp.route("/question/<int:n>", methods=["GET", "POST"])
def prompt(n):
    def save(state, conv, skipped):
        if not skipped:
            _new_idea(state, conv["prompts"][n]["id"])

    return _step(
        "prompt",
        n,
        lambda conv: len(conv["prompts"]),
        save,
        "kiosk/prompt.html",
        lambda conv: _item_text(conv["prompts"][n]),
    )


@bp.route("/idea/<int:n>", methods=["GET", "POST"])
def idea(n):
    def save(state, conv, skipped):
        item = conv["ideas"][n]
        if skipped:  # shown, though not answered
            contributions.record_exposure(
                state["workshop_id"],
                _participant_id(),
                [item["id"]],
                channel=CHANNEL,
                entered_by=None,
            )
        else:
            contributions.record_vote(
                state["workshop_id"],
                _participant_id(),
                item["id"],
                request.form.get("vote"),
                channel=CHANNEL,
                **_provenance(state),
            )

    return _step(
        "idea",
        n,
        lambda conv: len(conv["ideas"]),
        save,
        "kiosk/idea.html",
        lambda conv: {
            **_item_text(conv["ideas"][n]),
            "total": len(conv["ideas"]),
            "vocab_votes": list(vocab.VOTES.items()),
        },
    )


@bp.route("/more", methods=["GET", "POST"])
def more():
    def save(state, _conv, skipped):
        if not skipped:
            _new_idea(state)

    return _step("more", 0, lambda _conv: 1, save, "kiosk/more.html")


@bp.route("/thanks")
def thanks():
    _require_kiosk()
    lang = participant_state().get("lang")
    _forget_participant()
    if lang:  # keep the thank-you in their language; the next person starts afresh
        participant_state()["lang"] = lang
        participant_state()["done"] = True
    return _render("kiosk/thanks.html", declined=request.args.get("declined") == "1")


@bp.route("/next", methods=["POST"])
def next_person():
    _require_kiosk()
    _forget_participant()
    return redirect(url_for("kiosk.start"))


@bp.route("/leave", methods=["GET", "POST"])
def leave():
    state = _require_kiosk()
    failed = False
    if request.method == "POST":
        try:
            user = users.authenticate(
                request.form.get("username", ""), request.form.get("password", "")
            )
        except users.LoginThrottled:
            user = None
        if user and kiosks.may_end(user, state["workshop_id"]):
            kiosks.end_kiosk(state["id"])
            session.clear()
            session["user_id"] = user["id"]
            flash(_("The kiosk is off."), "success")
            return redirect(url_for("facilitator.workshop", workshop_id=state["workshop_id"]))
        failed = True
    return _render("kiosk/leave.html", failed=failed), (401 if failed else 200)

"""Anonymous participants: a code, a channel, consent and optional demographics."""

from __future__ import annotations

import secrets

from flask_babel import lazy_gettext as _l

from .. import vocab
from ..db import get_db, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..validation import InvalidInput, NotFound, choice, postcode_district
from .revisions import by_submission, current_revision, current_where, insert_first, revise

# No 0/O, 1/I/L, 5/S or 2/Z, so a code read aloud or handwritten is not mistaken.
_CODE_ALPHABET = "346789ACDEFGHJKMNPQRTUVWXY"


def _new_code(workshop_id: str) -> str:
    db = get_db()
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(5))
        if not db.execute(
            "select 1 from participants where workshop_id = ? and code = ?", [workshop_id, code]
        ).fetchone():
            return code


def add_participant(
    workshop_id: str,
    *,
    channel: str,
    language: str,
    entered_by: str | None,
    submission_id: str | None = None,
    kiosk_id: str | None = None,
) -> dict:
    """Add an anonymous participant; resending the same form returns the same one."""
    choice(channel, vocab.CHANNELS, field="channel", required=True)
    language = choice(language or "en", CONTENT_LANGUAGES, field="language", required=True)
    db = get_db()
    with db.atomic():
        existing = by_submission("participants", submission_id)
        if existing:
            return existing
        if not db.execute("select 1 from workshops where id = ?", [workshop_id]).fetchone():
            raise NotFound(workshop_id)
        return insert_first(
            "participants",
            {
                "workshop_id": workshop_id,
                "code": _new_code(workshop_id),
                "channel": channel,
                "language": language,
                "consent": 0,
                "consent_at": None,
                "kiosk_id": kiosk_id,
            },
            entered_by=entered_by,
            submission_id=submission_id,
        )


def get_participant(workshop_id: str, participant_id: str) -> dict:
    """The latest revision of a participant of this workshop."""
    try:
        row = current_revision("participants", participant_id)
    except NotFound:
        raise
    if row["workshop_id"] != workshop_id:
        raise NotFound(participant_id)
    return row


def list_participants(workshop_id: str) -> list[dict]:
    return list(
        get_db().query(
            "select p.*, (select count(*) from contributions c where c.participant_id = p.id"
            f" and c.status = 'active' and {current_where('c', 'contributions')}) as contributions"
            f" from participants p where p.workshop_id = ? and {current_where('p', 'participants')}"
            " order by p.created_at",
            [workshop_id],
        )
    )


def record_consent(
    workshop_id: str,
    participant_id: str,
    consent: bool,
    *,
    entered_by: str | None,
    submission_id: str | None = None,
    kiosk_id: str | None = None,
) -> dict:
    db = get_db()
    with db.atomic():
        existing = by_submission("participants", submission_id)
        if existing:
            return existing
        get_participant(workshop_id, participant_id)
        return revise(
            "participants",
            participant_id,
            {"consent": 1 if consent else 0, "consent_at": utc_now(), "kiosk_id": kiosk_id},
            entered_by=entered_by,
            submission_id=submission_id,
        )


def record_demographics(
    workshop_id: str,
    participant_id: str,
    answers: dict,
    *,
    entered_by: str | None,
    expected_revision_id: str | None = None,
    submission_id: str | None = None,
    keep_unanswered: bool = False,
    kiosk_id: str | None = None,
) -> dict:
    """Save the optional answers; a question left blank is stored as not answered.

    With ``keep_unanswered`` a blank keeps the earlier answer: facilitators cannot see
    saved answers, so a blank from them means "not asked now", not "clear it".
    """
    changes = {}
    for question in vocab.DEMOGRAPHICS:
        changes[question.name] = choice(
            answers.get(question.name), question.values, field=question.name
        )
    raw_postcode = (answers.get("postcode_district") or "").strip()
    if raw_postcode.lower() in ("prefer_not", "prefer not to say"):
        changes["postcode_district"] = "prefer_not"
    else:
        changes["postcode_district"] = postcode_district(raw_postcode, required=False)
    db = get_db()
    with db.atomic():
        existing = by_submission("participants", submission_id)
        if existing:
            return existing
        participant = get_participant(workshop_id, participant_id)
        if not participant["consent"]:
            raise InvalidInput(_l("Record the participant's consent first."), "consent")
        if keep_unanswered:
            changes = {k: v for k, v in changes.items() if v is not None}
        changes["kiosk_id"] = kiosk_id
        return revise(
            "participants",
            participant_id,
            changes,
            entered_by=entered_by,
            expected_revision_id=expected_revision_id,
            submission_id=submission_id,
        )

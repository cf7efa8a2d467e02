"""Ideas, comments and votes, each saved durably, corrected by revision, never lost."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import vocab
from ..db import device_id, get_db, new_id, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..validation import InvalidInput, NotFound, choice, text
from .participants import get_participant
from .revisions import by_submission, current_revision, current_where, insert_first, revise


def _consenting_participant(workshop_id: str, participant_id: str) -> dict:
    participant = get_participant(workshop_id, participant_id)
    if not participant["consent"]:
        raise InvalidInput(
            _l("Record the participant's consent before saving what they say."), "consent"
        )
    return participant


def _idea_of_workshop(workshop_id: str, idea_id: str | None) -> str:
    found = (
        get_db()
        .execute(
            "select 1 from ideas i join workshops w on w.conversation_id = i.conversation_id"
            " where i.id = ? and w.id = ?",
            [idea_id or "", workshop_id],
        )
        .fetchone()
    )
    if not found:
        raise InvalidInput(_l("That idea is not part of this workshop's conversation."), "idea_id")
    return idea_id


def _prompt_of_workshop(workshop_id: str, prompt_id: str | None) -> str | None:
    if not prompt_id:
        return None
    found = (
        get_db()
        .execute(
            "select 1 from prompts p join workshops w on w.conversation_id = p.conversation_id"
            " where p.id = ? and w.id = ?",
            [prompt_id, workshop_id],
        )
        .fetchone()
    )
    if not found:
        raise InvalidInput(_l("That question is not part of this workshop's conversation."))
    return prompt_id


def _words(values: dict, participant: dict) -> dict:
    """The participant's words in their language, and an optional translation."""
    words = text(values.get("text"), field="text")
    language = choice(
        values.get("language") or participant["language"], CONTENT_LANGUAGES, field="language"
    )
    translation = text(values.get("translation"), field="translation", required=False)
    translation_language = None
    if translation:
        translation_language = choice(
            values.get("translation_language") or "en",
            CONTENT_LANGUAGES,
            field="translation_language",
        )
    return {
        "text": words,
        "language": language,
        "translation": translation,
        "translation_language": translation_language,
    }


def record_exposure(
    workshop_id: str, participant_id: str, idea_ids, *, channel: str, entered_by: str | None
) -> int:
    """Note that the participant was shown these ideas; saying so twice changes nothing."""
    db = get_db()
    if db.conn.in_transaction:  # a save's own transaction: no savepoint needed
        return _insert_exposures(db, workshop_id, participant_id, idea_ids, channel, entered_by)
    with db.atomic():
        return _insert_exposures(db, workshop_id, participant_id, idea_ids, channel, entered_by)


def _insert_exposures(db, workshop_id, participant_id, idea_ids, channel, entered_by) -> int:
    added = 0
    device, now = device_id(), utc_now()
    for idea_id in idea_ids:
        cursor = db.conn.execute(
            "insert or ignore into exposures (id, participant_id, idea_id, workshop_id,"
            " channel, entered_by, device_id, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [new_id(), participant_id, idea_id, workshop_id, channel, entered_by, device, now],
        )
        added += cursor.rowcount
    return added


def exposed_idea_ids(participant_id: str) -> set[str]:
    return {
        r[0]
        for r in get_db().execute(
            "select idea_id from exposures where participant_id = ?", [participant_id]
        )
    }


def _add_words(
    kind,
    workshop_id,
    participant_id,
    values,
    *,
    idea_id,
    prompt_id,
    channel,
    entered_by,
    submission_id,
    kiosk_id,
):
    """Save an idea or a comment in the participant's own words, once per submission."""
    db = get_db()
    # Which conversation an idea or question belongs to never changes, so it is checked
    # before the write lock, which is then held only for what must be read and written
    # together.
    row = {
        "kind": kind,
        "status": "active",
        "kiosk_id": kiosk_id,
        "workshop_id": workshop_id,
        "participant_id": participant_id,
        "idea_id": idea_id and _idea_of_workshop(workshop_id, idea_id),
        "prompt_id": _prompt_of_workshop(workshop_id, prompt_id),
        "vote": None,
        "channel": channel,
    }
    with db.atomic():
        existing = by_submission("contributions", submission_id)
        if existing:
            return existing
        participant = _consenting_participant(workshop_id, participant_id)
        row.update(_words(values, participant))
        saved = insert_first(
            "contributions", row, entered_by=entered_by, submission_id=submission_id
        )
        if idea_id:  # a comment on an idea means the idea was shown
            record_exposure(
                workshop_id, participant_id, [idea_id], channel=channel, entered_by=entered_by
            )
        return saved


def add_idea(
    workshop_id,
    participant_id,
    values: dict,
    *,
    channel,
    entered_by,
    submission_id=None,
    kiosk_id=None,
):
    """Save a new idea in the participant's own words, optionally answering a prompt."""
    return _add_words(
        "idea",
        workshop_id,
        participant_id,
        values,
        idea_id=None,
        prompt_id=values.get("prompt_id"),
        channel=channel,
        entered_by=entered_by,
        submission_id=submission_id,
        kiosk_id=kiosk_id,
    )


def add_comment(
    workshop_id,
    participant_id,
    idea_id,
    values: dict,
    *,
    channel,
    entered_by,
    submission_id=None,
    kiosk_id=None,
):
    """Save a comment on one of the conversation's ideas; the idea counts as shown."""
    if not idea_id:
        raise InvalidInput(_l("That idea is not part of this workshop's conversation."), "idea_id")
    return _add_words(
        "comment",
        workshop_id,
        participant_id,
        values,
        idea_id=idea_id,
        prompt_id=None,
        channel=channel,
        entered_by=entered_by,
        submission_id=submission_id,
        kiosk_id=kiosk_id,
    )


def current_vote(participant_id: str, idea_id: str) -> dict | None:
    """The participant's vote on the idea as it stands: its latest revision, read from
    the end of the index (migration 0010) however often the vote was changed."""
    rows = list(
        get_db().query(
            "select * from contributions c where c.participant_id = ? and c.idea_id = ?"
            f" and c.kind = 'vote' and {current_where('c', 'contributions')}"
            " order by c.revision desc limit 1",
            [participant_id, idea_id],
        )
    )
    return rows[0] if rows else None


def record_vote(
    workshop_id,
    participant_id,
    idea_id,
    vote,
    *,
    channel,
    entered_by,
    submission_id=None,
    kiosk_id=None,
):
    """Save agree, disagree or unsure; a changed mind is a new revision of the same vote."""
    vote = choice(vote, vocab.VOTES, field="vote", required=True)
    _idea_of_workshop(workshop_id, idea_id)  # never changes: checked before the lock
    db = get_db()
    with db.atomic():
        existing = by_submission("contributions", submission_id)
        if existing:
            return existing
        _consenting_participant(workshop_id, participant_id)
        previous = current_vote(participant_id, idea_id)
        if previous:
            saved = revise(
                "contributions",
                previous["id"],
                {"vote": vote, "status": "active", "channel": channel, "kiosk_id": kiosk_id},
                entered_by=entered_by,
                submission_id=submission_id,
                current=previous,
            )
        else:
            saved = insert_first(
                "contributions",
                {
                    "kind": "vote",
                    "status": "active",
                    "kiosk_id": kiosk_id,
                    "workshop_id": workshop_id,
                    "participant_id": participant_id,
                    "idea_id": idea_id,
                    "prompt_id": None,
                    "vote": vote,
                    "channel": channel,
                    "text": None,
                    "language": None,
                    "translation": None,
                    "translation_language": None,
                },
                entered_by=entered_by,
                submission_id=submission_id,
            )
        record_exposure(
            workshop_id, participant_id, [idea_id], channel=channel, entered_by=entered_by
        )
        return saved


def get_contribution(workshop_id: str, record_id: str) -> dict:
    row = current_revision("contributions", record_id)
    if row["workshop_id"] != workshop_id:
        raise NotFound(record_id)
    return row


def correct_contribution(
    workshop_id, record_id, values: dict, *, expected_revision_id, entered_by, submission_id=None
):
    """Save a correction as a new revision naming the one it replaces."""
    db = get_db()
    with db.atomic():
        existing = by_submission("contributions", submission_id)
        if existing:
            return existing
        old = get_contribution(workshop_id, record_id)
        if old["status"] != "active":
            raise InvalidInput(_l("This entry was undone, so it cannot be corrected."))
        participant = get_participant(workshop_id, old["participant_id"])
        if old["kind"] == "vote":
            changes = {"vote": choice(values.get("vote"), vocab.VOTES, field="vote", required=True)}
        else:
            changes = _words(values, participant)
        return revise(
            "contributions",
            record_id,
            changes,
            entered_by=entered_by,
            expected_revision_id=expected_revision_id,
            submission_id=submission_id,
        )


def undo(workshop_id: str, revision_id: str, *, entered_by: str | None) -> dict:
    """Take back a save: a new entry is withdrawn, a correction is reversed.

    Nothing is deleted; the undo is itself a revision, so the history stays whole.
    """
    db = get_db()
    with db.atomic():
        rows = list(
            db.query("select * from contributions where revision_id = ?", [revision_id or ""])
        )
        if not rows or rows[0]["workshop_id"] != workshop_id:
            raise NotFound(revision_id)
        row = rows[0]
        current = current_revision("contributions", row["id"])
        if current["revision_id"] != row["revision_id"]:
            raise InvalidInput(_l("That entry has changed since, so it cannot be undone here."))
        if row["status"] != "active":
            raise InvalidInput(_l("That entry has already been undone."))
        if row["replaces"]:
            before = list(
                db.query("select * from contributions where revision_id = ?", [row["replaces"]])
            )[0]
            keep = ("text", "language", "translation", "translation_language", "vote", "status")
            changes = {k: before[k] for k in keep}
        else:
            changes = {"status": "withdrawn"}
        return revise("contributions", row["id"], changes, entered_by=entered_by)


def list_for_participant(participant_id: str) -> list[dict]:
    return list(
        get_db().query(
            "select c.*, u.username as entered_by_name from contributions c"
            " left join users u on u.id = c.entered_by"
            f" where c.participant_id = ? and c.status = 'active'"
            f" and {current_where('c', 'contributions')} order by c.created_at",
            [participant_id],
        )
    )


def revision_history(workshop_id: str, record_id: str) -> list[dict]:
    rows = list(
        get_db().query(
            "select c.*, u.username as entered_by_name from contributions c"
            " left join users u on u.id = c.entered_by where c.id = ? order by c.revision",
            [record_id],
        )
    )
    if not rows or rows[0]["workshop_id"] != workshop_id:
        raise NotFound(record_id)
    return rows

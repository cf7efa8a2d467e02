"""The sample consultation: a realistic conversation so a new user sees engage working."""

from __future__ import annotations

from datetime import date

from ..db import get_db
from . import contributions, participants
from .conversations import add_idea, add_prompt, create_conversation
from .workshops import create_workshop

TITLE = {
    "en": "How should allied health professionals support people and communities?",
    "pl": "Jak specjaliści nauk o zdrowiu powinni wspierać ludzi i społeczności?",
    "es": "¿Cómo deberían los profesionales sanitarios aliados apoyar a las personas "
    "y las comunidades?",
}
DESCRIPTION = {
    "en": "Phase one of the national strategy: tell us how you want to receive health and "
    "care from physiotherapists, paramedics, dietitians, speech and language therapists "
    "and the other allied health professions.",
}
PROMPTS = [
    (
        {
            "en": "What would make it easier for you to get help from health and care services?",
            "pl": "Co ułatwiłoby Ci uzyskanie pomocy od służby zdrowia i opieki?",
        },
        {"en": "What would help you get care?"},
    ),
    (
        {"en": "Tell us about a time care worked well for you. What made it work?"},
        {"en": "When was care good for you? Why?"},
    ),
    (
        {"en": "What should change first?"},
        {"en": "What should change first?"},
    ),
]
IDEAS = [
    (
        {
            "en": "Appointments should be offered in the evening and at weekends.",
            "pl": "Wizyty powinny być dostępne wieczorami i w weekendy.",
            "es": "Las citas deberían ofrecerse por la tarde y los fines de semana.",
        },
        {"en": "Appointments in the evening and at weekends."},
    ),
    (
        {
            "en": "I should be able to see the same therapist each time.",
            "pl": "Chcę za każdym razem widzieć tego samego terapeutę.",
        },
        {"en": "See the same therapist every time."},
    ),
    (
        {"en": "Letters and leaflets should come in my language and in easy read."},
        {"en": "Letters in my language and in easy read."},
    ),
    (
        {"en": "Therapists should come to community centres, hostels and day centres."},
        {"en": "Therapists come to places I already go."},
    ),
    (
        {"en": "Services should not need an email address or a smartphone to book."},
        {"en": "Book without email or a smartphone."},
    ),
    (
        {"en": "Staff should be trained to understand racism and how it affects health."},
        {"en": "Staff learn about racism and health."},
    ),
    (
        {"en": "People who use services should help design them from the start."},
        {"en": "People help design services."},
    ),
    (
        {"en": "An interpreter should be booked automatically when I need one."},
        {"en": "An interpreter is booked for me."},
    ),
]
SAMPLE_WORDS = [
    ("en", "A bus pass for appointments would mean I actually get there.", None),
    (
        "pl",
        "Chciałabym, żeby fizjoterapeuta mówił wolniej i pokazywał ćwiczenia.",
        "I would like the physiotherapist to speak slowly and show me the exercises.",
    ),
    ("en", "Nobody tells you what happens after the ambulance leaves.", None),
]


def load_sample(created_by: str | None) -> dict:
    """Create the sample conversation and a sample workshop with a few contributions."""
    db = get_db()
    with db.atomic():
        conversation = create_conversation(TITLE, DESCRIPTION, created_by)
        prompts = [add_prompt(conversation["id"], t, e) for t, e in PROMPTS]
        ideas = [add_idea(conversation["id"], t, e) for t, e in IDEAS]
        workshop = create_workshop(
            conversation["id"],
            title="Sample workshop: drop-in at the community centre",
            date=date.today().isoformat(),
            postcode="LS6",
            tags=["sample", "people who have been homeless", "refugees"],
            languages=["en", "pl"],
            created_by=created_by,
            sample=True,
        )
        votes = ("agree", "agree", "unsure", "disagree", "agree", "agree", "agree", "unsure")
        for n, (lang, words, translation) in enumerate(SAMPLE_WORDS):
            person = participants.add_participant(
                workshop["id"], channel="facilitator", language=lang, entered_by=created_by
            )
            participants.record_consent(workshop["id"], person["id"], True, entered_by=created_by)
            kwargs = {"channel": "facilitator", "entered_by": created_by}
            contributions.add_idea(
                workshop["id"],
                person["id"],
                {
                    "text": words,
                    "language": lang,
                    "translation": translation,
                    "translation_language": "en" if translation else None,
                    "prompt_id": prompts[n % len(prompts)]["id"],
                },
                **kwargs,
            )
            for i, idea in enumerate(ideas):
                contributions.record_vote(
                    workshop["id"], person["id"], idea["id"], votes[(i + n) % len(votes)], **kwargs
                )
    return {"conversation": conversation, "workshop": workshop}

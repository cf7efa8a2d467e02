"""The words printed on paper forms, translated into the form's language when printed.

Kept in one place so that translators see them together, and so that paper_forms (which
knows nothing of translations) receives plain strings.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

INSTRUCTION = _l(
    "Tick one box for each idea. Write your own ideas in the boxes. Do not write your name "
    "anywhere on this form."
)
INSTRUCTION_EASY = _l("Tick one box for each idea. Do not write your name.")
CONSENT = _l(
    "I agree that what I write on this form can be used, without my name, to help write "
    "the national plan for health and care."
)
CONSENT_EASY = _l("I am happy for my answers to be used. My name is not on this form.")
PROMPTS_HEADING = _l("Your ideas")
WRITE_HERE = _l("Write here")
IDEAS_HEADING = _l("Do you agree?")
DEMOGRAPHICS_HEADING = _l("About you (optional)")
DEMOGRAPHICS_WHY = _l(
    "These questions help us see who has taken part, so that no group is left out. The "
    "answers are anonymous. Skip any question you prefer not to answer."
)
DEMOGRAPHICS_WHY_EASY = _l("These questions are about you. You can skip them.")
POSTCODE_QUESTION = _l("The first part of your postcode, such as LS6")
# Translators: printed on every page, so a page whose code is damaged can still be placed.
PAGE_LABEL = _l("Sheet %(serial)s · page %(page)d of %(pages)d")
RETURN_NOTE = _l("Thank you. Please give this form back to the facilitator.")

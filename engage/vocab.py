"""Fixed vocabularies: roles, channels, votes and the optional demographic questions.

Stored values are stable English keys; labels are translated for display. Every
demographic question offers "prefer not to say", and leaving it out is also allowed.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLES = {
    "admin": _l("Administrator"),
    "coordinator": _l("Coordinator"),
    "facilitator": _l("Facilitator"),
}
CHANNELS = {
    "facilitator": _l("Entered by a facilitator"),
    "kiosk": _l("Kiosk"),
    "paper": _l("Paper form"),
}
VOTES = {
    "agree": _l("Agree"),
    "disagree": _l("Disagree"),
    "unsure": _l("Not sure"),
}
PREFER_NOT = ("prefer_not", _l("Prefer not to say"))

#: ONS 2021 census ethnic groups (England and Wales), grouped as on the census form.
ETHNIC_GROUPS = (
    (
        _l("Asian, Asian British or Asian Welsh"),
        (
            ("asian_bangladeshi", _l("Bangladeshi")),
            ("asian_chinese", _l("Chinese")),
            ("asian_indian", _l("Indian")),
            ("asian_pakistani", _l("Pakistani")),
            ("asian_other", _l("Any other Asian background")),
        ),
    ),
    (
        _l("Black, Black British, Black Welsh, Caribbean or African"),
        (
            ("black_african", _l("African")),
            ("black_caribbean", _l("Caribbean")),
            ("black_other", _l("Any other Black, Black British or Caribbean background")),
        ),
    ),
    (
        _l("Mixed or Multiple ethnic groups"),
        (
            ("mixed_white_asian", _l("White and Asian")),
            ("mixed_white_black_african", _l("White and Black African")),
            ("mixed_white_black_caribbean", _l("White and Black Caribbean")),
            ("mixed_other", _l("Any other Mixed or Multiple ethnic background")),
        ),
    ),
    (
        _l("White"),
        (
            ("white_british", _l("English, Welsh, Scottish, Northern Irish or British")),
            ("white_irish", _l("Irish")),
            ("white_gypsy_traveller", _l("Gypsy or Irish Traveller")),
            ("white_roma", _l("Roma")),
            ("white_other", _l("Any other White background")),
        ),
    ),
    (
        _l("Other ethnic group"),
        (
            ("other_arab", _l("Arab")),
            ("other_any", _l("Any other ethnic group")),
        ),
    ),
)


class Question:
    """One optional demographic question with its options (``prefer_not`` included)."""

    def __init__(self, name, label, options=(), groups=None, hint=None):
        self.name = name
        self.label = label
        self.hint = hint
        self.groups = groups
        flat = tuple(options) or tuple(o for _, opts in groups for o in opts)
        self.options = flat + (PREFER_NOT,)
        self.values = {value for value, _ in self.options}

    def label_for(self, value):
        for key, label in self.options:
            if key == value:
                return label
        return value


DEMOGRAPHICS = (
    Question(
        "age_band",
        _l("Age"),
        (
            ("under_18", _l("Under 18")),
            ("18_24", _l("18 to 24")),
            ("25_34", _l("25 to 34")),
            ("35_44", _l("35 to 44")),
            ("45_54", _l("45 to 54")),
            ("55_64", _l("55 to 64")),
            ("65_74", _l("65 to 74")),
            ("75_plus", _l("75 or over")),
        ),
    ),
    Question("ethnic_group", _l("Ethnic group"), groups=ETHNIC_GROUPS),
    Question(
        "disability",
        _l("Disability"),
        (
            ("yes_a_lot", _l("Yes, my day-to-day activities are limited a lot")),
            ("yes_a_little", _l("Yes, my day-to-day activities are limited a little")),
            ("no", _l("No")),
        ),
        hint=_l(
            "Do you have a health condition or disability that has lasted, or is expected "
            "to last, 12 months or more and limits your day-to-day activities?"
        ),
    ),
    Question("sex", _l("Sex"), (("female", _l("Female")), ("male", _l("Male")))),
    Question(
        "gender_identity",
        _l("Gender identity"),
        (
            ("same", _l("Yes, the same as my sex registered at birth")),
            ("different", _l("No, different from my sex registered at birth")),
        ),
        hint=_l("Is the gender you identify with the same as your sex registered at birth?"),
    ),
    Question(
        "sexual_orientation",
        _l("Sexual orientation"),
        (
            ("straight", _l("Straight or heterosexual")),
            ("gay_lesbian", _l("Gay or lesbian")),
            ("bisexual", _l("Bisexual")),
            ("other", _l("Another sexual orientation")),
        ),
    ),
    Question(
        "role",
        _l("Which best describes you?"),
        (
            ("uses_services", _l("I use health or care services")),
            ("carer", _l("I am a carer")),
            ("health_care_worker", _l("I work in health or care")),
            ("other", _l("Other")),
        ),
    ),
)
DEMOGRAPHIC_FIELDS = tuple(q.name for q in DEMOGRAPHICS) + ("postcode_district",)

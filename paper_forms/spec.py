"""What a paper form says: a plain description, already in the form's language.

The library never translates: every string here comes from the caller. It only knows
which languages it can set (their script and direction) and checks that the description
is complete enough to print and to read back.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass

#: Languages the bundled font and the shaper are tested with, and their direction.
LANGUAGES: dict[str, str] = {
    "en": "ltr",
    "pl": "ltr",
    "ro": "ltr",
    "pa": "ltr",
    "ur": "rtl",
    "pt": "ltr",
    "es": "ltr",
    "ar": "rtl",
    "bn": "ltr",
    "gu": "ltr",
    "so": "ltr",
    "uk": "ltr",
}

VARIANTS = ("standard", "large", "easy")
PAPERS = ("a4", "letter")
ANSWERS = ("agree", "disagree", "unsure")

#: Form ids are short and upper-case so the QR payload stays in QR alphanumeric mode.
FORM_ID_RE = re.compile(r"[0-9A-Z]{1,12}")
#: Ids of prompts, ideas, questions and options: what the layout names a box by.
ITEM_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
PREFER_NOT_TO_SAY = "prefer_not_to_say"


class SpecError(ValueError):
    """The description cannot be printed; the message says which part and why."""


def base_language(language: str) -> str:
    """The primary subtag: 'pt-BR' and 'pt_BR' are both Portuguese."""
    return re.split(r"[-_]", language, maxsplit=1)[0].lower()


def direction_of(language: str) -> str:
    """'ltr' or 'rtl' for a supported language; SpecError for any other."""
    try:
        return LANGUAGES[base_language(language)]
    except KeyError:
        supported = ", ".join(sorted(LANGUAGES))
        raise SpecError(
            f"language {language!r} is not supported (supported: {supported})"
        ) from None


@dataclass(frozen=True)
class Prompt:
    """An open question with a writing area under it."""

    id: str
    text: str


@dataclass(frozen=True)
class Idea:
    """A statement to vote on: agree, disagree or unsure."""

    id: str
    text: str


@dataclass(frozen=True)
class Option:
    """One answer to a demographic question."""

    id: str
    label: str


@dataclass(frozen=True)
class Question:
    """An optional demographic question; `prefer_not_to_say` is the label of that option.

    The library adds that option itself (id ``prefer_not_to_say``) so no question can be
    printed without it.
    """

    id: str
    text: str
    options: tuple[Option, ...]
    prefer_not_to_say: str

    def all_options(self) -> tuple[Option, ...]:
        return (*self.options, Option(PREFER_NOT_TO_SAY, self.prefer_not_to_say))


@dataclass(frozen=True)
class AnswerLabels:
    """The words printed beside the agree / disagree / unsure boxes."""

    agree: str
    disagree: str
    unsure: str

    def label(self, answer: str) -> str:
        return getattr(self, answer)


@dataclass(frozen=True)
class Demographics:
    """The optional last page: why it is asked and that it is anonymous, then questions."""

    title: str
    intro: str
    questions: tuple[Question, ...]


@dataclass(frozen=True)
class FormSpec:
    """Everything printed on a form, and how (variant, paper)."""

    form_id: str
    language: str
    title: str
    instruction: str
    consent: str
    prompts: tuple[Prompt, ...] = ()
    ideas: tuple[Idea, ...] = ()
    answer_labels: AnswerLabels | None = None
    ideas_intro: str = ""
    demographics: Demographics | None = None
    variant: str = "standard"
    paper: str = "a4"
    #: Printed on every page so a person can tell pages apart when a code is damaged.
    #: Placeholders: {form}, {serial}, {page}, {pages}.
    page_label: str = "{form} · {serial} · {page}/{pages}"

    @property
    def direction(self) -> str:
        return direction_of(self.language)

    def validate(self) -> FormSpec:
        """Raise SpecError naming the first problem; return self when printable."""
        if not FORM_ID_RE.fullmatch(self.form_id or ""):
            raise SpecError(f"form id {self.form_id!r} must be 1 to 12 characters of 0-9 and A-Z")
        direction_of(self.language)
        if self.variant not in VARIANTS:
            raise SpecError(f"variant {self.variant!r} is not one of {', '.join(VARIANTS)}")
        if self.paper not in PAPERS:
            raise SpecError(f"paper {self.paper!r} is not one of {', '.join(PAPERS)}")
        for name in ("title", "instruction", "consent"):
            _text(getattr(self, name), name)
        if self.ideas and self.answer_labels is None:
            raise SpecError("ideas need answer labels (agree, disagree, unsure)")
        if self.answer_labels is not None:
            for answer in ANSWERS:
                _text(self.answer_labels.label(answer), f"answer label {answer}")
        _unique(self.prompts, "prompt")
        _unique(self.ideas, "idea")
        for item in (*self.prompts, *self.ideas):
            _text(item.text, f"text of {item.id!r}")
        if self.demographics is not None:
            _text(self.demographics.title, "demographics title")
            _text(self.demographics.intro, "demographics intro")
            _unique(self.demographics.questions, "question")
            for question in self.demographics.questions:
                _text(question.text, f"question {question.id!r}")
                _text(question.prefer_not_to_say, f"'prefer not to say' of {question.id!r}")
                if not question.options:
                    raise SpecError(f"question {question.id!r} has no options")
                _unique(question.all_options(), f"option of {question.id!r}")
                for option in question.options:
                    _text(option.label, f"option {option.id!r} of {question.id!r}")
        try:
            self.page_label.format(form="F", serial=1, page=1, pages=1)
        except (KeyError, IndexError, ValueError) as error:
            raise SpecError(f"page label {self.page_label!r} has a bad placeholder") from error
        return self

    def to_dict(self) -> dict:
        """A JSON-able copy (lists for tuples), the inverse of from_dict."""
        return json_ready(asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> FormSpec:
        data = dict(data)
        data["prompts"] = tuple(Prompt(**p) for p in data.get("prompts", ()))
        data["ideas"] = tuple(Idea(**i) for i in data.get("ideas", ()))
        if data.get("answer_labels"):
            data["answer_labels"] = AnswerLabels(**data["answer_labels"])
        demo = data.get("demographics")
        if demo:
            data["demographics"] = Demographics(
                title=demo["title"],
                intro=demo["intro"],
                questions=tuple(
                    Question(
                        id=q["id"],
                        text=q["text"],
                        options=tuple(Option(**o) for o in q["options"]),
                        prefer_not_to_say=q["prefer_not_to_say"],
                    )
                    for q in demo["questions"]
                ),
            )
        return cls(**data)


def new_form_id() -> str:
    """A fresh random form id: 8 characters of an alphabet without 0/O and 1/I."""
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _text(value, what: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{what} is empty")


def _unique(items, what: str) -> None:
    seen = set()
    for item in items:
        if not ITEM_ID_RE.fullmatch(item.id or ""):
            raise SpecError(f"{what} id {item.id!r} must be 1 to 64 of A-Z a-z 0-9 _ . -")
        if item.id in seen:
            raise SpecError(f"{what} id {item.id!r} is used twice")
        seen.add(item.id)


def json_ready(value):
    """Tuples become lists, recursively, so a dict compares equal to its JSON round trip."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value

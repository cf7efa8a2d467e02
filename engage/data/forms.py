"""Printing paper forms: a workshop's questions and ideas, in one language, as a PDF and
the layout that reads its scans back. paper_forms draws; this module supplies the words.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from flask import current_app
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

import paper_forms

from .. import form_texts, vocab
from ..db import device_id, get_db, utc_now
from ..i18n import SUPPORTED_LOCALES
from ..validation import InvalidInput, NotFound, choice
from .conversations import get_conversation, localised

#: The names people use for the variants, and the library's.
VARIANTS = {"standard": "standard", "large-print": "large", "easy-read": "easy"}
PAPERS = ("a4", "letter")
MAX_SHEETS = 1000


def _page_label() -> str:
    """The translated 'Sheet … page … of …' as a template the library fills per page,
    after the form id, so a page with a damaged code can still be placed by a person."""
    template = str(form_texts.PAGE_LABEL).replace("{", "{{").replace("}", "}}")
    return "{form} · " + re.sub(r"%\((serial|page|pages)\)[sd]", r"{\1}", template)


def _words(texts, easy_texts, lang, easy) -> str:
    if easy:
        text, fallback = localised(easy_texts, lang)
        if text and not fallback:
            return text
    return localised(texts, lang)[0]


def build_spec(conversation: dict, lang: str, variant: str, paper: str, demographics: bool):
    """The form's description, every word in ``lang`` (English where untranslated)."""
    easy = variant == "easy"
    with force_locale(lang):
        questions = ()
        if demographics:
            questions = tuple(
                paper_forms.Question(
                    id=q.name,
                    text=str(q.hint if easy and q.hint else q.label),
                    options=tuple(
                        paper_forms.Option(id=key, label=str(label))
                        for key, label in q.options
                        if key != vocab.PREFER_NOT[0]
                    ),
                    prefer_not_to_say=str(vocab.PREFER_NOT[1]),
                )
                for q in vocab.DEMOGRAPHICS
            )
        spec = paper_forms.FormSpec(
            form_id=paper_forms.new_form_id(),
            language=lang,
            title=localised(conversation["title"], lang)[0],
            instruction=str(form_texts.INSTRUCTION_EASY if easy else form_texts.INSTRUCTION),
            consent=str(form_texts.CONSENT_EASY if easy else form_texts.CONSENT),
            prompts=tuple(
                paper_forms.Prompt(id=p["id"], text=_words(p["text"], p["easy_read"], lang, easy))
                for p in conversation["prompts"]
            ),
            ideas=tuple(
                paper_forms.Idea(id=i["id"], text=_words(i["text"], i["easy_read"], lang, easy))
                for i in conversation["ideas"]
            ),
            answer_labels=paper_forms.AnswerLabels(
                **{key: str(label) for key, label in vocab.VOTES.items()}
            ),
            ideas_intro=str(form_texts.IDEAS_HEADING),
            demographics=paper_forms.Demographics(
                title=str(form_texts.DEMOGRAPHICS_HEADING),
                intro=str(
                    form_texts.DEMOGRAPHICS_WHY_EASY if easy else form_texts.DEMOGRAPHICS_WHY
                ),
                questions=questions,
            )
            if questions
            else None,
            variant=VARIANTS[variant],
            paper=paper,
            page_label=_page_label(),
        )
    return spec


def forms_folder() -> Path:
    folder = Path(current_app.instance_path) / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def print_forms(
    *,
    conversation_id: str,
    workshop_id: str | None,
    lang: str,
    variant: str,
    sheets,
    paper: str = "a4",
    shuffle: bool = False,
    demographics: bool = True,
    created_by: str | None,
) -> dict:
    """Render the sheets, keep the PDF and layout under the instance, and record the form.

    The form row is written only after both files are whole, so a failed print leaves
    nothing behind that a scan could be matched against.
    """
    choice(lang, SUPPORTED_LOCALES, field="language", required=True)
    choice(variant, VARIANTS, field="variant", required=True)
    choice(paper, PAPERS, field="paper", required=True)
    try:
        sheets = int(sheets)
    except (TypeError, ValueError):
        sheets = 0
    if not 1 <= sheets <= MAX_SHEETS:
        raise InvalidInput(
            _l("Print between 1 and %(most)d sheets at a time.", most=MAX_SHEETS), "sheets"
        )
    conversation = get_conversation(conversation_id)
    if not conversation["ideas"] and not conversation["prompts"]:
        raise InvalidInput(_l("This conversation has no questions or ideas to print yet."))
    spec = build_spec(conversation, lang, variant, paper, demographics)
    folder = forms_folder()
    pdf_path = folder / f"{spec.form_id}.pdf"
    try:
        layout = paper_forms.render(
            spec, sheets, pdf_path, shuffle_ideas=shuffle, seed=spec.form_id
        )
    except paper_forms.SpecError as error:
        current_app.logger.warning("Form could not be printed: %s", error)
        raise InvalidInput(
            _l("This form cannot be printed: %(reason)s", reason=str(error))
        ) from error
    row = {
        "id": spec.form_id,
        "workshop_id": workshop_id,
        "conversation_id": conversation_id,
        "language": lang,
        "variant": variant,
        "paper": paper,
        "sheets": sheets,
        "first_serial": 1,
        "shuffled": 1 if shuffle else 0,
        "demographics": 1 if demographics else 0,
        "spec": json.dumps(spec.to_dict(), ensure_ascii=False),
        "layout": layout.to_json(),
        "pdf_path": pdf_path.name,
        "created_by": created_by,
        "device_id": device_id(),
        "created_at": utc_now(),
    }
    db = get_db()
    with db.atomic():
        db["forms"].insert(row)
    return {
        **row,
        "layout_path": str(paper_forms.layout_path(pdf_path)),
        "pdf_file": str(pdf_path),
        "serials": layout.serials,
    }


def list_forms(workshop_id: str) -> list[dict]:
    return list(
        get_db().query(
            "select id, language, variant, paper, sheets, shuffled, demographics, created_at"
            " from forms where workshop_id = ? order by created_at desc",
            [workshop_id],
        )
    )


def get_form(form_id: str) -> dict:
    rows = list(get_db().query("select * from forms where id = ?", [form_id]))
    if not rows:
        raise NotFound(form_id)
    return rows[0]


def form_files(form: dict) -> tuple[Path, Path]:
    pdf = forms_folder() / form["pdf_path"]
    return pdf, paper_forms.layout_path(pdf)

"""Printable paper forms for engage: PDF plus a layout that scan reading relies on.

A library: it knows layouts, PDFs and images, nothing of Flask or the database.

    from paper_forms import FormSpec, render
    layout = render(spec, sheets=200, out_pdf="forms.pdf")  # also writes forms.layout.json
"""

from .layout import (
    LAYOUT_VERSION,
    Box,
    Layout,
    LayoutError,
    Mark,
    PageLayout,
    Paper,
    QRPlacement,
    Rect,
    SheetLayout,
    WritingArea,
    layout_path,
)
from .qr import Payload, PayloadError, encode_payload, parse_payload
from .render import render, render_bytes
from .shaping import MissingGlyph
from .spec import (
    ANSWERS,
    LANGUAGES,
    PREFER_NOT_TO_SAY,
    VARIANTS,
    AnswerLabels,
    Demographics,
    FormSpec,
    Idea,
    Option,
    Prompt,
    Question,
    SpecError,
    new_form_id,
)

__all__ = [
    "ANSWERS",
    "LANGUAGES",
    "LAYOUT_VERSION",
    "PREFER_NOT_TO_SAY",
    "VARIANTS",
    "AnswerLabels",
    "Box",
    "Demographics",
    "FormSpec",
    "Idea",
    "Layout",
    "LayoutError",
    "Mark",
    "MissingGlyph",
    "Option",
    "PageLayout",
    "Paper",
    "Payload",
    "PayloadError",
    "Prompt",
    "QRPlacement",
    "Question",
    "Rect",
    "SheetLayout",
    "SpecError",
    "WritingArea",
    "encode_payload",
    "layout_path",
    "new_form_id",
    "parse_payload",
    "render",
    "render_bytes",
]

"""Printable paper forms for engage: PDF plus a layout that scan reading relies on.

A library: it knows layouts, PDFs and images, nothing of Flask or the database.

    from paper_forms import FormSpec, render
    layout = render(spec, sheets=200, out_pdf="forms.pdf")  # also writes forms.layout.json

Printing (ReportLab, HarfBuzz) is imported only when it is first used: a process that
only reads scans never loads it (0.16 s of each scan worker's start-up). The printing
code lives in ``paper_forms.printing``, not ``paper_forms.render``, so that the function
``render`` and a submodule are not one name.
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


#: Names imported from their module when first asked for (PEP 562).
_LAZY = {"render": "printing", "render_bytes": "printing", "MissingGlyph": "shaping"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Print runs: N sheets of a form as one PDF, and the layout beside it.

Building is serialised by a module lock: ReportLab's TrueType subsetting is not thread
safe (concurrent documents fail in makeSubset), and the shaping caches and fonts are
shared by every document in the process. Separate processes may build at once.

Speed comes from doing each thing once: text is shaped and broken once per (text, size,
width) for the life of the process; each distinct page is drawn once per document as a
PDF form XObject that every sheet's page reuses; per sheet only the QR code (filled
rectangles, no image) and the printed serial are new.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
import threading
from pathlib import Path

from reportlab import rl_config
from reportlab.pdfgen.canvas import Canvas

from . import fonts
from .compose import Composer, PageTemplate
from .draw import Painter, TextItem
from .layout import Layout, SheetLayout, layout_path
from .qr import MAX_SERIAL, encode_payload, qr_path
from .shaping import Shaper
from .spec import FormSpec, SpecError, base_language
from .styles import PAPER_SIZES

_BUILD_LOCK = threading.Lock()
_shapers: dict[str, Shaper] = {}
_shapers_lock = threading.Lock()


def shapers() -> dict[str, Shaper]:
    """The process-wide shapers (and their caches) for the regular and bold faces."""
    with _shapers_lock:
        if not _shapers:
            for weight in ("regular", "bold"):
                _shapers[weight] = Shaper(fonts.face(weight))
        return _shapers


def idea_order(spec: FormSpec, serial: int, shuffle: bool, seed) -> tuple[str, ...]:
    """The order of ideas on one sheet: as given, or shuffled by (seed, serial).

    Seeding with the serial means a reprint of the same serial has the same order, and
    each sheet differs from the next, against order bias.
    """
    ids = [idea.id for idea in spec.ideas]
    if shuffle:
        random.Random(f"{seed}:{serial}").shuffle(ids)
    return tuple(ids)


def render(
    spec: FormSpec,
    sheets: int = 1,
    out_pdf: str | os.PathLike | io.BufferedIOBase | None = None,
    *,
    first_serial: int = 1,
    shuffle_ideas: bool = False,
    seed: int | str = 0,
    layout_json: str | os.PathLike | None = None,
) -> Layout:
    """Print `sheets` copies of the form, serials first_serial, first_serial + 1, ...

    Writes the PDF to out_pdf (a path or a binary file) and, for a path, the layout as
    JSON beside it (forms.pdf -> forms.layout.json) unless layout_json names another
    file. Returns the layout. Raises SpecError for a description that cannot be printed.
    """
    spec.validate()
    if not isinstance(sheets, int) or sheets < 1:
        raise SpecError("the number of sheets must be at least 1")
    if not isinstance(first_serial, int) or first_serial < 1:
        raise SpecError("serials start at 1")
    if first_serial + sheets - 1 > MAX_SERIAL:
        raise SpecError(f"serials cannot go past {MAX_SERIAL}")
    if out_pdf is None:
        raise SpecError("out_pdf is needed: a path or a binary file")
    to_path = isinstance(out_pdf, (str, os.PathLike))
    target = io.BytesIO() if to_path else out_pdf
    with _BUILD_LOCK, _binary_streams():
        layout = _build(spec, sheets, target, first_serial, shuffle_ideas, seed)
    if to_path:
        _write_atomically(Path(out_pdf), target.getvalue())
        if layout_json is None:
            layout_json = layout_path(out_pdf)
    if layout_json is not None:
        layout.write(layout_json)
    return layout


def _write_atomically(path: Path, data: bytes) -> None:
    """Whole or not at all: a failed run never leaves half a PDF where a good one was."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _binary_streams():
    """Compressed streams without ReportLab's default ASCII85 wrapping.

    ASCII85 makes every stream a quarter larger, and without ReportLab's optional C
    accelerator encoding it took a third of the build time. The setting is global to
    ReportLab, so it is changed only while this module's lock is held, and put back.
    """
    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def _build(spec, sheets, out_pdf, first_serial, shuffle, seed) -> Layout:
    paper = PAPER_SIZES[spec.paper]
    composer = Composer(spec, shapers())
    canvas = Canvas(
        out_pdf,
        pagesize=(paper.width, paper.height),
        pageCompression=1,
        invariant=1,
        lang=spec.language,
    )
    canvas.setTitle(spec.title)
    canvas.setCreator("engage paper_forms")
    canvas.setSubject(f"form {spec.form_id}")
    painter = Painter(canvas)
    regular = shapers()["regular"]
    templates: dict[tuple[str, ...], tuple[PageTemplate, ...]] = {}
    forms: dict[int, str] = {}
    sheet_layouts = []
    for serial in range(first_serial, first_serial + sheets):
        order = idea_order(spec, serial, shuffle, seed)
        pages = templates.get(order)
        if pages is None:
            pages = templates[order] = composer.compose(order)
        for template in pages:
            name = forms.get(id(template))
            if name is None:
                name = forms[id(template)] = f"page{len(forms) + 1}"
                canvas.beginForm(name, 0, 0, paper.width, paper.height)
                canvas.addLiteral(painter.items(template.items))
                canvas.endForm()
            canvas.doForm(name)
            page = template.layout
            qr = page.qr.rect
            canvas.addLiteral(
                qr_path(encode_payload(spec.form_id, serial, page.page), qr.x, qr.y, qr.width)
            )
            canvas.addLiteral(
                painter.text(_label(spec, composer, regular, serial, page.page, len(pages)))
            )
            canvas.showPage()
        sheet_layouts.append(
            SheetLayout(serial, order, tuple(template.layout for template in pages))
        )
    canvas.save()
    return Layout(
        form_id=spec.form_id,
        language=spec.language,
        direction=spec.direction,
        variant=spec.variant,
        paper=paper,
        sheets=tuple(sheet_layouts),
    )


def _label(spec, composer, shaper, serial, page, pages) -> TextItem:
    """The serial and page as text, centred between the bottom alignment marks."""
    text = spec.page_label.format(form=spec.form_id, serial=serial, page=page, pages=pages)
    size = composer.m.footer
    rect = composer.label_rect
    line = shaper.line(text, spec.direction == "rtl", base_language(spec.language))
    width = line.width * size / 1000
    baseline = rect.y + (rect.height - size * 0.7) / 2
    return TextItem(line, shaper.face, size, rect.x + (rect.width - width) / 2, baseline)


def render_bytes(spec: FormSpec, sheets: int = 1, **options) -> tuple[bytes, Layout]:
    """The PDF as bytes and its layout, for callers that store both themselves."""
    buffer = io.BytesIO()
    layout = render(spec, sheets, buffer, **options)
    return buffer.getvalue(), layout

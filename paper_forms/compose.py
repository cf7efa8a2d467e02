"""Page composition: where each piece of a form goes, for one order of the ideas.

Everything is placed in logical coordinates, x measured from the edge where the
language's lines start, and mirrored once (``_phys``) for right-to-left languages, so
an Urdu page is the mirror image of an English one: boxes and columns swap sides, text is
right-aligned, and the QR code moves to the other top corner.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .draw import ShapeItem, TextItem
from .fonts import Face
from .layout import Box, Mark, PageLayout, QRPlacement, Rect, WritingArea
from .qr import MODULES, QUIET_ZONE_MODULES
from .shaping import Line, Shaper, has_rtl_letters, sentences
from .spec import ANSWERS, FormSpec, SpecError, base_language
from .styles import PAPER_SIZES, metrics_for


@dataclass(frozen=True)
class PageTemplate:
    """What is the same on this page of every sheet with this idea order."""

    items: tuple
    layout: PageLayout


@dataclass
class _Block:
    """Content laid out from y = 0 downwards, moved into place when it is committed."""

    height: float = 0.0
    items: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    areas: list = field(default_factory=list)

    def extend(self, other: _Block, dy: float) -> None:
        self.items += [_shift(item, dy) for item in other.items]
        self.boxes += [replace(b, rect=_move(b.rect, dy)) for b in other.boxes]
        self.areas += [replace(a, rect=_move(a.rect, dy)) for a in other.areas]


class Composer:
    def __init__(self, spec: FormSpec, shapers: dict[str, Shaper]):
        self.spec = spec
        self.lang = base_language(spec.language)
        self.m = metrics_for(spec.variant, self.lang)
        self.paper = PAPER_SIZES[spec.paper]
        self.rtl = spec.direction == "rtl"
        self.shapers = shapers
        m, width, height = self.m, self.paper.width, self.paper.height
        self.start = m.margin  # logical x of the content's start edge
        self.content_width = width - 2 * m.margin
        self.top = height - m.margin
        band = max(m.mark, m.footer * 1.6)
        label_x = m.mark_inset + m.mark + 8
        self.label_rect = Rect(label_x, m.mark_inset, width - 2 * label_x, band)
        self.bottom = max(m.margin, m.mark_inset + band + 18)
        self.quiet = QUIET_ZONE_MODULES * m.qr / MODULES
        self.qr = QRPlacement(
            Rect(self._phys(width - m.margin - m.qr, m.qr), self.top - m.qr, m.qr, m.qr),
            MODULES,
            round(self.quiet, 3),
        )
        far = width - m.mark_inset - m.mark
        high = height - m.mark_inset - m.mark
        self.marks = (
            Mark("top-left", Rect(m.mark_inset, high, m.mark, m.mark)),
            Mark("top-right", Rect(far, high, m.mark, m.mark)),
            Mark("bottom-left", Rect(m.mark_inset, m.mark_inset, m.mark, m.mark)),
            Mark("bottom-right", Rect(far, m.mark_inset, m.mark, m.mark)),
        )
        self._column = self._answer_column() if spec.ideas else 0.0

    # -- geometry ---------------------------------------------------------------------

    def _phys(self, x: float, width: float) -> float:
        """Physical x of something at logical x (from the start edge) and this wide."""
        return x if not self.rtl else self.paper.width - x - width

    def _rect(self, x: float, y: float, width: float, height: float) -> Rect:
        return Rect(self._phys(x, width), y, width, height)

    def _lead(self, size: float) -> float:
        return size * self.m.leading

    def _lines(
        self, text: str, weight: str, size: float, width: float, split=True
    ) -> tuple[Line, ...]:
        if split and self.m.one_sentence_per_line:
            text = "\n".join(sentences(text))
        # A right-to-left form keeps its direction for mixed text, but a text with no
        # right-to-left letters at all (an untranslated English idea) reads left to right.
        rtl = self.rtl and has_rtl_letters(text)
        return self.shapers[weight].lines(text, size, width, rtl, self.lang)

    def _text(
        self,
        block: _Block,
        lines,
        weight: str,
        size: float,
        x: float,
        width: float,
        y: float,
        align: str = "start",
    ) -> float:
        """Place lines with their top at y; return their height."""
        lead = self._lead(size)
        face: Face = self.shapers[weight].face
        for i, line in enumerate(lines):
            line_width = line.width * size / 1000
            offset = (width - line_width) / 2 if align == "center" else 0.0
            block.items.append(
                TextItem(
                    line,
                    face,
                    size,
                    round(self._phys(x + offset, line_width), 3),
                    round(y - (i + 1) * lead + 0.42 * size, 3),
                )
            )
        return len(lines) * lead

    # -- pages ------------------------------------------------------------------------

    def compose(self, idea_order: tuple[str, ...]) -> tuple[PageTemplate, ...]:
        self._pages: list[tuple[_Block, float]] = []
        self._new_page()
        self._commit(self._consent())
        for prompt in self.spec.prompts:
            self._commit(self._prompt(prompt.id, prompt.text))
        if self.spec.ideas:
            ideas = {idea.id: idea for idea in self.spec.ideas}
            header = self._ideas_header()
            for n, idea_id in enumerate(idea_order):
                row = self._idea_row(ideas[idea_id])
                if n == 0 or not self._fits(row):
                    lead_in = self._ideas_intro() if n == 0 and self.spec.ideas_intro else _Block()
                    self._commit(_stack(lead_in, header, row, gap=self.m.gap / 2))
                else:
                    self._commit(row)
        if self.spec.demographics is not None:
            self._demographics()
        return tuple(self._finish(n, block) for n, (block, _) in enumerate(self._pages, 1))

    def _new_page(self) -> None:
        block = _Block()
        block.items += [ShapeItem("mark", mark.rect) for mark in self.marks]
        header_width = self.content_width - self.m.qr - self.quiet - 10
        y = self.top
        first = not self._pages
        size = self.m.title if first else self.m.heading
        y -= self._text(
            block,
            self._lines(self.spec.title, "bold", size, header_width, split=False),
            "bold",
            size,
            self.start,
            header_width,
            y,
        )
        if first:
            y -= self.m.gap / 2
            lines = self._lines(self.spec.instruction, "regular", self.m.body, header_width)
            y -= self._text(block, lines, "regular", self.m.body, self.start, header_width, y)
        self._pages.append((block, min(y, self.qr.rect.y - self.quiet) - self.m.gap))

    def _fits(self, block: _Block) -> bool:
        return self._pages[-1][1] - block.height >= self.bottom

    def _commit(self, block: _Block) -> None:
        if not self._fits(block):
            self._new_page()
            if not self._fits(block):
                raise SpecError("a part of the form is too long to fit on one page")
        page, y = self._pages[-1]
        page.extend(block, y)
        self._pages[-1] = (page, y - block.height - self.m.gap)

    def _finish(self, number: int, block: _Block) -> PageTemplate:
        layout = PageLayout(
            page=number,
            qr=self.qr,
            marks=self.marks,
            boxes=tuple(block.boxes),
            areas=tuple(block.areas),
            label=self.label_rect,
        )
        return PageTemplate(tuple(block.items), layout)

    # -- blocks -----------------------------------------------------------------------

    def _consent(self) -> _Block:
        m = self.m
        block = _Block()
        text_x = self.start + m.box + 10
        lines = self._lines(self.spec.consent, "regular", m.body, self.content_width - m.box - 10)
        height = self._text(
            block, lines, "regular", m.body, text_x, self.content_width - m.box - 10, 0
        )
        box_top = -max(0.0, (self._lead(m.body) - m.box) / 2)
        rect = self._rect(self.start, box_top - m.box, m.box, m.box)
        block.items.append(ShapeItem("box", rect))
        block.boxes.append(Box("consent", rect))
        block.height = max(height, -box_top + m.box)
        return block

    def _prompt(self, prompt_id: str, text: str) -> _Block:
        m = self.m
        block = _Block()
        lines = self._lines(text, "bold", m.body, self.content_width)
        y = -self._text(block, lines, "bold", m.body, self.start, self.content_width, 0) - 4
        rect = self._rect(self.start, y - m.writing, self.content_width, m.writing)
        block.items.append(ShapeItem("area", rect, m.rule_gap))
        block.areas.append(WritingArea(prompt_id, rect))
        block.height = -y + m.writing
        return block

    def _ideas_intro(self) -> _Block:
        block = _Block()
        lines = self._lines(self.spec.ideas_intro, "bold", self.m.body, self.content_width)
        block.height = self._text(
            block, lines, "bold", self.m.body, self.start, self.content_width, 0
        )
        return block

    def _answer_column(self) -> float:
        """Wide enough for the longest word of any answer label."""
        m, shaper = self.m, self.shapers["regular"]
        labels = self.spec.answer_labels
        widest = max(
            shaper.measure(word, self.lang) * m.label / 1000
            for answer in ANSWERS
            for word in labels.label(answer).split()
        )
        if m.symbols:
            return self.content_width / 3
        column = max(m.answer_column, widest + 10)
        if 3 * column > self.content_width * 0.7:
            raise SpecError("answer labels are too long for the answer columns")
        return column

    def _ideas_header(self) -> _Block:
        """Answer labels over their columns (standard and large print)."""
        block = _Block()
        if self.m.symbols:
            return block
        m = self.m
        x0 = self.start + self.content_width - 3 * self._column
        placed = []
        for j, answer in enumerate(ANSWERS):
            label = self.spec.answer_labels.label(answer)
            lines = self._lines(label, "bold", m.label, self._column - 6, split=False)
            placed.append((lines, x0 + j * self._column))
        height = max(len(lines) for lines, _ in placed) * self._lead(m.label)
        for lines, x in placed:
            top = -(height - len(lines) * self._lead(m.label))  # labels sit on a common bottom
            self._text(block, lines, "bold", m.label, x, self._column, top, align="center")
        block.height = height
        return block

    def _idea_row(self, idea) -> _Block:
        m = self.m
        block = _Block()
        if m.symbols:
            return self._easy_idea_row(idea)
        text_width = self.content_width - 3 * self._column - 12
        lines = self._lines(idea.text, "regular", m.body, text_width)
        height = self._text(block, lines, "regular", m.body, self.start, text_width, 0)
        box_top = -max(0.0, (self._lead(m.body) - m.box) / 2)
        x0 = self.start + self.content_width - 3 * self._column
        for j, answer in enumerate(ANSWERS):
            rect = self._rect(
                x0 + j * self._column + (self._column - m.box) / 2, box_top - m.box, m.box, m.box
            )
            block.items.append(ShapeItem("box", rect))
            block.boxes.append(Box("idea", rect, idea_id=idea.id, answer=answer))
        block.height = max(height, -box_top + m.box)
        return block

    def _easy_idea_row(self, idea) -> _Block:
        """Easy read: the idea, then symbol, box and word for each answer on one row."""
        m = self.m
        block = _Block()
        lines = self._lines(idea.text, "regular", m.body, self.content_width)
        y = -self._text(block, lines, "regular", m.body, self.start, self.content_width, 0) - 8
        cell = self.content_width / 3
        symbols = {
            "agree": "tick",
            "disagree": "cross",
            "unsure": "question-rtl" if self.rtl else "question",
        }
        row = m.box
        for j, answer in enumerate(ANSWERS):
            x = self.start + j * cell
            block.items.append(ShapeItem(symbols[answer], self._rect(x, y - m.box, m.box, m.box)))
            rect = self._rect(x + m.box + 6, y - m.box, m.box, m.box)
            block.items.append(ShapeItem("box", rect))
            block.boxes.append(Box("idea", rect, idea_id=idea.id, answer=answer))
            label_x = x + 2 * m.box + 14
            label_width = cell - 2 * m.box - 20
            label = self._lines(
                self.spec.answer_labels.label(answer), "bold", m.label, label_width, split=False
            )
            top = y - max(0.0, (m.box - self._lead(m.label)) / 2)
            used = self._text(block, label, "bold", m.label, label_x, label_width, top)
            row = max(row, used + (y - top))
        block.height = -y + row
        return block

    def _demographics(self) -> None:
        m, demo = self.m, self.spec.demographics
        self._new_page()
        intro = _Block()
        y = (
            -self._text(
                intro,
                self._lines(demo.title, "bold", m.heading, self.content_width),
                "bold",
                m.heading,
                self.start,
                self.content_width,
                0,
            )
            - m.gap / 2
        )
        y -= self._text(
            intro,
            self._lines(demo.intro, "regular", m.body, self.content_width),
            "regular",
            m.body,
            self.start,
            self.content_width,
            y,
        )
        intro.height = -y
        self._commit(intro)
        for question in demo.questions:
            self._commit(self._question(question))

    def _question(self, question) -> _Block:
        m = self.m
        block = _Block()
        y = (
            -self._text(
                block,
                self._lines(question.text, "bold", m.body, self.content_width),
                "bold",
                m.body,
                self.start,
                self.content_width,
                0,
            )
            - 6
        )
        columns = m.option_columns
        cell = self.content_width / columns
        options = question.all_options()
        for first in range(0, len(options), columns):
            row = m.box
            for j, option in enumerate(options[first : first + columns]):
                x = self.start + j * cell
                rect = self._rect(x, y - m.box, m.box, m.box)
                block.items.append(ShapeItem("box", rect))
                block.boxes.append(
                    Box("demographic", rect, question_id=question.id, option_id=option.id)
                )
                width = cell - m.box - 16
                lines = self._lines(option.label, "regular", m.label, width, split=False)
                top = y - max(0.0, (m.box - self._lead(m.label)) / 2)
                used = self._text(block, lines, "regular", m.label, x + m.box + 8, width, top)
                row = max(row, used + (y - top))
            y -= row + 6
        block.height = -y
        return block


def _stack(*blocks: _Block, gap: float) -> _Block:
    """Blocks one under the other, kept on one page."""
    out = _Block()
    y = 0.0
    for block in blocks:
        if not (block.items or block.boxes or block.areas):
            continue
        if out.items:
            y -= gap
        out.extend(block, y)
        y -= block.height
    out.height = -y
    return out


def _move(rect: Rect, dy: float) -> Rect:
    return Rect(rect.x, rect.y + dy, rect.width, rect.height)


def _shift(item, dy: float):
    if isinstance(item, TextItem):
        return replace(item, y=round(item.y + dy, 3))
    return replace(item, rect=_move(item.rect, dy))

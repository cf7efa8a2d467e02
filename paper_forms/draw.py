"""PDF operators for shaped text, tick boxes, writing areas, marks and symbols.

Text is written glyph by glyph: each glyph id becomes a byte of a ReportLab font subset
(see fonts.GlyphFont) inside a TJ array that places it where HarfBuzz said (advance and
x offset as TJ adjustments, y offset as text rise).

Left-to-right words are marked-content spans with ActualText, so extraction gives back
conjuncts and reordered vowel signs exactly. Right-to-left words are not: readers
(pdfium among them) reverse a right-to-left run of glyphs into logical order themselves,
and would reverse an ActualText too; for them the ToUnicode map (fonts.GlyphFont) is the
text, and it is written to come out right after that reversal.
"""

from __future__ import annotations

from dataclasses import dataclass

from .fonts import VIRTUAL_BASE, Face
from .layout import Rect
from .shaping import Line, Run


@dataclass(frozen=True)
class TextItem:
    """A line whose visual left end starts at x, baseline y."""

    line: Line
    face: Face
    size: float
    x: float
    y: float


@dataclass(frozen=True)
class ShapeItem:
    """A drawn thing: 'box', 'area' (writing area with rules), 'mark', 'tick', 'cross',
    'question' or 'question-rtl' (the mirrored Arabic question mark)."""

    kind: str
    rect: Rect
    rule_gap: float = 0.0


def n(value: float) -> str:
    """A compact PDF number."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


class Painter:
    """Turns items into PDF operators for one document (font subsets are per document)."""

    def __init__(self, canvas):
        self._doc = canvas._doc
        self._lines: dict[tuple, tuple[Line, str]] = {}
        self._runs: dict[tuple, tuple[Run, str]] = {}

    def text(self, item: TextItem) -> str:
        return f"BT 1 0 0 1 {n(item.x)} {n(item.y)} Tm {self._line(item)} ET"

    def items(self, items) -> str:
        ops = []
        for item in items:
            ops.append(self.text(item) if isinstance(item, TextItem) else shape_ops(item))
        return "\n".join(ops)

    def _line(self, item: TextItem) -> str:
        key = (id(item.line), item.face.weight, item.size)
        found = self._lines.get(key)
        if found is None or found[0] is not item.line:  # the id of a line no longer cached
            found = self._lines[key] = (item.line, self._encode_line(item))
        return found[1]

    def _run(self, run: Run, face: Face, size: float) -> str:
        """Cached per run: a page label shares all its runs but the serial with the last."""
        key = (id(run), face.weight, size)
        found = self._runs.get(key)
        if found is None or found[0] is not run:
            found = self._runs[key] = (run, self._glyphs(run, face, size))
        return found[1]

    def _encode_line(self, item: TextItem) -> str:
        """Left-to-right runs side by side (words and the spaces between them) share one
        ActualText span: a space alone draws nothing, and a reader would skip it."""
        ops: list[str] = []
        runs = item.line.runs
        i = 0
        while i < len(runs):
            if runs[i].rtl:
                ops.append(self._run(runs[i], item.face, item.size))
                i += 1
                continue
            j = i
            while j < len(runs) and not runs[j].rtl:
                j += 1
            actual = "".join(run.text for run in runs[i:j]).encode("utf-16-be").hex().upper()
            ops.append(f"/Span <</ActualText <FEFF{actual}>>> BDC")
            ops += [self._run(run, item.face, item.size) for run in runs[i:j]]
            ops.append("EMC")
            i = j
        return " ".join(ops)

    def _glyphs(self, run: Run, face: Face, size: float) -> str:
        """Glyphs placed as HarfBuzz said: x offsets and advances as TJ adjustments
        (relative to the widths in the font's /Widths), y offsets as text rise."""
        font = face.pdf
        widths = font.widths
        codes = "".join(chr(VIRTUAL_BASE + gid) for gid in run.glyphs)
        ops = []
        rise = 0.0
        k = 0
        for subset, data in font.splitString(codes, self._doc):
            ops.append(f"{font.getSubsetInternalName(subset, self._doc)} {n(size)} Tf")
            tokens: list[bytes | float] = []
            for byte in data:
                gid = run.glyphs[k]
                x_offset = run.x_offsets[k]
                y_offset = run.y_offsets[k] * size / 1000
                if y_offset != rise:
                    ops.append(_tj(tokens))
                    tokens = []
                    ops.append(f"{n(y_offset)} Ts")
                    rise = y_offset
                if x_offset:
                    tokens.append(-x_offset)
                tokens.append(bytes((byte,)))
                adjust = widths[gid] - run.advances[k] + x_offset
                if abs(adjust) > 0.0005:
                    tokens.append(adjust)
                k += 1
            ops.append(_tj(tokens))
        if rise:
            ops.append("0 Ts")
        return " ".join(op for op in ops if op)


def _tj(tokens: list[bytes | float]) -> str:
    """A TJ operator: neighbouring glyph bytes as one hex string, numbers between."""
    parts: list[str] = []
    pending: list[str] = []
    for token in tokens:
        if isinstance(token, bytes):
            pending.append(token.hex().upper())
            continue
        if pending:
            parts.append("<" + "".join(pending) + ">")
            pending = []
        parts.append(n(token))
    if pending:
        parts.append("<" + "".join(pending) + ">")
    return f"[{' '.join(parts)}] TJ" if parts else ""


def shape_ops(item: ShapeItem) -> str:
    r = item.rect
    if item.kind == "box":
        # The stroke lies inside the box, so the box's rectangle is exactly its ink.
        w = max(0.8, r.width / 22)
        inner = f"{n(r.x + w / 2)} {n(r.y + w / 2)} {n(r.width - w)} {n(r.height - w)}"
        return f"q {n(w)} w 0 G {inner} re S Q"
    if item.kind == "mark":
        return f"q 0 g {n(r.x)} {n(r.y)} {n(r.width)} {n(r.height)} re f Q"
    if item.kind == "area":
        ops = [f"q 0.6 w 0.35 G {n(r.x)} {n(r.y)} {n(r.width)} {n(r.height)} re S"]
        if item.rule_gap:
            ops.append("0.4 w 0.75 G")
            y = r.top - item.rule_gap
            while y > r.y + item.rule_gap * 0.5:
                ops.append(f"{n(r.x + 6)} {n(y)} m {n(r.right - 6)} {n(y)} l S")
                y -= item.rule_gap
        ops.append("Q")
        return " ".join(ops)
    return _symbol(item.kind, r)


def _symbol(kind: str, r: Rect) -> str:
    """Tick, cross and question mark as vector strokes, so no font can change them."""
    s = min(r.width, r.height)
    x0 = r.x + (r.width - s) / 2
    y0 = r.y + (r.height - s) / 2

    def p(u: float, v: float) -> str:
        if kind == "question-rtl":
            u = 1 - u
        return f"{n(x0 + u * s)} {n(y0 + v * s)}"

    head = f"q {n(s * 0.13)} w 1 J 1 j 0 G 0 g "
    if kind == "tick":
        return head + f"{p(0.12, 0.52)} m {p(0.38, 0.2)} l {p(0.88, 0.86)} l S Q"
    if kind == "cross":
        return head + (
            f"{p(0.18, 0.18)} m {p(0.82, 0.82)} l S {p(0.18, 0.82)} m {p(0.82, 0.18)} l S Q"
        )
    if kind in ("question", "question-rtl"):
        dot = 0.075
        k = 0.5523 * dot  # Bezier circle
        cx, cy = 0.5, 0.1
        circle = (
            f"{p(cx + dot, cy)} m "
            f"{p(cx + dot, cy + k)} {p(cx + k, cy + dot)} {p(cx, cy + dot)} c "
            f"{p(cx - k, cy + dot)} {p(cx - dot, cy + k)} {p(cx - dot, cy)} c "
            f"{p(cx - dot, cy - k)} {p(cx - k, cy - dot)} {p(cx, cy - dot)} c "
            f"{p(cx + k, cy - dot)} {p(cx + dot, cy - k)} {p(cx + dot, cy)} c f"
        )
        return head + (
            f"{p(0.26, 0.68)} m {p(0.26, 0.95)} {p(0.74, 0.97)} {p(0.74, 0.7)} c "
            f"{p(0.74, 0.52)} {p(0.5, 0.5)} {p(0.5, 0.32)} c S " + circle + " Q"
        )
    raise ValueError(f"unknown shape {kind!r}")

"""Text shaping and line breaking, done by the project itself.

ReportLab's own shaping and right-to-left support do nothing without a module that is
not on PyPI, and its Paragraph lays right-to-left words out left to right. So each line
is laid out here: the Unicode bidi algorithm (python-bidi) gives every character a level;
the line is cut into words and level runs; each is shaped by HarfBuzz in its own
direction (glyph ids, advances, offsets); the pieces are put in visual order by rule L2.
Lines are broken by measured shaped width. Everything is cached by (text, size, width),
because a print run repeats the same text on every sheet.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import uharfbuzz as hb
from bidi import algorithm as bidi_algorithm

from .fonts import Face

_RTL_CHARS = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
#: Sentence ends in the supported scripts: Latin, Arabic, Urdu, Devanagari-style danda.
_SENTENCE_END = re.compile(r"(?<=[.!?\u061f\u06d4\u0964])\s+")
_CACHE_LIMIT = 100_000


class MissingGlyph(ValueError):
    """The font cannot draw a character of the text."""


@dataclass(frozen=True)
class Run:
    """A shaped word or space, its glyphs in visual order; metrics in 1/1000 em."""

    text: str  # logical order: what the glyphs say
    glyphs: tuple[int, ...]
    advances: tuple[float, ...]
    x_offsets: tuple[float, ...]
    y_offsets: tuple[float, ...]
    width: float
    rtl: bool


@dataclass(frozen=True)
class Line:
    """One printed line: runs in visual order; width in 1/1000 em."""

    text: str
    runs: tuple[Run, ...]
    width: float


def sentences(text: str) -> list[str]:
    """Easy read puts one sentence on each line."""
    return [part for part in _SENTENCE_END.split(text.strip()) if part]


class Shaper:
    """Shapes and breaks text in one face; safe to share, caches are guarded."""

    def __init__(self, face: Face):
        self.face = face
        self._runs: dict[tuple, Run] = {}
        self._lines: dict[tuple, tuple[Line, ...]] = {}
        self._lock = threading.Lock()

    # -- public -----------------------------------------------------------------------

    def lines(self, text: str, size: float, width: float, rtl: bool, lang: str) -> tuple[Line, ...]:
        """Text broken into lines no wider than width points (a too-long word is split).

        A newline in the text starts a new line. Base direction is the form's, not guessed
        from the text, so an Urdu sentence that starts with a Latin word is still right to
        left.
        """
        key = (text, size, width, rtl, lang)
        found = self._lines.get(key)
        if found is not None:
            return found
        limit = width * 1000 / size
        result: list[Line] = []
        for paragraph in text.split("\n"):
            words = paragraph.split()
            if not words:
                continue
            current: list[str] = []
            current_width = 0.0
            space = self.run(" ", False, lang).width
            for word in words:
                word_width = self.measure(word, lang)
                if current and current_width + space + word_width > limit:
                    result.append(self.line(" ".join(current), rtl, lang))
                    current, current_width = [], 0.0
                if not current and word_width > limit:
                    *pieces, word = self._split_word(word, limit, lang)
                    result.extend(self.line(piece, rtl, lang) for piece in pieces)
                    word_width = self.measure(word, lang)
                current_width += (space if current else 0.0) + word_width
                current.append(word)
            if current:
                result.append(self.line(" ".join(current), rtl, lang))
        found = tuple(result)
        with self._lock:
            if len(self._lines) > _CACHE_LIMIT:
                self._lines.clear()
            self._lines[key] = found
        return found

    def line(self, text: str, rtl: bool, lang: str) -> Line:
        """One line of text laid out in visual order (not broken)."""
        levels = bidi_levels(text, rtl)
        pieces: list[tuple[str, int]] = []
        start = 0
        for i in range(1, len(text) + 1):
            if (
                i == len(text)
                or levels[i] != levels[start]
                or text[i].isspace() != text[start].isspace()
            ):
                pieces.append((text[start:i], levels[start]))
                start = i
        order = visual_order([level for _, level in pieces])
        runs = tuple(self.run(pieces[i][0], pieces[i][1] % 2 == 1, lang) for i in order)
        return Line(text, runs, sum(run.width for run in runs))

    def measure(self, word: str, lang: str) -> float:
        """Shaped width of a word in 1/1000 em."""
        return self.run(word, bool(_RTL_CHARS.search(word)), lang).width

    def run(self, text: str, rtl: bool, lang: str) -> Run:
        """HarfBuzz's shaping of text in one direction (cached)."""
        key = (text, rtl, lang)
        found = self._runs.get(key)
        if found is None:
            found = self._shape(text, rtl, lang)
            with self._lock:
                if len(self._runs) > _CACHE_LIMIT:
                    self._runs.clear()
                self._runs[key] = found
        return found

    # -- internals --------------------------------------------------------------------

    def _shape(self, text: str, rtl: bool, lang: str) -> Run:
        buf = hb.Buffer()
        buf.add_codepoints([ord(c) for c in text])
        buf.guess_segment_properties()
        buf.direction = "rtl" if rtl else "ltr"
        buf.language = lang
        hb.shape(self.face.hb, buf, {})
        infos, positions = buf.glyph_infos, buf.glyph_positions
        scale = 1000 / self.face.hb.face.upem
        glyphs = tuple(info.codepoint for info in infos)
        for info, gid in zip(infos, glyphs, strict=True):
            if gid == 0 and not text[info.cluster].isspace():
                raise MissingGlyph(
                    f"the font has no glyph for U+{ord(text[info.cluster]):04X} in {text!r}"
                )
        self._learn(text, infos, rtl)
        advances = tuple(p.x_advance * scale for p in positions)
        return Run(
            text=text,
            glyphs=glyphs,
            advances=advances,
            x_offsets=tuple(p.x_offset * scale for p in positions),
            y_offsets=tuple(p.y_offset * scale for p in positions),
            width=sum(advances),
            rtl=rtl,
        )

    def _learn(self, text: str, infos, rtl: bool) -> None:
        """Tell the PDF font what a glyph that alone makes a cluster stands for."""
        clusters: dict[int, list[int]] = {}
        for info in infos:
            clusters.setdefault(info.cluster, []).append(info.codepoint)
        starts = sorted(clusters)
        for n, start in enumerate(starts):
            gids = clusters[start]
            if len(gids) == 1:
                end = starts[n + 1] if n + 1 < len(starts) else len(text)
                self.face.pdf.learn(gids[0], text[start:end], rtl)

    def _split_word(self, word: str, limit: float, lang: str) -> list[str]:
        """A word too wide for the line, cut between characters into pieces that fit."""
        pieces, start = [], 0
        for end in range(1, len(word) + 1):
            if end - start > 1 and self.measure(word[start:end], lang) > limit:
                pieces.append(word[start : end - 1])
                start = end - 1
        pieces.append(word[start:])
        return pieces


def has_rtl_letters(text: str) -> bool:
    """Whether any character of the text is written right to left."""
    return bool(_RTL_CHARS.search(text))


def bidi_levels(text: str, rtl: bool) -> list[int]:
    """The resolved bidi embedding level of each character (rules up to I2)."""
    if not rtl and not _RTL_CHARS.search(text):
        return [0] * len(text)
    storage = bidi_algorithm.get_empty_storage()
    storage["base_level"] = 1 if rtl else 0
    storage["base_dir"] = "R" if rtl else "L"
    bidi_algorithm.get_embedding_levels(text, storage)
    for index, char in enumerate(storage["chars"]):
        char["index"] = index
    bidi_algorithm.explicit_embed_and_overrides(storage)
    bidi_algorithm.resolve_weak_types(storage)
    bidi_algorithm.resolve_neutral_types(storage, False)
    bidi_algorithm.resolve_implicit_levels(storage, False)
    levels: list[int | None] = [None] * len(text)
    for char in storage["chars"]:
        levels[char["index"]] = char["level"]
    previous = storage["base_level"]
    for index, level in enumerate(levels):  # characters rule X9 removed take their neighbour's
        if level is None:
            levels[index] = previous
        previous = levels[index]
    return levels


def visual_order(levels: list[int]) -> list[int]:
    """Indices of pieces in display order (rule L2: reverse runs from the highest level)."""
    order = list(range(len(levels)))
    if not levels:
        return order
    lowest_odd = min((level for level in levels if level % 2), default=None)
    if lowest_odd is None:
        return order
    for level in range(max(levels), lowest_odd - 1, -1):
        i = 0
        while i < len(order):
            if levels[order[i]] >= level:
                j = i
                while j < len(order) and levels[order[j]] >= level:
                    j += 1
                order[i:j] = reversed(order[i:j])
                i = j
            else:
                i += 1
    return order

"""Fonts: Kurinto Sans from the weblate-fonts package, addressed by glyph id.

One file covers Latin, Cyrillic, Arabic and Urdu, Bengali, Gurmukhi and Gujarati. The
fonts are loaded once per process and reused by every document.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import uharfbuzz as hb
from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont

#: Glyph g is drawn as the private character VIRTUAL_BASE + g (plane 15, never real text).
VIRTUAL_BASE = 0xF0000

_KURINTO = "static/weblate_fonts/kurinto/ttf/KurintoSans-{}.ttf"


class FontMissing(RuntimeError):
    """The font files are not installed."""


def kurinto_path(weight: str) -> Path:
    """The installed Kurinto Sans file for 'regular' or 'bold'."""
    try:
        root = resources.files("weblate_fonts")
    except ModuleNotFoundError as error:
        raise FontMissing(
            "paper forms need the weblate-fonts package (pip install weblate-fonts)"
        ) from error
    path = Path(str(root / _KURINTO.format({"regular": "Rg", "bold": "Bd"}[weight])))
    if not path.is_file():
        raise FontMissing(f"Kurinto Sans is missing from weblate-fonts: {path}")
    return path


class GlyphFont(TTFont):
    """A ReportLab TrueType font whose 'characters' are glyph ids.

    HarfBuzz chooses glyphs that have no character of their own (conjuncts, ligatures,
    contextual forms). Giving glyph g the private code VIRTUAL_BASE + g lets ReportLab's
    own subsetting embed exactly those glyphs, one byte per glyph, with the font's real
    advance widths. The ToUnicode map written here says which text each glyph stands for
    (right-to-left text is found this way, as readers put its visual order right); draw.py
    wraps left-to-right words in ActualText, which gives conjuncts and reordered vowel
    signs back exactly.

    Like any ReportLab TTFont, one object must not be used by two documents being built
    at the same time: printing.py builds one document at a time.
    """

    def __init__(self, name: str, path: Path):
        super().__init__(name, str(path), asciiReadable=False, shapable=False)
        face = self.face
        scale = face._pdfScale
        #: Advance width of every glyph in 1/1000 em, as written to the PDF's /Widths.
        self.widths = [scale(advance) for advance, _ in face.hmetrics]
        for gid, width in enumerate(self.widths):
            face.charToGlyph[VIRTUAL_BASE + gid] = gid
            face.charWidths[VIRTUAL_BASE + gid] = width
        #: What each glyph stands for: learned while shaping, else the font's own cmap.
        self.glyph_text: dict[int, str] = {}
        for gid, chars in face.glyphToChar.items():
            real = [c for c in chars if c < VIRTUAL_BASE and c != 0xA0]
            if real:
                self.glyph_text[gid] = chr(min(real))
        self.glyph_learned: set[int] = set()

    def learn(self, gid: int, text: str, rtl: bool) -> None:
        """Remember that glyph gid alone stood for text, if the cmap cannot say it better.

        Glyphs with no character (conjuncts, ligatures) and Arabic presentation forms
        take the text they were shaped from; a glyph of an ordinary character keeps it
        (a mirrored bracket must stay itself). Right-to-left text is stored in visual
        order, as readers reverse right-to-left glyph runs to get logical order.
        """
        if gid in self.glyph_learned:
            return
        self.glyph_learned.add(gid)
        known = self.glyph_text.get(gid)
        if known is None or _is_presentation_form(known):
            self.glyph_text[gid] = text[::-1] if rtl else text

    def addObjects(self, doc):  # noqa: N802 - ReportLab's name
        """ReportLab's subset objects, with a ToUnicode map from glyphs to their text."""
        try:
            state = self.state[doc]
        except KeyError:
            state = self.state[doc] = TTFont.State(self._asciiReadable)
        state.frozen = 1
        for n, subset in enumerate(state.subsets):
            internal_name = self.getSubsetInternalName(n, doc)[1:]
            base_name = (
                b"".join((SUBSETN(n), b"+", self.face.name, self.face.subfontNameX))
            ).decode("pdfdoc")
            font = pdfdoc.PDFTrueTypeFont()
            font.__Comment__ = f"Font {self.fontName} subset {n}"
            font.Name = internal_name
            font.BaseFont = base_name
            font.FirstChar = 0
            font.LastChar = len(subset) - 1
            font.Widths = pdfdoc.PDFArray([self.face.getCharWidth(code) for code in subset])
            cmap = pdfdoc.PDFStream()
            cmap.content = self._to_unicode(base_name, subset)
            if doc.compression:
                cmap.filters = [pdfdoc.PDFZCompress]
            font.ToUnicode = doc.Reference(cmap, "toUnicodeCMap:" + base_name)
            font.FontDescriptor = self.face.addSubsetObjects(doc, base_name, subset)
            doc.Reference(font, internal_name)
            doc.idToObject["BasicFonts"].dict[internal_name] = font
        del self.state[doc]

    def _to_unicode(self, name: str, subset: list[int]) -> str:
        entries = []
        for byte, code in enumerate(subset):
            if code >= VIRTUAL_BASE:
                text = self.glyph_text.get(code - VIRTUAL_BASE, "")
            else:
                text = chr(code) if code else ""
            if text:
                entries.append(f"<{byte:02X}> <{text.encode('utf-16-be').hex().upper()}>")
        lines = [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            f"/CIDSystemInfo << /Registry ({name}) /Ordering ({name}) /Supplement 0 >> def",
            f"/CMapName /{name} def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            f"<00> <{len(subset) - 1:02X}>",
            "endcodespacerange",
        ]
        for start in range(0, len(entries), 100):
            chunk = entries[start : start + 100]
            lines += [f"{len(chunk)} beginbfchar", *chunk, "endbfchar"]
        lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
        return "\n".join(lines)


def _is_presentation_form(text: str) -> bool:
    code = ord(text[0])
    return 0xFB00 <= code <= 0xFDFF or 0xFE70 <= code <= 0xFEFF


@dataclass(frozen=True)
class Face:
    """One weight: the PDF font and the HarfBuzz font made from the same file."""

    weight: str
    pdf: GlyphFont
    hb: hb.Font
    ascent: float  # 1/1000 em
    descent: float  # 1/1000 em, positive


_faces: dict[str, Face] = {}
_faces_lock = threading.Lock()


def face(weight: str = "regular") -> Face:
    """The process-wide Face for 'regular' or 'bold', loaded on first use."""
    with _faces_lock:
        found = _faces.get(weight)
        if found is None:
            path = kurinto_path(weight)
            pdf = GlyphFont(f"PaperForms-Kurinto-{weight}", path)
            hb_font = hb.Font(hb.Face(hb.Blob.from_file_path(str(path))))
            extents = hb_font.get_font_extents("ltr")
            upem = hb_font.face.upem
            found = _faces[weight] = Face(
                weight,
                pdf,
                hb_font,
                ascent=extents.ascender * 1000 / upem,
                descent=-extents.descender * 1000 / upem,
            )
        return found

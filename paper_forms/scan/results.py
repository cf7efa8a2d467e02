"""What reading a scan gives back: plain dataclasses, JSON-able through to_dict().

One PageResult per page of every file (or one per file that could not be opened). Its
status says what happened:

  read          identified, fitted, every box and writing area read
  blank         no code and next to no ink: the blank back of a duplex scan
  unidentified  no engage page code could be read, but the page is not blank
  unknown_form  a page code for a form (or a sheet or page of it) the caller does not know
  poor_fit      the page could not be fitted to its layout closely enough to read boxes
  error         the file, or this page of it, could not be decoded

Anything but read and blank wants a person: `reason` says why in words.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, fields

READ = "read"
BLANK_PAGE = "blank"
UNIDENTIFIED = "unidentified"
UNKNOWN_FORM = "unknown_form"
POOR_FIT = "poor_fit"
ERROR = "error"
STATUSES = (READ, BLANK_PAGE, UNIDENTIFIED, UNKNOWN_FORM, POOR_FIT, ERROR)

#: An answer a person must decide: never guessed.
UNCERTAIN = "uncertain"
#: The value of a consent answer whose box is marked.
GIVEN = "given"


@dataclass(frozen=True)
class BoxResult:
    """One tick box: what it means (as in the layout) and what was found in it."""

    kind: str
    idea_id: str | None
    answer: str | None
    question_id: str | None
    option_id: str | None
    #: 'blank', 'marked' or 'uncertain'.
    state: str
    confidence: float
    #: Mean darkness of the inner area (0 to 1) and the measurements behind the state.
    ink: float
    light: float
    dark: float
    solid: float
    spill: float
    peak: float = 0.0
    #: How dark the printed outline is where the fit puts it (0 to 1), and how far
    #: (points) it really is from there (0 for a box with much ink in it).
    outline: float = 0.0
    offset: float = 0.0
    reason: str | None = None


@dataclass(frozen=True)
class AnswerResult:
    """One question's answer: for 'idea' the answer (agree, disagree, unsure), for
    'demographic' the option id, for 'consent' GIVEN; None when no box is marked;
    UNCERTAIN when a box is uncertain or more than one is marked."""

    kind: str
    #: The idea id, the question id, or 'consent'.
    key: str
    value: str | None
    reason: str | None = None


@dataclass(frozen=True)
class AreaResult:
    prompt_id: str
    has_writing: bool
    #: Ink found outside the printed lines, in square points.
    ink: float
    #: The area cut out upright at `dpi`, as PNG; None when nothing is written.
    png: bytes | None
    width: int
    height: int
    dpi: int


@dataclass
class PageResult:
    source: str
    #: 0-based page of the file; None when the file as a whole could not be read.
    page_index: int | None
    status: str
    reason: str | None = None
    #: The name of the exception behind an 'error' (EmptyFile, DamagedFile, ...).
    error_type: str | None = None
    file_sha256: str | None = None
    #: SHA-256 of the decoded page, grey and reduced (the copy searched for its code,
    #: 1000-2000 pixels on the long side, in averages of 4 x 4; its size and pixels):
    #: the same scan read again, from any file it is in, gives the same hash.
    page_sha256: str | None = None
    #: The code's text as read, whatever it says.
    code: str | None = None
    form_id: str | None = None
    serial: int | None = None
    page: int | None = None
    #: RMS and largest distance in points between the layout and the fitted page.
    fit_error: float | None = None
    fit_max_error: float | None = None
    marks_found: tuple[str, ...] = ()
    #: Resolution of the page in the image, and how far it is turned clockwise.
    dpi: float | None = None
    rotation: int | None = None
    #: The fit, 3 x 3 row by row: layout points (x right, y up) to pixels (edge
    #: coordinates) of the page as it was decoded (a JPEG of 300 dpi or more is decoded
    #: reduced: see load.py); None when the page was not fitted. A caller cutting out
    #: boxes or areas of its own uses it instead of fitting the page again.
    homography: list[list[float]] | None = None
    boxes: list[BoxResult] = field(default_factory=list)
    answers: list[AnswerResult] = field(default_factory=list)
    areas: list[AreaResult] = field(default_factory=list)

    @property
    def needs_attention(self) -> bool:
        """Not read and not blank, or read with an answer a person must decide."""
        if self.status == BLANK_PAGE:
            return False
        return self.status != READ or any(a.value == UNCERTAIN for a in self.answers)

    def to_dict(self, png: bool = True) -> dict:
        """JSON-able: lists for tuples, PNG bytes as base64 text (without `png`, None:
        for a caller that keeps each crop as a file of its own).

        Field by field rather than dataclasses.asdict, whose deep copies took longer
        than a page's SQLite write (every field here is a plain value)."""
        data = dict(vars(self))
        data["marks_found"] = list(self.marks_found)
        if self.homography is not None:
            data["homography"] = [list(row) for row in self.homography]
        data["boxes"] = [dict(vars(box)) for box in self.boxes]
        data["answers"] = [dict(vars(answer)) for answer in self.answers]
        data["areas"] = [dict(vars(area)) for area in self.areas]
        for area in data["areas"]:
            if area["png"] is not None:
                area["png"] = base64.b64encode(area["png"]).decode("ascii") if png else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> PageResult:
        data = dict(data)
        data["marks_found"] = tuple(data.get("marks_found", ()))
        data["boxes"] = [BoxResult(**_known(BoxResult, b)) for b in data.get("boxes", ())]
        data["answers"] = [AnswerResult(**_known(AnswerResult, a)) for a in data.get("answers", ())]
        areas = []
        for area in data.get("areas", ()):
            area = dict(area)
            if area["png"] is not None:
                area["png"] = base64.b64decode(area["png"])
            areas.append(AreaResult(**_known(AreaResult, area)))
        data["areas"] = areas
        return cls(**_known(cls, data))


def _known(cls, data: dict) -> dict:
    """The entries of data that are fields of cls: a result stored by another version
    (with a measurement since added or dropped) still reads back."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}

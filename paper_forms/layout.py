"""Where everything is on every page, in PDF points: the only thing a scan reader needs.

Coordinates are PDF user space: points (1/72 inch), origin at the bottom-left corner of
the page, y upwards; a rectangle is its lower-left corner plus width and height. The JSON
form is versioned; pages that are the same on many sheets are written once under
``templates`` and named by index from each sheet.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .spec import json_ready

LAYOUT_KIND = "engage.paper_forms.layout"
LAYOUT_VERSION = 1


class LayoutError(ValueError):
    """A layout file this version cannot read."""


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float

    def __post_init__(self):
        # Rounded once here, so a layout equals its own JSON round trip.
        for name in ("x", "y", "width", "height"):
            object.__setattr__(self, name, round(float(getattr(self, name)), 3))

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def top(self) -> float:
        return self.y + self.height

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.top
            and other.y < self.top
        )

    def inside(self, other: Rect) -> bool:
        return (
            other.x <= self.x
            and self.right <= other.right
            and other.y <= self.y
            and self.top <= other.top
        )

    def grown(self, margin: float) -> Rect:
        return Rect(
            self.x - margin, self.y - margin, self.width + 2 * margin, self.height + 2 * margin
        )

    def to_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass(frozen=True)
class Box:
    """A tick box and what a mark in it means.

    kind 'consent'; 'idea' with idea_id and answer (agree, disagree, unsure); or
    'demographic' with question_id and option_id (``prefer_not_to_say`` for that option).
    """

    kind: str
    rect: Rect
    idea_id: str | None = None
    answer: str | None = None
    question_id: str | None = None
    option_id: str | None = None

    def to_dict(self) -> dict:
        data = {"kind": self.kind, **self.rect.to_dict()}
        for name in ("idea_id", "answer", "question_id", "option_id"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Box:
        return cls(
            kind=data["kind"],
            rect=_rect(data),
            idea_id=data.get("idea_id"),
            answer=data.get("answer"),
            question_id=data.get("question_id"),
            option_id=data.get("option_id"),
        )


@dataclass(frozen=True)
class WritingArea:
    """Where the answer to a prompt is handwritten."""

    prompt_id: str
    rect: Rect

    def to_dict(self) -> dict:
        return {"prompt_id": self.prompt_id, **self.rect.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> WritingArea:
        return cls(prompt_id=data["prompt_id"], rect=_rect(data))


@dataclass(frozen=True)
class Mark:
    """A solid black alignment square in a page corner ('top-left', ...)."""

    corner: str
    rect: Rect

    def to_dict(self) -> dict:
        return {"corner": self.corner, **self.rect.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> Mark:
        return cls(corner=data["corner"], rect=_rect(data))


@dataclass(frozen=True)
class QRPlacement:
    """The QR symbol (without quiet zone); modules across; blank margin around it."""

    rect: Rect
    modules: int
    quiet_zone: float

    def to_dict(self) -> dict:
        return {**self.rect.to_dict(), "modules": self.modules, "quiet_zone": self.quiet_zone}

    @classmethod
    def from_dict(cls, data: dict) -> QRPlacement:
        return cls(rect=_rect(data), modules=data["modules"], quiet_zone=data["quiet_zone"])


@dataclass(frozen=True)
class PageLayout:
    """One page of a sheet: its number and everything a reader measures on it."""

    page: int
    qr: QRPlacement
    marks: tuple[Mark, ...]
    boxes: tuple[Box, ...]
    areas: tuple[WritingArea, ...]
    #: Where the serial and page are printed as text.
    label: Rect

    def to_dict(self) -> dict:
        return {
            "page": self.page,
            "qr": self.qr.to_dict(),
            "marks": [m.to_dict() for m in self.marks],
            "boxes": [b.to_dict() for b in self.boxes],
            "areas": [a.to_dict() for a in self.areas],
            "label": self.label.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PageLayout:
        return cls(
            page=data["page"],
            qr=QRPlacement.from_dict(data["qr"]),
            marks=tuple(Mark.from_dict(m) for m in data["marks"]),
            boxes=tuple(Box.from_dict(b) for b in data["boxes"]),
            areas=tuple(WritingArea.from_dict(a) for a in data["areas"]),
            label=_rect(data["label"]),
        )


@dataclass(frozen=True)
class SheetLayout:
    """One participant's copy: its serial, the order its ideas were printed in, its pages."""

    serial: int
    idea_order: tuple[str, ...]
    pages: tuple[PageLayout, ...]


@dataclass(frozen=True)
class Paper:
    name: str
    width: float
    height: float


@dataclass(frozen=True)
class Layout:
    """A whole print run of one form."""

    form_id: str
    language: str
    direction: str
    variant: str
    paper: Paper
    sheets: tuple[SheetLayout, ...]
    payload_format: str = "EG1:<form_id>:<serial>:<page>"
    version: int = LAYOUT_VERSION
    _index: dict = field(default=None, compare=False, repr=False, hash=False)

    def sheet(self, serial: int) -> SheetLayout:
        """The sheet with this serial; KeyError if it is not in this run."""
        index = self._index
        if index is None:
            index = {sheet.serial: sheet for sheet in self.sheets}
            object.__setattr__(self, "_index", index)
        return index[serial]

    def page(self, serial: int, page: int) -> PageLayout:
        """The layout of one page of one sheet; KeyError if there is none."""
        for found in self.sheet(serial).pages:
            if found.page == page:
                return found
        raise KeyError(page)

    @property
    def serials(self) -> list[int]:
        return [sheet.serial for sheet in self.sheets]

    def to_dict(self) -> dict:
        templates: dict[PageLayout, int] = {}
        sheets = []
        for sheet in self.sheets:
            refs = [templates.setdefault(page, len(templates)) for page in sheet.pages]
            sheets.append(
                {"serial": sheet.serial, "idea_order": list(sheet.idea_order), "pages": refs}
            )
        return {
            "kind": LAYOUT_KIND,
            "version": self.version,
            "units": "pt",
            "origin": "bottom-left",
            "form_id": self.form_id,
            "language": self.language,
            "direction": self.direction,
            "variant": self.variant,
            "paper": {
                "name": self.paper.name,
                "width": self.paper.width,
                "height": self.paper.height,
            },
            "payload_format": self.payload_format,
            "templates": [page.to_dict() for page in templates],
            "sheets": sheets,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Layout:
        if data.get("kind") != LAYOUT_KIND:
            raise LayoutError("not a paper form layout")
        if data.get("version") != LAYOUT_VERSION:
            raise LayoutError(
                f"layout version {data.get('version')!r} is not {LAYOUT_VERSION}; "
                "this version of engage cannot read it"
            )
        templates = [PageLayout.from_dict(page) for page in data["templates"]]
        return cls(
            form_id=data["form_id"],
            language=data["language"],
            direction=data["direction"],
            variant=data["variant"],
            paper=Paper(**data["paper"]),
            sheets=tuple(
                SheetLayout(
                    serial=sheet["serial"],
                    idea_order=tuple(sheet["idea_order"]),
                    pages=tuple(templates[i] for i in sheet["pages"]),
                )
                for sheet in data["sheets"]
            ),
            payload_format=data["payload_format"],
            version=data["version"],
        )

    def to_json(self) -> str:
        return json.dumps(json_ready(self.to_dict()), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Layout:
        return cls.from_dict(json.loads(text))

    def write(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically, so a reader never sees half a layout."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def read(cls, path: str | os.PathLike) -> Layout:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


def layout_path(pdf_path: str | os.PathLike) -> Path:
    """forms.pdf -> forms.layout.json, beside it."""
    path = Path(pdf_path)
    return path.with_name(path.stem + ".layout.json")


def _rect(data: dict) -> Rect:
    return Rect(data["x"], data["y"], data["width"], data["height"])

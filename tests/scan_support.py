"""Synthetic scans of the project's own forms, with the truth about every box.

A page is printed by paper_forms, rasterised by pdfium at 150, 200 or 300 dpi, filled
in the way people fill forms in (ticks, crosses, filled boxes; faint, half-filled and
scribbled-out boxes; handwriting), then scanned or photographed:

  scanner  paper tone and a lamp gradient, turned up to 5 degrees on the glass, blur,
           sensor noise, JPEG at quality 50 to 90, sometimes in colour with blue ink
  phone    perspective, a table around the page, a shading gradient and a soft shadow,
           blur, noise, JPEG; the page fills 65-90% of the frame, at 150 or 200 dpi

and may be turned a quarter, half or three-quarter turn. The back of a duplex sheet is
paper with a little show-through of the front.

Ground truth is decided up front, by kind of mark:
  blank                  -> blank
  tick, cross, fill      -> marked       (pen ink, darkness 0.7 or more, pen 0.9-2.8 pt)
  faint, half, scribble  -> uncertain    (pencil of darkness 0.2-0.35, a third of black;
                                          a fill of one side of the box, 55-65% of it; a
                                          crossing out: sweeps over the box and 4-5.5 pt
                                          past every edge)
"""

from __future__ import annotations

import functools
import io
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from paper_forms import (
    AnswerLabels,
    Demographics,
    FormSpec,
    Idea,
    Layout,
    Option,
    Prompt,
    Question,
    render,
)
from paper_forms.styles import VARIANT_METRICS

CLEAR = ("tick", "cross", "fill")
AMBIGUOUS = ("faint", "half", "scribble")
KINDS = ("blank", *CLEAR, *AMBIGUOUS)
EXPECTED = {
    "blank": "blank",
    **dict.fromkeys(CLEAR, "marked"),
    **dict.fromkeys(AMBIGUOUS, "uncertain"),
}

ETHNIC = (
    "Bangladeshi",
    "Chinese",
    "Indian",
    "Pakistani",
    "Any other Asian background",
    "African",
    "Caribbean",
    "Any other Black background",
    "White and Asian",
    "White and Black African",
    "White and Black Caribbean",
    "Any other Mixed background",
    "English, Welsh, Scottish, Northern Irish or British",
    "Irish",
    "Gypsy or Irish Traveller",
    "Roma",
    "Any other White background",
    "Arab",
    "Any other ethnic group",
)


SHORT_IDEAS = {
    "en": (
        "Evening and weekend appointments",
        "Refer yourself without a GP",
        "Letters in my language",
        "Appointments in community centres",
        "Help with travel costs",
        "Longer appointments when needed",
        "Interpreters at every appointment",
        "Easy read leaflets",
    ),
}


def dense_spec(
    language: str = "en", variant: str = "standard", form_id: str = "DENSE", ideas: int = 52
) -> FormSpec:
    """A form with many boxes a page: many short ideas, and eleven demographic questions
    (the ONS ethnic groups among them), built on the tests' sample consultation."""
    from paper_support import SAMPLES

    s = SAMPLES[language]
    texts = SHORT_IDEAS.get(language, s["ideas"])
    ideas = tuple(Idea(f"idea{n:02}", texts[n % len(texts)]) for n in range(ideas))
    questions = [
        Question(
            qid,
            text,
            tuple(Option(f"{qid}-{k}", label) for k, label in enumerate(labels)),
            s["prefer"],
        )
        for qid, (text, labels) in zip(
            ("age", "disability", "internet"), s["questions"], strict=True
        )
    ]
    extra = (
        ("ethnic", "Ethnic group", ETHNIC),
        ("sex", "Sex", ("Female", "Male")),
        (
            "orientation",
            "Sexual orientation",
            ("Straight", "Gay or lesbian", "Bisexual", "Another"),
        ),
        (
            "role",
            "Which best describes you?",
            (
                "I use services",
                "Carer",
                "Health worker",
                "Care worker",
                "Volunteer",
                "Student",
                "Retired",
                "Other",
            ),
        ),
        (
            "travel",
            "How did you travel here?",
            (
                "Walked",
                "Bus",
                "Car",
                "Taxi",
                "Train",
                "Bicycle",
                "Wheelchair",
                "Lift from a friend",
                "Other",
            ),
        ),
        (
            "heard",
            "How did you hear about this?",
            (
                "Friend",
                "Family",
                "Poster",
                "Radio",
                "Clinic",
                "Charity",
                "Faith group",
                "School",
                "Website",
                "Other",
            ),
        ),
        (
            "often",
            "How often do you see a health worker?",
            ("Weekly", "Monthly", "Every few months", "Yearly", "Rarely", "Never", "Not sure"),
        ),
        (
            "services",
            "Which service did you last use?",
            (
                "Physiotherapy",
                "Podiatry",
                "Dietetics",
                "Speech therapy",
                "Occupational therapy",
                "Radiography",
                "Paramedics",
                "Orthoptics",
                "Other",
            ),
        ),
    )
    for qid, text, labels in extra:
        questions.append(
            Question(
                qid, text, tuple(Option(f"{qid}{k}", t) for k, t in enumerate(labels)), s["prefer"]
            )
        )
    return FormSpec(
        form_id=form_id,
        language=language,
        title=s["title"],
        instruction=s["instruction"],
        consent=s["consent"],
        prompts=(Prompt("easier", s["prompts"][0]), Prompt("worked-well", s["prompts"][1])),
        ideas=ideas,
        answer_labels=AnswerLabels(*s["labels"]),
        ideas_intro=s["ideas_intro"],
        demographics=Demographics(s["demo_title"], s["demo_intro"], tuple(questions)),
        variant=variant,
    )


@dataclass
class Printed:
    """A print run: its PDF on disk and its layout."""

    pdf: Path
    layout: Layout

    def page_index(self, serial: int, page: int) -> int:
        """0-based page of the PDF holding this sheet's page."""
        index = 0
        for sheet in self.layout.sheets:
            for p in sheet.pages:
                if sheet.serial == serial and p.page == page:
                    return index
                index += 1
        raise KeyError((serial, page))


def print_form(spec: FormSpec, folder: Path, sheets: int = 3) -> Printed:
    pdf = Path(folder) / f"{spec.form_id}.pdf"
    layout = render(spec, sheets=sheets, out_pdf=pdf)
    return Printed(pdf, layout)


class LayoutFolder:
    """form id -> Layout, from <folder>/<form id>.layout.json as render() writes them;
    None for a form not there. Picklable, so worker processes can use it."""

    def __init__(self, folder):
        self.folder = str(folder)

    def __call__(self, form_id: str) -> Layout | None:
        path = Path(self.folder) / f"{form_id}.layout.json"
        return Layout.read(path) if path.exists() else None


@functools.lru_cache(maxsize=6)
def rasterise(pdf: str, index: int, dpi: int) -> Image.Image:
    """One page of a PDF as pdfium draws it, grey."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[index]
        image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        page.close()
        return image
    finally:
        doc.close()


# -- filling a form in ----------------------------------------------------------------------


@dataclass
class Ink:
    """Where ink goes on one page: a grey layer (255 none, 0 black) and its colour."""

    size: tuple[int, int]
    dpi: float
    height_pt: float
    layer: Image.Image = None

    def __post_init__(self):
        self.layer = Image.new("L", self.size, 255)

    def px(self, x: float, y: float) -> tuple[float, float]:
        k = self.dpi / 72
        return x * k, (self.height_pt - y) * k

    def strokes(self, lines, width_pt: float, darkness: float, supersample: int = 3, joint="curve"):
        """Draw polylines (lists of (x, y) in points) in one pen and one ink, on a patch
        at `supersample` times the resolution, reduced (so edges are anti-aliased)."""
        k = self.dpi / 72
        pad = width_pt * k + 2
        pts = [self.px(x, y) for line in lines for x, y in line]
        left = max(0, int(min(p[0] for p in pts) - pad))
        top = max(0, int(min(p[1] for p in pts) - pad))
        right = min(self.size[0], int(max(p[0] for p in pts) + pad) + 1)
        bottom = min(self.size[1], int(max(p[1] for p in pts) + pad) + 1)
        if right <= left or bottom <= top:
            return
        s = supersample
        patch = Image.new("L", ((right - left) * s, (bottom - top) * s), 255)
        draw = ImageDraw.Draw(patch)
        grey = round(255 * (1 - darkness))
        width = max(1, round(width_pt * k * s))
        for line in lines:
            xy = [((px - left) * s, (py - top) * s) for px, py in (self.px(x, y) for x, y in line)]
            draw.line(xy, fill=grey, width=width, joint=joint)
            r = width / 2
            for cx, cy in (xy[0], xy[-1]):
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=grey)
        patch = patch.reduce(s)
        box = (left, top, left + patch.width, top + patch.height)
        region = self.layer.crop(box)
        self.layer.paste(ImageChops.darker(region, patch), box)


def _jitter(points, rng: random.Random, amount: float, step: float = 1.0):
    """A hand's wobble: points every `step` points along the polyline, moved sideways
    by a smooth random offset of up to `amount`."""
    out = []
    phase, freq = rng.uniform(0, 6.3), rng.uniform(0.15, 0.5)
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        length = math.hypot(x1 - x0, y1 - y0)
        n = max(2, int(length / step))
        nx, ny = (-(y1 - y0) / length, (x1 - x0) / length) if length else (0, 0)
        for i in range(n):
            t = i / n
            wob = amount * math.sin(phase + freq * len(out)) + rng.uniform(-0.15, 0.15) * amount
            out.append((x0 + (x1 - x0) * t + nx * wob, y0 + (y1 - y0) * t + ny * wob))
    out.append(points[-1])
    return out


def _place(shape, rect, scale, angle, dx, dy):
    """Unit-square points (v up) scaled about the centre, turned, moved, onto the box."""
    cos, sin = math.cos(angle), math.sin(angle)
    out = []
    for u, v in shape:
        u, v = (u - 0.5) * scale, (v - 0.5) * scale
        u, v = u * cos - v * sin, u * sin + v * cos
        out.append((rect.x + rect.width * (0.5 + u + dx), rect.y + rect.height * (0.5 + v + dy)))
    return out


def _clamp_overshoot(line, rect, limit):
    """Keep a stroke within `limit` points outside the box."""
    return [
        (
            min(max(x, rect.x - limit), rect.right + limit),
            min(max(y, rect.y - limit), rect.top + limit),
        )
        for x, y in line
    ]


def _hatch(rect, rng, pen, inset, overshoot, region=None):
    """Back-and-forth strokes filling a rectangle (or a part of it), as a hand fills a box.

    region: None (all), or 'left', 'right', 'top', 'bottom' with a fraction, or 'corner'.
    """
    x0, y0 = rect.x + inset - overshoot, rect.y + inset - overshoot
    x1, y1 = rect.right - inset + overshoot, rect.top - inset + overshoot
    if region is not None:
        part, fraction = region
        if part == "left":
            x1 = x0 + (x1 - x0) * fraction
        elif part == "right":
            x0 = x1 - (x1 - x0) * fraction
        elif part == "bottom":
            y1 = y0 + (y1 - y0) * fraction
        else:
            y0 = y1 - (y1 - y0) * fraction
    spacing = pen * rng.uniform(0.5, 0.75)
    vertical = rng.random() < 0.5
    points = []
    if vertical:
        x = x0 + pen / 2
        while x <= x1 - pen / 2 + 1e-6:
            points += [(x, y0 + pen / 2), (x + spacing / 2, y1 - pen / 2)]
            x += spacing
            points += [(x, y1 - pen / 2), (x + spacing / 2, y0 + pen / 2)]
            x += spacing
    else:
        y = y0 + pen / 2
        while y <= y1 - pen / 2 + 1e-6:
            points += [(x0 + pen / 2, y), (x1 - pen / 2, y + spacing / 2)]
            y += spacing
            points += [(x1 - pen / 2, y), (x0 + pen / 2, y + spacing / 2)]
            y += spacing
    if len(points) < 2:
        points = [(x0, y0), (x1, y1)]
    return [[(min(max(x, x0), x1), min(max(y, y0), y1)) for x, y in points]]


def draw_mark(ink: Ink, rect, kind: str, rng: random.Random) -> None:
    """One box filled in as `kind` (see the module docstring for what each kind is)."""
    if kind == "blank":
        return
    if kind in ("tick", "cross", "faint"):
        pen = rng.uniform(0.9, 2.8) if kind != "faint" else rng.uniform(1.2, 3.0)
        dark = rng.uniform(0.7, 0.95) if kind != "faint" else rng.uniform(0.2, 0.35)
        shape = kind if kind != "faint" else rng.choice(("tick", "cross"))
        scale = rng.uniform(0.6, 1.1)
        angle = math.radians(rng.uniform(-15, 15))
        room = max(0.0, (1 - scale) / 2) * 0.6
        dx, dy = rng.uniform(-room, room), rng.uniform(-room, room)
        if shape == "tick":
            arms = [[(0.1, 0.55), (0.38, 0.15), (0.92, 0.92)]]
            if rng.random() < 0.5:  # the long arm runs on past the box a little
                arms = [[(0.1, 0.55), (0.38, 0.15), (1.0 + rng.uniform(0, 0.15), 1.05)]]
        else:
            a, b = rng.uniform(-0.1, 0.15), rng.uniform(-0.1, 0.15)
            arms = [[(a, a), (1 - b, 1 - b)], [(b, 1 - a), (1 - a, b)]]
        lines = [
            _clamp_overshoot(
                _jitter(_place(arm, rect, scale, angle, dx, dy), rng, 0.25, 1.6), rect, 2.5
            )
            for arm in arms
        ]
        ink.strokes(lines, pen, dark)
    elif kind == "fill":
        pen = rng.uniform(1.4, 2.8)
        ink.strokes(
            _hatch(rect, rng, pen, rng.uniform(0.0, 1.2), rng.uniform(0, 1.0)),
            pen,
            rng.uniform(0.7, 0.95),
            joint=None,
        )
    elif kind == "half":
        pen = rng.uniform(1.4, 2.8)
        part = rng.choice(("left", "right", "top", "bottom"))
        fraction = rng.uniform(0.55, 0.65)
        hatch = _hatch(rect, rng, pen, 0.5, 0.0, (part, fraction))
        ink.strokes(hatch, pen, rng.uniform(0.7, 0.95), joint=None)
    elif kind == "scribble":
        # Crossing out: the pen sweeps back and forth over the box and past every edge,
        # first across, then up and down, each sweep a little way on from the last.
        pen = rng.uniform(1.2, 2.6)
        reach = rng.uniform(4.0, 5.5)
        x0, y0, x1, y1 = rect.x - reach, rect.y - reach, rect.right + reach, rect.top + reach
        points = []
        step = pen * rng.uniform(0.8, 1.3)
        y = y0 + pen / 2
        while y < y1:
            points += [(x0 + rng.uniform(0, 1), y), (x1 - rng.uniform(0, 1), y + step / 2)]
            y += step
        x = x0 + pen / 2
        while x < x1:
            points += [(x, y1 - rng.uniform(0, 1)), (x + step / 2, y0 + rng.uniform(0, 1))]
            x += step
        ink.strokes([_jitter(points, rng, 0.4, 1.5)], pen, rng.uniform(0.7, 0.95), joint=None)
    else:
        raise ValueError(kind)


def draw_writing(ink: Ink, rect, rule_gap: float, rng: random.Random, short: bool = False) -> None:
    """Handwriting-like strokes on the ruled lines of a writing area: loops of letters in
    words, some letters tall; `short` writes a single word."""
    pen = rng.uniform(0.8, 1.6)
    dark = rng.uniform(0.6, 0.95)
    x_height = rule_gap * rng.uniform(0.28, 0.4)
    baselines = []
    y = rect.top - rule_gap
    while y > rect.y + rule_gap * 0.5:
        baselines.append(y + 2)
        y -= rule_gap
    baselines.append(rect.y + 4)
    lines_used = 1 if short else rng.randint(1, len(baselines))
    words = []
    for base in baselines[:lines_used]:
        x = rect.x + 10 + rng.uniform(0, 20)
        end = rect.right - 10 if not short else x + 40
        while x < end - 20:
            letters = rng.randint(2, 8) if not short else 3
            w = x_height * rng.uniform(0.55, 0.75)
            if x + letters * w > end:
                break
            pts = []
            for n in range(letters):
                tall = 1.9 if rng.random() < 0.25 else 1.0
                for t in np.linspace(0, 2 * math.pi, 9):
                    pts.append(
                        (
                            x + w * (n + t / (2 * math.pi)) - 0.35 * w * math.sin(t),
                            base + x_height * tall * (1 - math.cos(t)) / 2,
                        )
                    )
            words.append(_jitter(pts, rng, 0.15, 0.8))
            x += letters * w + rng.uniform(0.6, 1.4) * x_height
            if short:
                break
    if words:
        ink.strokes(words, pen, dark, supersample=2, joint=None)


@dataclass
class Truth:
    """What a synthetic page really shows."""

    form_id: str | None
    serial: int | None
    page: int | None
    status: str
    #: The kind of mark drawn in each box, in layout order.
    kinds: list[str] = field(default_factory=list)
    #: Whether each writing area was written in, in layout order.
    written: list[bool] = field(default_factory=list)
    how: str = ""


def choose_kinds(page_layout, rng: random.Random, ambiguous: float = 0.06) -> list[str]:
    """A plausible filling-in: most questions one clear mark or none; some boxes faint,
    half-filled or scribbled out; now and then two marks for one question."""
    kinds = ["blank"] * len(page_layout.boxes)
    groups: dict = {}
    for i, box in enumerate(page_layout.boxes):
        groups.setdefault((box.kind, box.idea_id or box.question_id), []).append(i)
    for members in groups.values():
        r = rng.random()
        if r < 0.2:
            pass  # left out
        elif r < 0.92:
            kinds[rng.choice(members)] = rng.choice(CLEAR)
        elif len(members) > 1:
            for i in rng.sample(members, 2):
                kinds[i] = rng.choice(CLEAR)
        for i in members:
            if rng.random() < ambiguous:
                kinds[i] = rng.choice(AMBIGUOUS)
    return kinds


def fill_in(
    image: Image.Image,
    dpi: float,
    layout: Layout,
    serial: int,
    page: int,
    rng: random.Random,
    kinds=None,
    written=None,
):
    """The printed page with marks and writing drawn in: (image, ink layer, kinds, written)."""
    page_layout = layout.page(serial, page)
    ink = Ink(image.size, dpi, layout.paper.height)
    if kinds is None:
        kinds = choose_kinds(page_layout, rng)
    for box, kind in zip(page_layout.boxes, kinds, strict=True):
        draw_mark(ink, box.rect, kind, rng)
    rule_gap = VARIANT_METRICS[layout.variant].rule_gap
    if written is None:
        written = [rng.random() < 0.7 for _ in page_layout.areas]
    for area, write in zip(page_layout.areas, written, strict=True):
        if write:
            draw_writing(ink, area.rect, rule_gap, rng, short=rng.random() < 0.2)
    return ImageChops.multiply(image, ink.layer), ink.layer, kinds, written


# -- scanning and photographing ---------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _noise_tile(amplitude: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    tile = rng.integers(0, 2 * amplitude + 1, (509, 509), dtype=np.uint8)
    return Image.fromarray(tile, "L")


def _noise(image: Image.Image, rng: np.random.Generator, amplitude: int) -> Image.Image:
    """Sensor noise, uniform in +-amplitude grey levels: a prime-sized random tile laid
    over the image from a random offset (drawing fresh numbers for 9 million pixels
    took longer than the rest of a scan)."""
    tile = _noise_tile(amplitude, int(rng.integers(0, 4)))
    noise = Image.new("L", (image.width + 509, image.height + 509))
    for y in range(0, noise.height, 509):
        for x in range(0, noise.width, 509):
            noise.paste(tile, (x, y))
    dx, dy = (int(v) for v in rng.integers(0, 509, 2))
    noise = noise.crop((dx, dy, dx + image.width, dy + image.height))
    if image.mode == "RGB":
        noise = Image.merge("RGB", (noise, noise, noise))
    return ImageChops.add(image, noise, 1.0, -amplitude)


def _gradient(size, start: float, end: float, angle: float) -> Image.Image:
    """A linear ramp of brightness factors (as 0-255) across the image."""
    w, h = size
    small = np.linspace(0, 1, 64)
    yy, xx = np.meshgrid(small, small, indexing="ij")
    t = (xx * math.cos(angle) + yy * math.sin(angle) + 1.5) / 3.0
    t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
    ramp = (start + (end - start) * t) * 255
    return Image.fromarray(ramp.astype(np.uint8), "L").resize(size, Image.Resampling.BILINEAR)


def _tone(image: Image.Image, paper: int, black: int) -> Image.Image:
    """White becomes the paper's grey, black the sensor's black."""
    lut = [round(black + (paper - black) * v / 255) for v in range(256)]
    return image.point(lut * (3 if image.mode == "RGB" else 1))


def colourise(image: Image.Image, ink_layer: Image.Image) -> Image.Image:
    """A colour scan: cream paper, black print, blue pen (dark enough in grey to be ink)."""
    paper = image.point(lambda v: v)  # print and paper: grey
    r = ImageChops.multiply(paper, ink_layer.point(lambda v: round(255 - (255 - v) * 0.95)))
    g = ImageChops.multiply(paper, ink_layer.point(lambda v: round(255 - (255 - v) * 0.88)))
    b = ImageChops.multiply(paper, ink_layer.point(lambda v: round(255 - (255 - v) * 0.55)))
    tint = Image.merge("RGB", (r, g, b))
    return ImageChops.multiply(tint, Image.new("RGB", image.size, (255, 250, 238)))


def scanner(
    image: Image.Image,
    dpi: float,
    rng: random.Random,
    nrng: np.random.Generator,
    scale: float = 1.0,
) -> Image.Image:
    """A flatbed scan: paper tone, lamp gradient, up to 5 degrees of turn, noise.

    The page comes drawn at 1/scale of the scan's resolution and is enlarged in the same
    (bilinear) step that turns it: that is the scan's blur, for a third of the time a
    Gaussian blur of the whole page took.
    """
    paper = rng.randint(215, 250)
    image = _tone(image, paper, rng.randint(5, 25))
    angle = math.radians(rng.uniform(-5, 5))
    cos, sin = math.cos(angle), math.sin(angle)
    w, h = image.size
    out = (
        round(scale * (w * abs(cos) + h * abs(sin))),
        round(scale * (w * abs(sin) + h * abs(cos))),
    )
    a, b, d, e = cos / scale, sin / scale, -sin / scale, cos / scale
    c = w / 2 - a * out[0] / 2 - b * out[1] / 2
    f = h / 2 - d * out[0] / 2 - e * out[1] / 2
    fill = (paper,) * 3 if image.mode == "RGB" else paper
    image = image.transform(
        out, Image.Transform.AFFINE, (a, b, c, d, e, f), Image.Resampling.BILINEAR, fillcolor=fill
    )
    if rng.random() < 0.5:
        lamp = _gradient(image.size, 1.0, rng.uniform(0.88, 1.0), rng.uniform(0, 6.3))
        image = ImageChops.multiply(image, lamp if image.mode == "L" else lamp.convert("RGB"))
    return _noise(image, nrng, rng.randint(3, 8))


def _perspective_coefficients(src, dst):
    """Pillow's PERSPECTIVE data mapping output points dst to input points src."""
    a, b = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return tuple(np.linalg.solve(np.array(a, float), np.array(b, float)))


def phone(
    image: Image.Image,
    dpi: float,
    rng: random.Random,
    nrng: np.random.Generator,
    scale: float = 1.0,
) -> Image.Image:
    """A phone photo: perspective, a table round the page, shading, blur, noise. The page
    comes drawn at 1/scale of the photo's resolution: the warp that enlarges it is the
    blur."""
    w, h = round(image.width * scale), round(image.height * scale)
    fill = rng.uniform(0.65, 0.9)
    canvas_h = int(h / fill)
    canvas_w = int(canvas_h * 0.75)
    cx, cy = canvas_w / 2 + rng.uniform(-0.04, 0.04) * canvas_w, canvas_h / 2
    turn = math.radians(rng.uniform(-8, 8))
    corners = []
    for u, v in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        x = cx + u * math.cos(turn) - v * math.sin(turn)
        y = cy + u * math.sin(turn) + v * math.cos(turn)
        corners.append((x + rng.uniform(-0.05, 0.05) * w, y + rng.uniform(-0.04, 0.04) * h))
    keystone = rng.uniform(0, 0.08) * w  # the far edge looks narrower
    corners[0] = (corners[0][0] + keystone, corners[0][1])
    corners[1] = (corners[1][0] - keystone, corners[1][1])
    # The whole page in the frame: a photo that cuts a corner off is a bad photo (the
    # reader flags it, see test_scan_read), not one of the photos measured here.
    corners = [
        (
            min(max(x, 0.02 * canvas_w), 0.98 * canvas_w),
            min(max(y, 0.02 * canvas_h), 0.98 * canvas_h),
        )
        for x, y in corners
    ]
    iw, ih = image.size
    coefficients = _perspective_coefficients([(0, 0), (iw, 0), (iw, ih), (0, ih)], corners)
    paper = rng.randint(200, 245)
    page = _tone(image, paper, rng.randint(10, 35))
    mode = page.mode
    table = rng.randint(40, 150)
    fill = (table, round(table * 0.9), round(table * 0.75)) if mode == "RGB" else table
    photo = page.transform(
        (canvas_w, canvas_h),
        Image.Transform.PERSPECTIVE,
        coefficients,
        Image.Resampling.BILINEAR,
        fillcolor=fill,
    )
    light = _gradient(photo.size, 1.0, rng.uniform(0.55, 0.85), rng.uniform(0, 6.3))
    if rng.random() < 0.5:  # the soft shadow of a hand or the phone
        shadow = Image.new("L", (64, 64), 255)
        d = ImageDraw.Draw(shadow)
        x, y, r = rng.uniform(0, 64), rng.uniform(0, 64), rng.uniform(12, 30)
        d.ellipse((x - r, y - r, x + r, y + r), fill=rng.randint(150, 200))
        shadow = shadow.filter(ImageFilter.GaussianBlur(6)).resize(
            photo.size, Image.Resampling.BILINEAR
        )
        light = ImageChops.multiply(light, shadow)
    photo = ImageChops.multiply(photo, light if mode == "L" else light.convert("RGB"))
    return _noise(photo, nrng, rng.randint(3, 9))


def quarter_turn(image: Image.Image, turns: int) -> Image.Image:
    ops = {
        1: Image.Transpose.ROTATE_90,
        2: Image.Transpose.ROTATE_180,
        3: Image.Transpose.ROTATE_270,
    }
    return image.transpose(ops[turns]) if turns % 4 else image


def blank_back(
    size,
    dpi: float,
    rng: random.Random,
    nrng: np.random.Generator,
    front: Image.Image | None = None,
) -> Image.Image:
    """The back of a sheet: paper, and the front showing through a little, mirrored."""
    paper = rng.randint(220, 250)
    image = Image.new("L", size, paper)
    if front is not None:
        through = front.resize(size).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        through = through.point(lambda v: round(255 - (255 - v) * 0.07))
        image = ImageChops.multiply(image.point(lambda v: 255), through).point(
            lambda v: round(v * paper / 255)
        )
        image = image.filter(ImageFilter.GaussianBlur(2))
    return _noise(image, nrng, rng.randint(3, 7))


def jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@dataclass
class Scan:
    image: Image.Image
    truth: Truth
    dpi: int


def make_scan(
    printed: Printed,
    serial: int,
    page: int,
    seed: int,
    *,
    dpi: int | None = None,
    how: str | None = None,
    turns: int | None = None,
    colour: bool | None = None,
    kinds=None,
    written=None,
) -> Scan:
    """A filled-in, scanned or photographed page, and its truth. Anything not given is
    drawn at random from the seed."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    how = how or ("phone" if rng.random() < 0.3 else "scanner")
    dpi = dpi or (rng.choice((150, 200, 200, 300)) if how == "scanner" else rng.choice((150, 200)))
    turns = rng.choice((0, 0, 0, 1, 2, 3)) if turns is None else turns
    colour = (rng.random() < 0.25) if colour is None else colour
    # Drawn a little smaller than scanned, the enlargement being the capture's blur.
    sharpness = rng.choice((1.0, 0.85, 0.75) if how == "scanner" else (0.85, 0.75, 0.65))
    drawn_dpi = round(dpi * sharpness)
    printed_page = rasterise(str(printed.pdf), printed.page_index(serial, page), drawn_dpi)
    filled, ink_layer, kinds, written = fill_in(
        printed_page, drawn_dpi, printed.layout, serial, page, rng, kinds, written
    )
    if colour:
        filled = colourise(printed_page, ink_layer)
    capture = scanner if how == "scanner" else phone
    image = quarter_turn(capture(filled, dpi, rng, nrng, dpi / drawn_dpi), turns)
    truth = Truth(
        printed.layout.form_id,
        serial,
        page,
        "read",
        kinds,
        written,
        f"{how} {dpi}dpi turn{turns * 90}{' colour' if colour else ''}",
    )
    return Scan(image, truth, dpi)


def capture(page: Image.Image, dpi: int, how: str, seed: int, turns: int = 0) -> Image.Image:
    """A page image (printed at dpi, filled in) scanned or photographed, then turned."""
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    return quarter_turn((scanner if how == "scanner" else phone)(page, dpi, rng, nrng), turns)


def make_back(printed: Printed, seed: int, dpi: int = 200) -> Scan:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    front = rasterise(str(printed.pdf), 0, dpi)
    return Scan(
        blank_back(front.size, dpi, rng, nrng, front),
        Truth(None, None, None, "blank", how="back"),
        dpi,
    )


# -- files ------------------------------------------------------------------------------------


def write_image_pdf(path, pages) -> Path:
    """A scanner-style PDF: each page one JPEG image (DCTDecode), nothing else, written
    as it goes. pages: iterable of (jpeg bytes, width px, height px, dpi, grey)."""
    path = Path(path)
    offsets: list[int] = []
    page_ids: list[int] = []
    with open(path, "wb") as out:

        def obj(number: int, body: bytes, stream: bytes | None = None) -> None:
            while len(offsets) < number:
                offsets.append(0)
            offsets[number - 1] = out.tell()
            out.write(b"%d 0 obj\n" % number + body)
            if stream is not None:
                out.write(b"\nstream\n" + stream + b"\nendstream")
            out.write(b"\nendobj\n")

        out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        number = 3
        for data, width, height, dpi, grey in pages:
            w_pt, h_pt = width * 72 / dpi, height * 72 / dpi
            image_id, content_id, page_id = number, number + 1, number + 2
            number += 3
            space = b"/DeviceGray" if grey else b"/DeviceRGB"
            obj(
                image_id,
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s "
                b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>"
                % (width, height, space, len(data)),
                data,
            )
            content = b"q %.3f 0 0 %.3f 0 0 cm /Im0 Do Q" % (w_pt, h_pt)
            obj(content_id, b"<< /Length %d >>" % len(content), content)
            obj(
                page_id,
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.3f %.3f] "
                b"/Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>"
                % (w_pt, h_pt, image_id, content_id),
            )
            page_ids.append(page_id)
        kids = b" ".join(b"%d 0 R" % i for i in page_ids)
        obj(2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(page_ids)))
        obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(offsets) + 1, xref)
        )
    return path


# -- many pages at once (worker processes) -------------------------------------------------

_printed_cache: dict[tuple[str, str], Printed] = {}


def printed_in(folder, form_id: str) -> Printed:
    """The print run <folder>/<form id>.pdf with its layout, loaded once per process."""
    key = (str(folder), form_id)
    if key not in _printed_cache:
        folder = Path(folder)
        _printed_cache[key] = Printed(
            folder / f"{form_id}.pdf", Layout.read(folder / f"{form_id}.layout.json")
        )
    return _printed_cache[key]


def write_scan(task) -> Truth:
    """Make one synthetic scan and write it as a JPEG: task is (forms folder, form id,
    serial, page, seed, path). Quality 50 for two pages in five, 60-90 for the rest."""
    folder, form_id, serial, page, seed, path = task
    scan = make_scan(printed_in(folder, form_id), serial, page, seed)
    quality = 50 if seed % 5 < 2 else random.Random(seed).choice((60, 75, 90))
    Path(path).write_bytes(jpeg(scan.image, quality))
    scan.truth.how += f" q{quality}"
    return scan.truth

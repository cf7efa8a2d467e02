"""Ink in tick boxes: measured through the page's homography, then classified.

Each box is sampled upright at 2.5 pixels per point. Only its inner area counts, the
printed outline and a gap for blur and fit error left out. A ring just outside the box
gives the local paper brightness (but not less than 0.9 of the page's paper nearby, in
case the ring is inked all round), against which each pixel's darkness is taken
(1 - grey / paper), so a box in a shadow reads like one in full light.

What is measured (fractions of the inner area unless said):
  light   darker than LIGHT (0.15): any ink at all, pencil included
  peak    how dark the darkest ink is (98th percentile of darkness): pen or pencil
  dark    pen ink: darker than DARK (0.5), or than 0.6 of the peak for a lighter pen
          (a blue biro is about 0.6 dark in grey), but not lighter than 0.3
  solid   covered by SOLID_SIDE (5 pt) windows that are all pen ink: a filled region;
          a pen stroke, even where two cross, is never that wide
  spill   pen ink beside the box (1.5 to 4.5 pt out), on the third most inked of its
          four sides: a crossing-out runs out on every side, an overshooting tick on one
          or two, a neighbour's scribble on one
  outline the printed outline's darkness where the fit puts it (the darkest across each
          side's band, averaged along it; the least of the four sides), and
  offset  how far each side's printed line really is from there: checks on the fit
          itself, box by box, where no homography can bend (a fold, a curl)

The classification (see classify) and its thresholds come from measurements over
thousands of synthetic boxes at 150-300 dpi, scanned and photographed (the figures are
in paper_forms/scan/README.md, and tests/test_scan_accuracy.py checks them), with a
margin on both sides of every threshold.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..layout import Box, Rect
from .align import LEVELS, PaperMap, apply, darkness, rectified

#: Pixels per point at which boxes are sampled (180 dpi).
SCALE = 2.5
#: Left out inside the printed outline, for blur and fit error, in points.
INNER_GAP = 0.8
#: The ring that gives the paper brightness and the spill, in points outside the box.
RING = (1.5, 4.5)
LIGHT = 0.15
DARK = 0.5
INK_SHARE = 0.6
LIGHTEST_INK = 0.3
SOLID_SIDE = 5.0
#: How far either side of where the fit puts an outline its line is looked for (points).
SEARCH = 2.5
#: Boxes with more light ink than this are not checked for their outline's position.
OFFSET_LIGHT = 0.5
#: The paper beside a box is taken to be at least this share of the page's paper nearby
#: (the brightest within about 24 points): a ring inked all round, or even through its
#: gaps, is not paper.
PAPER_SHARE = 0.9

BLANK, MARKED, UNCERTAIN = "blank", "marked", "uncertain"


@dataclass(frozen=True)
class Ink:
    """What was measured in one box."""

    light: float
    dark: float
    solid: float
    spill: float
    peak: float
    #: How dark the printed outline is where the fit puts it: the least of its four
    #: sides' mean darkness. A box the fit has misplaced shows paper there.
    outline: float
    #: How far (points) the printed outline is from where the fit puts it, the second
    #: worst of its four sides; 0 for a box with much ink in it (too hard to tell).
    offset: float
    #: Mean darkness of the inner area, 0 to 1.
    mean: float
    #: The paper's grey level beside the box, 0 to 255.
    paper: float


@dataclass(frozen=True)
class Rule:
    """The thresholds of the classification (see classify)."""

    #: At most this much light ink: blank.
    light_blank: float = 0.03
    #: At least this much spill: crossed out.
    spill_crossed: float = 0.2
    #: At least this solid: filled in.
    solid_fill: float = 0.9
    #: At least this solid (and less than solid_fill): partly filled in.
    solid_partial: float = 0.43
    #: A tick or a cross: its ink at least this dark...
    peak_mark: float = 0.43
    #: ... over at least this much of the inner area.
    light_mark: float = 0.04


RULE = Rule()


@dataclass(frozen=True)
class Reading:
    state: str
    #: 0 to 1: how far the measurements are from the nearest threshold that would change
    #: the state (1 far, 0 on it); 0 for an uncertain box.
    confidence: float
    #: Why a box is uncertain, in words; None otherwise.
    reason: str | None = None


def _margin(value: float, threshold: float, scale: float) -> float:
    # min and max rather than np.clip: the same float, without numpy's call on a scalar.
    return min(max(abs(value - threshold) / scale, 0.0), 1.0)


def classify(ink: Ink, rule: Rule = RULE) -> Reading:
    """blank, marked or uncertain: the first line that applies.

    blank      light <= light_blank                          no ink to speak of
    uncertain  spill >= spill_crossed                        crossed out
    marked     solid >= solid_fill                           filled in
    uncertain  solid >= solid_partial                        partly filled in
    marked     peak >= peak_mark and light >= light_mark     a tick or a cross
    uncertain  peak < peak_mark                              a faint mark (pencil?)
    uncertain  otherwise                                     a very small mark
    """
    if ink.light <= rule.light_blank:
        return Reading(BLANK, _margin(ink.light, rule.light_blank, rule.light_blank))
    if ink.spill >= rule.spill_crossed:
        return Reading(UNCERTAIN, 0.0, "crossed out: ink runs out of the box on every side")
    spill = _margin(ink.spill, rule.spill_crossed, rule.spill_crossed)
    if ink.solid >= rule.solid_fill:
        return Reading(MARKED, min(_margin(ink.solid, rule.solid_fill, 0.1), spill))
    if ink.solid >= rule.solid_partial:
        return Reading(UNCERTAIN, 0.0, "partly filled in")
    if ink.peak >= rule.peak_mark and ink.light >= rule.light_mark:
        confidence = min(
            _margin(ink.peak, rule.peak_mark, 0.2),
            _margin(ink.light, rule.light_mark, rule.light_mark),
            _margin(ink.solid, rule.solid_partial, rule.solid_partial),
            spill,
        )
        return Reading(MARKED, confidence)
    if ink.peak < rule.peak_mark:
        return Reading(UNCERTAIN, 0.0, "a faint mark")
    return Reading(UNCERTAIN, 0.0, "a very small mark")


def _inset(rect: Rect, by: float) -> Rect:
    return Rect(rect.x + by, rect.y + by, rect.width - 2 * by, rect.height - 2 * by)


def outline_width(rect: Rect) -> float:
    """The printed outline's width (paper_forms.draw strokes it inside the box)."""
    return max(0.8, min(rect.width, rect.height) / 22)


def measure(
    image: Image.Image,
    h: np.ndarray,
    boxes: list[Box] | tuple[Box, ...],
    paper: int = 255,
    paper_map: PaperMap | None = None,
) -> list[Ink]:
    """The ink in each box, in the order given (`paper` fills what lies off the image).

    The paper's brightness is taken from the ring round each box, but never less than
    PAPER_SHARE of the page's paper there (`paper_map`): a ring inked all round (a
    crossing-out) shows no paper of its own.
    """
    out: list[Ink | None] = [None] * len(boxes)
    groups: dict[tuple, list[int]] = {}
    for i, box in enumerate(boxes):
        groups.setdefault((round(box.rect.width, 2), round(box.rect.height, 2)), []).append(i)
    for (width, height), members in groups.items():
        patches = np.stack(
            [rectified(image, h, _around(boxes[i].rect), SCALE, paper) for i in members]
        )
        centres = np.array(
            [(boxes[i].rect.x + width / 2, boxes[i].rect.y + height / 2) for i in members]
        )
        page = paper_map.at(apply(h, centres)) if paper_map is not None else None
        for i, ink in zip(members, _measure_group(patches, width, height, page), strict=True):
            out[i] = ink
    return out


@functools.lru_cache(maxsize=512)
def _around(rect: Rect) -> Rect:
    """The box with its ring: the same for a box on every copy of a page."""
    return rect.grown(RING[1])


def _measure_group(patches: np.ndarray, width: float, height: float, page=None) -> list[Ink]:
    """Features of same-sized boxes at once; patches are (N, rows, cols) of grey levels
    (uint8) around each box, RING[1] points beyond it on every side.

    A pixel's darkness depends only on its grey level and its box's paper, so each box's
    darkness of every level is worked out once (N x 256) and looked up where values are
    needed; "darker than" is "a grey level below" the first level that is not, compared
    on the levels themselves. The same values as darkness over whole patches, in well
    under half the passes over float arrays."""
    n, rows, cols = patches.shape
    k = SCALE
    g = _geometry(width, height, rows, cols)
    across_y, across_y2, across_x, across_x2 = g.across
    span_x, span_y = g.span_x, g.span_y
    flat = patches.reshape(n, -1)
    paper = _percentile(flat[:, g.ring_at], 90, levels=True)
    if page is not None:
        paper = np.maximum(paper, PAPER_SHARE * page)
    table = darkness(LEVELS, paper[:, None])
    lookup = table.ravel()
    box_at = 256 * np.arange(n)

    def dark_of(grey: np.ndarray) -> np.ndarray:
        """The darkness of each of these grey levels (N, ...) against its own box's paper."""
        return lookup[grey + box_at.reshape((n,) + (1,) * (grey.ndim - 1))]

    inner = flat[:, g.inner_at]
    d_inner = dark_of(inner)
    # Shares counted (np.count_nonzero, then divided: the same floats as the mean of a
    # boolean array, without casting each to a float first).
    share = d_inner.shape[1]
    light = np.count_nonzero(d_inner >= LIGHT, axis=1) / share
    # The 98th percentile of darkness is the darkness of the 2nd percentile of grey
    # (darkness falls as grey rises), found by counting grey levels, not by sorting.
    peak = _percentile(inner, 98, levels=True, through=paper)
    # Pen ink: darker than DARK, or for a lighter pen (blue biro in grey), than
    # INK_SHARE of the box's own darkest ink, but never lighter than LIGHTEST_INK.
    ink = np.clip(INK_SHARE * peak, LIGHTEST_INK, DARK)[:, None]
    dark = np.count_nonzero(d_inner >= ink, axis=1) / share
    mean = d_inner.mean(axis=1)
    # Pen ink is a grey level below this, box by box (darkness never rises with grey).
    ink_below = (table >= ink).sum(axis=1).astype(np.int16)[:, None, None]
    # Darkest across each band, averaged along it: a blurred thin line still counts in
    # full, a line the fit has put a point or more away does not count at all. (The
    # darkest is the darkness of the lowest grey.)
    outline = np.stack(
        [
            dark_of(patches[:, across_y, span_x].min(axis=1)).mean(axis=1),
            dark_of(patches[:, across_y2, span_x].min(axis=1)).mean(axis=1),
            dark_of(patches[:, span_y, across_x].min(axis=2)).mean(axis=1),
            dark_of(patches[:, span_y, across_x2].min(axis=2)).mean(axis=1),
        ],
        axis=1,
    ).min(axis=1)
    # Where each side's line really is: the peak of the darkness averaged along the
    # side, within SEARCH points of where the fit puts it, against where it should be.
    profiles = [
        # The top and bottom lines' profiles run down rows, the sides' along columns.
        dark_of(patches[:, near, span_x]).mean(axis=2) if i < 2
        else dark_of(patches[:, span_y, near]).mean(axis=1)
        for i, (near, _, _) in enumerate(g.near)
    ]
    if len({profile.shape[1] for profile in profiles}) == 1:
        # All four sides' peaks found at once (a square box's are all as long).
        positions = np.repeat(np.stack([p for _, p, _ in g.near]), n, axis=0)
        expected = np.repeat([e for _, _, e in g.near], n)
        found = np.abs(_peak(np.concatenate(profiles), positions) - expected)
        offsets = found.reshape(4, n).T
    else:
        offsets = np.stack([np.abs(_peak(profile, positions) - expected)
                            for profile, (_, positions, expected) in zip(profiles, g.near,
                                                                          strict=True)], axis=1)
    # The second worst side: the fit being out moves two sides at least (a shift both
    # sides across it, a stretch both ends), a neighbour's crossing-out beside one side
    # only that one.
    offset = np.sort(offsets, axis=1)[:, -2]
    by_side = np.stack(
        [_share(patches[:, ys, xs] < ink_below) for ys, xs in g.sides], axis=1
    )
    spill = np.sort(by_side, axis=1)[:, 1]  # the third most inked of the four sides
    # Solid: the part of the inner area covered by SOLID_SIDE windows that are all ink.
    r0, r1, c0, c1 = g.inner_box
    dark_map = (patches[:, r0 : r1 + 1, c0 : c1 + 1] < ink_below).astype(np.int32)
    side = max(2, round(SOLID_SIDE * k))
    solid = np.zeros(n)
    # Only a box with a window's worth of pen ink can have a window all of it: most
    # (blank, ticked, crossed) do not, and are not searched.
    some = np.flatnonzero(dark_map.sum(axis=(1, 2)) >= 0.9 * side * side)
    if min(dark_map.shape[1:]) >= side and len(some):
        full = _window_sums(dark_map[some], side) >= 0.9 * side * side
        filled = full.reshape(len(some), -1).any(axis=1)
        some, full = some[filled], full[filled].astype(np.int32)
        if len(some):
            # side - 1 of zeros round each (np.pad's, without its Python cost).
            count, tall, wide = full.shape
            padded = np.zeros((count, tall + 2 * side - 2, wide + 2 * side - 2), np.int32)
            padded[:, side - 1 : side - 1 + tall, side - 1 : side - 1 + wide] = full
            solid[some] = _share(_window_sums(padded, side) > 0)
    offset = np.where(light <= OFFSET_LIGHT, offset, 0.0)
    columns = (light, dark, solid, spill, peak, outline, offset, mean, paper)  # Ink's order
    return [Ink(*values) for values in zip(*(c.tolist() for c in columns), strict=True)]


@dataclass(frozen=True)
class _Geometry:
    """Where the parts of a box's patch are: the same for every box of a size, so
    worked out once (see _measure_group for what each is)."""

    ys: np.ndarray
    xs: np.ndarray
    stroke: float
    inner_at: np.ndarray
    inner_box: tuple[int, int, int, int]
    ring_at: np.ndarray
    #: Slices of rows or columns (all the same run): across each side's printed line,
    #: and along the box between its outlines.
    across: tuple[slice, ...]
    span_x: slice
    span_y: slice
    #: Each side's strip of the ring (rows, columns): where spill is looked for.
    sides: tuple[tuple[slice, slice], ...]
    #: For each side: the rows or columns within SEARCH of its line, their positions
    #: (points), and where the line should be.
    near: tuple[tuple[slice, np.ndarray, float], ...]


@functools.lru_cache(maxsize=64)
def _geometry(width: float, height: float, rows: int, cols: int) -> _Geometry:
    k = SCALE
    ys = (np.arange(rows) + 0.5) / k - RING[1]  # points from the box's top edge
    xs = (np.arange(cols) + 0.5) / k - RING[1]  # points from its left edge
    stroke = outline_width(Rect(0, 0, width, height))
    gap = stroke + INNER_GAP
    inner = (
        (ys[:, None] >= gap)
        & (ys[:, None] <= height - gap)
        & (xs[None, :] >= gap)
        & (xs[None, :] <= width - gap)
    )
    outside = np.maximum(
        np.maximum(-ys[:, None], ys[:, None] - height),
        np.maximum(-xs[None, :], xs[None, :] - width),
    )
    ring = (outside >= RING[0]) & (outside <= RING[1])
    # The printed outline's four sides: bands across the stroke, 0.6 pt wider each way.
    band = (-0.6, stroke + 0.6)
    across = (
        _run((ys >= band[0]) & (ys <= band[1])),
        _run((ys >= height - band[1]) & (ys <= height - band[0])),
        _run((xs >= band[0]) & (xs <= band[1])),
        _run((xs >= width - band[1]) & (xs <= width - band[0])),
    )
    near = []
    for positions, expected in (
        (ys, stroke / 2),
        (ys, height - stroke / 2),
        (xs, stroke / 2),
        (xs, width - stroke / 2),
    ):
        run = _run(np.abs(positions - expected) <= SEARCH)
        near.append((run, positions[run], expected))
    along_x = _run((xs >= 0) & (xs <= width))
    along_y = _run((ys >= 0) & (ys <= height))
    sides = (
        (_run((ys >= -RING[1]) & (ys <= -RING[0])), along_x),
        (_run((ys >= height + RING[0]) & (ys <= height + RING[1])), along_x),
        (along_y, _run((xs >= -RING[1]) & (xs <= -RING[0]))),
        (along_y, _run((xs >= width + RING[0]) & (xs <= width + RING[1]))),
    )
    r0, r1 = np.flatnonzero(inner.any(axis=1))[[0, -1]]
    c0, c1 = np.flatnonzero(inner.any(axis=0))[[0, -1]]
    return _Geometry(
        ys=ys,
        xs=xs,
        stroke=stroke,
        inner_at=np.flatnonzero(inner),
        inner_box=(int(r0), int(r1), int(c0), int(c1)),
        ring_at=np.flatnonzero(ring),
        across=across,
        span_x=_run((xs >= stroke) & (xs <= width - stroke)),
        span_y=_run((ys >= stroke) & (ys <= height - stroke)),
        sides=sides,
        near=tuple(near),
    )


def _run(mask: np.ndarray) -> slice:
    """The one run of True in a 1-d mask, as a slice (a view where indices would copy)."""
    at = np.flatnonzero(mask)
    assert len(at) and at[-1] - at[0] + 1 == len(at), "not one run"
    return slice(int(at[0]), int(at[-1]) + 1)


def _percentile(
    values: np.ndarray, q: float, levels: bool = False, through: np.ndarray | None = None
) -> np.ndarray:
    """np.percentile(values, q, axis=1) (linear between the two nearest ranks), for a
    fraction of its time on small rows.

    `levels`: the values are whole grey levels (uint8, as sampled), and the two ranks
    are read off each row sorted (numpy sorts bytes by counting, in linear time): the
    same values, in half the time of counting them with bincount and a third of
    partitioning. `through` (each row's paper): the percentile is of those grey levels'
    darkness against it instead, which orders them the other way round.
    """
    n = values.shape[1]
    at = (n - 1) * q / 100
    low = int(np.floor(at))
    high = min(low + 1, n - 1)
    if not levels:
        part = np.partition(values, [low, high], axis=1)
        return part[:, low] + (part[:, high] - part[:, low]) * (at - low)
    ordered = np.sort(values, axis=1, kind="stable")
    # Levels as float32 (as sampled before, and from uint8 as now), whatever the input.
    dtype = values.dtype if values.dtype.kind == "f" else np.float32
    if through is None:
        first, second = ordered[:, low].astype(dtype), ordered[:, high].astype(dtype)
    else:
        # Darkness in rising order is grey in falling order.
        first = darkness(ordered[:, n - 1 - low].astype(dtype), through)
        second = darkness(ordered[:, n - 1 - high].astype(dtype), through)
    return first + (second - first) * (at - low)


def _share(where: np.ndarray) -> np.ndarray:
    """The share of each layer (N, ...) of a boolean array that is True."""
    layer = where.reshape(len(where), -1)
    return np.count_nonzero(layer, axis=1) / layer.shape[1]


def _peak(profile: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The position of each profile's maximum (N, M), to a fraction of a step by a
    parabola through it and its neighbours; `positions` (M) for all, or (N, M) each."""
    i = np.clip(profile.argmax(axis=1), 1, profile.shape[1] - 2)
    rows = np.arange(len(profile))
    left, middle, right = profile[rows, i - 1], profile[rows, i], profile[rows, i + 1]
    curve = left - 2 * middle + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1), 0.0)
    positions = np.broadcast_to(positions, profile.shape)
    step = positions[:, 1] - positions[:, 0]
    return positions[rows, i] + np.clip(shift, -0.5, 0.5) * step


def _window_sums(a: np.ndarray, side: int) -> np.ndarray:
    """Sums over every side x side window of each (N, rows, cols) layer."""
    s = np.zeros((a.shape[0], a.shape[1] + 1, a.shape[2] + 1), np.int32)
    s[:, 1:, 1:] = a.cumsum(1).cumsum(2)
    return s[:, side:, side:] - s[:, :-side, side:] - s[:, side:, :-side] + s[:, :-side, :-side]

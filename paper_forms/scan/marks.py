"""Ink in tick boxes: measured through the page's homography, then classified.

Each box is sampled upright at 2.5 pixels per point. Only its inner area counts, the
printed outline and a gap for blur and fit error left out; a ring just outside the box
gives the local paper brightness, against which each pixel's darkness is taken
(1 - grey / paper), so a box in a shadow reads like one in full light.

What is measured (fractions of the inner area unless said):
  light   darker than LIGHT: any ink at all, pencil included
  dark    darker than DARK: pen ink
  solid   where a SOLID_SIDE square window is all pen ink: a filled region, not strokes
  spill   dark fraction of the ring from 1.5 to 4.5 pt outside the box: ink that ran out

The classification (see classify) and its thresholds were set from measurements over
thousands of synthetic boxes at 150-300 dpi, photographed and scanned (see
tests/test_scan_accuracy.py), with a margin on each side of every threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..layout import Box, Rect
from .align import darkness, rectify

#: Pixels per point at which boxes are sampled (180 dpi).
SCALE = 2.5
#: Left out inside the printed outline, for blur and fit error, in points.
INNER_GAP = 1.2
#: The ring that gives the paper brightness and the spill, in points outside the box.
RING = (1.5, 4.5)
LIGHT = 0.15
DARK = 0.5
SOLID_SIDE = 3.0

BLANK, MARKED, UNCERTAIN = "blank", "marked", "uncertain"


@dataclass(frozen=True)
class Ink:
    """What was measured in one box."""

    light: float
    dark: float
    solid: float
    spill: float
    #: Mean darkness of the inner area, 0 to 1.
    mean: float
    #: The paper's grey level beside the box, 0 to 255.
    paper: float


@dataclass(frozen=True)
class Rule:
    """The thresholds of the classification, all as fractions (see classify)."""

    #: At most this much light ink, and at most dark_blank dark: blank.
    light_blank: float = 0.02
    dark_blank: float = 0.005
    #: At least this much pen ink: a mark (unless something below says otherwise).
    dark_mark: float = 0.06
    #: ... and pen ink must be at least this share of all the ink (else faint).
    dark_share: float = 0.45
    #: Solid area between these: a box partly filled in, uncertain.
    solid_partial: float = 0.08
    #: A fill: at least this much pen ink and this much solid area.
    dark_fill: float = 0.8
    solid_fill: float = 0.55
    #: At least this much ink in the ring outside: scribbled out, uncertain.
    spill_scribble: float = 0.25


RULE = Rule()


@dataclass(frozen=True)
class Reading:
    state: str
    #: 0 to 1: how far the measurements are from the nearest threshold that would change
    #: the state (1 far, 0 on it).
    confidence: float
    #: Why a box is uncertain, in words; None otherwise.
    reason: str | None = None


def _margin(value: float, threshold: float, scale: float) -> float:
    return float(np.clip(abs(value - threshold) / scale, 0.0, 1.0))


def classify(ink: Ink, rule: Rule = RULE) -> Reading:
    """blank, marked or uncertain.

    blank      light <= light_blank and dark <= dark_blank: no ink to speak of
    uncertain  spill >= spill_scribble: scribbled out (dense ink running well outside)
    marked     dark >= dark_fill and solid >= solid_fill: filled in
    uncertain  solid >= solid_partial: partly filled in
    marked     dark >= dark_mark and dark >= dark_share * light: a tick or a cross
    uncertain  anything else: a faint or very small mark
    """
    if ink.light <= rule.light_blank and ink.dark <= rule.dark_blank:
        confidence = min(
            _margin(ink.light, rule.light_blank, rule.light_blank),
            _margin(ink.dark, rule.dark_mark, rule.dark_mark),
        )
        return Reading(BLANK, confidence)
    if ink.spill >= rule.spill_scribble:
        return Reading(UNCERTAIN, 0.0, "scribbled out: ink runs well outside the box")
    if ink.dark >= rule.dark_fill and ink.solid >= rule.solid_fill:
        confidence = min(
            _margin(ink.solid, rule.solid_partial, rule.solid_fill - rule.solid_partial),
            _margin(ink.spill, rule.spill_scribble, rule.spill_scribble),
        )
        return Reading(MARKED, confidence)
    if ink.solid >= rule.solid_partial:
        return Reading(UNCERTAIN, 0.0, "partly filled in")
    if ink.dark >= rule.dark_mark and ink.dark >= rule.dark_share * ink.light:
        confidence = min(
            _margin(ink.dark, rule.dark_blank, rule.dark_mark - rule.dark_blank),
            _margin(ink.solid, rule.solid_partial, rule.solid_partial),
            _margin(ink.spill, rule.spill_scribble, rule.spill_scribble),
        )
        return Reading(MARKED, confidence)
    if ink.dark < rule.dark_share * ink.light:
        return Reading(UNCERTAIN, 0.0, "a faint mark")
    return Reading(UNCERTAIN, 0.0, "a very small mark")


def _inset(rect: Rect, by: float) -> Rect:
    return Rect(rect.x + by, rect.y + by, rect.width - 2 * by, rect.height - 2 * by)


def outline_width(rect: Rect) -> float:
    """The printed outline's width (paper_forms.draw strokes it inside the box)."""
    return max(0.8, min(rect.width, rect.height) / 22)


def measure(
    image: Image.Image, h: np.ndarray, boxes: list[Box] | tuple[Box, ...], paper: int = 255
) -> list[Ink]:
    """The ink in each box, in the order given (`paper` fills what lies off the image)."""
    out: list[Ink | None] = [None] * len(boxes)
    groups: dict[tuple, list[int]] = {}
    for i, box in enumerate(boxes):
        groups.setdefault((round(box.rect.width, 2), round(box.rect.height, 2)), []).append(i)
    for (width, height), members in groups.items():
        patches = np.stack(
            [rectify(image, h, boxes[i].rect.grown(RING[1]), SCALE, paper) for i in members]
        )
        for i, ink in zip(members, _measure_group(patches, width, height), strict=True):
            out[i] = ink
    return out


def _measure_group(patches: np.ndarray, width: float, height: float) -> list[Ink]:
    """Features of same-sized boxes at once; patches are (N, rows, cols) around each box,
    RING[1] points beyond it on every side."""
    n, rows, cols = patches.shape
    k = SCALE
    ys = (np.arange(rows) + 0.5) / k - RING[1]  # points from the box's top edge
    xs = (np.arange(cols) + 0.5) / k - RING[1]  # points from its left edge
    gap = outline_width(Rect(0, 0, width, height)) + INNER_GAP
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
    flat = patches.reshape(n, -1)
    paper = np.percentile(flat[:, ring.ravel()], 90, axis=1)
    d = darkness(patches, paper[:, None, None])
    d_inner = d[:, inner]
    light = (d_inner >= LIGHT).mean(axis=1)
    dark_inner = d_inner >= DARK
    dark = dark_inner.mean(axis=1)
    mean = d_inner.mean(axis=1)
    spill = (d[:, ring] >= DARK).mean(axis=1)
    # Solid: the part of the inner area covered by SOLID_SIDE windows that are all ink.
    r0, r1 = np.flatnonzero(inner.any(axis=1))[[0, -1]]
    c0, c1 = np.flatnonzero(inner.any(axis=0))[[0, -1]]
    dark_map = (d[:, r0 : r1 + 1, c0 : c1 + 1] >= DARK).astype(np.int32)
    side = max(2, round(SOLID_SIDE * k))
    if min(dark_map.shape[1:]) >= side:
        full = (_window_sums(dark_map, side) >= 0.9 * side * side).astype(np.int32)
        padded = np.pad(full, ((0, 0), (side - 1, side - 1), (side - 1, side - 1)))
        solid = (_window_sums(padded, side) > 0).reshape(n, -1).mean(axis=1)
    else:
        solid = np.zeros(n)
    return [
        Ink(
            light=float(light[i]),
            dark=float(dark[i]),
            solid=float(solid[i]),
            spill=float(spill[i]),
            mean=float(mean[i]),
            paper=float(paper[i]),
        )
        for i in range(n)
    ]


def _window_sums(a: np.ndarray, side: int) -> np.ndarray:
    """Sums over every side x side window of each (N, rows, cols) layer."""
    s = np.zeros((a.shape[0], a.shape[1] + 1, a.shape[2] + 1), np.int64)
    s[:, 1:, 1:] = a.cumsum(1).cumsum(2)
    return s[:, side:, side:] - s[:, :-side, side:] - s[:, side:, :-side] + s[:, :-side, :-side]

"""Fitting a page to its layout: a homography from layout points (PDF points) to pixels.

First, quickly: the centres of the code's three finder patterns, measured through its
corners, give an affine estimate good to about a point across a flat page, and each
corner mark is taken where that puts it, as the centroid of a window round it, checked
to be a solid square (see _quick_pass). That is every flatbed scan. When any of it
fails (a photo's perspective, a mark covered), the search below is made.

The QR code's four corners (from zxing-cpp) give a first, affine estimate. Each printed
corner mark is then looked for where that estimate puts it, nearest first, in a window
that grows with the distance from what is already known, and the estimate is refitted
after each one found (affine until three marks are known, then projective). A second
pass looks for every mark again where the others put it, which sharpens the fit and
throws out anything taken for a mark by mistake. Last, the centres of the code's three
finder patterns are measured the same way.

The homography is fitted by least squares to the four marks and the three finder
centres, each found to a fraction of a pixel as the centroid of a solid square; the fit
error is the RMS distance, in points, between each layout point and its image point
taken back through the homography. The QR corners zxing-cpp gives are whole pixels of
a reduced image (0.7 pt apart at 200 dpi): used alone, 64 pt of code extrapolated over
an 842 pt page multiplied that error ten times, which is why they only start the search.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..layout import Mark, PageLayout, Rect

#: Side of the patch a mark's centre is taken from, around the mark, in points.
_MARK_PAD = 3.0
#: Patches for the mark search are rectified at this many pixels per point...
_SEARCH_SCALE = 2.0
#: ... and those a centre is taken from, at this many.
_CENTROID_SCALE = 4.0
#: The QR corners come in whole pixels of a reduced image; the marks to a fraction of a
#: pixel. Least squares weighs them so.
QR_WEIGHT = 0.5
#: A solid square: its core at least this dark, the ring round it at most this dark
#: (darkness against the paper nearby, 0 to 1). Bold text and the QR's finder patterns
#: never reach such a core; a mark in the deepest shadow of a photo does.
CORE = 0.7
RING = 0.15
#: A mark looked for again through a fit of the code and the other marks is looked for
#: this far (points) around where that fit puts it.
REFIT_REACH = 40.0


class AlignError(Exception):
    """The page could not be fitted to its layout; the message says why."""


@dataclass(frozen=True)
class Fit:
    #: 3x3, layout points (x right, y up) -> image pixels (edge coordinates).
    homography: np.ndarray
    #: RMS and largest distance, in points, between layout points and the fitted image.
    error: float
    max_error: float
    #: Corners whose alignment mark was found.
    marks_found: tuple[str, ...]
    #: Pixels per inch of the page in the image, along x and y of the layout.
    dpi: float
    #: How far the page is turned clockwise in the image: 0, 90, 180 or 270 degrees.
    rotation: int


# -- geometry -----------------------------------------------------------------------------


def _normalised(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Points moved to their centroid and scaled to a mean distance of sqrt(2) from it
    (Hartley's normalisation), with that centre and scale."""
    centre = points.mean(axis=0)
    moved = points - centre
    spread = np.sqrt((moved**2).sum(axis=1)).mean() or 1.0
    k = np.sqrt(2) / spread
    return moved * k, centre, k


def fit_homography(src, dst, weights=None) -> np.ndarray:
    """The homography taking src points to dst points: weighted least squares (DLT on
    normalised coordinates). At least four points, not three on a line."""
    s, cs, ks = _normalised(np.asarray(src, float))
    d, cd, kd = _normalised(np.asarray(dst, float))
    n = len(s)
    x, y, u, v = s[:, 0], s[:, 1], d[:, 0], d[:, 1]
    a = np.zeros((2 * n, 9))
    a[0::2, 0], a[0::2, 1], a[0::2, 2] = -x, -y, -1.0
    a[0::2, 6], a[0::2, 7], a[0::2, 8] = u * x, u * y, u
    a[1::2, 3], a[1::2, 4], a[1::2, 5] = -x, -y, -1.0
    a[1::2, 6], a[1::2, 7], a[1::2, 8] = v * x, v * y, v
    if weights is not None:
        a *= np.repeat(np.asarray(weights, float), 2)[:, None]
    h = np.linalg.svd(a)[2][-1].reshape(3, 3)
    # Undo the normalisations: h' = inverse(Td) @ h @ Ts.
    ts = np.array([[ks, 0, -ks * cs[0]], [0, ks, -ks * cs[1]], [0, 0, 1]])
    td_inverse = np.array([[1 / kd, 0, cd[0]], [0, 1 / kd, cd[1]], [0, 0, 1]])
    h = td_inverse @ h @ ts
    return h / h[2, 2]


def fit_affine(src, dst, weights=None) -> np.ndarray:
    """The affine map (as a 3x3 matrix) taking src to dst by weighted least squares."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    w = np.ones(len(src)) if weights is None else np.sqrt(np.asarray(weights, float))
    a = np.hstack([src, np.ones((len(src), 1))]) * w[:, None]
    solution, *_ = np.linalg.lstsq(a, dst * w[:, None], rcond=None)
    return np.vstack([solution.T, [0, 0, 1]])


def apply(h: np.ndarray, points) -> np.ndarray:
    """Points (N, 2) through a 3x3 projective map."""
    points = np.asarray(points, float)
    mapped = points @ h[:, :2].T + h[:, 2]
    return mapped[:, :2] / mapped[:, 2:3]


def rectify(
    image: Image.Image, h: np.ndarray, rect: Rect, scale: float, fill: int = 255
) -> np.ndarray:
    """The part of the page under a layout rectangle, upright, at `scale` pixels per
    point, bilinear, as float32 grey values (`fill` where it falls outside the image).

    Output pixel (col, row) has its centre at layout (x + (col + 0.5) / scale,
    top - (row + 0.5) / scale); Pillow's perspective transform does the sampling.
    """
    return rectified(image, h, rect, scale, fill).astype(np.float32)


def rectified(
    image: Image.Image, h: np.ndarray, rect: Rect, scale: float, fill: int = 255
) -> np.ndarray:
    """As rectify, as the uint8 grey levels Pillow samples: for a caller that works
    level by level (see marks.measure)."""
    to_layout = np.array([[1 / scale, 0, rect.x], [0, -1 / scale, rect.top], [0, 0, 1]])
    width = max(1, round(rect.width * scale))
    height = max(1, round(rect.height * scale))
    m = h @ to_layout
    m = m / m[2, 2]
    return transformed(
        image,
        (width, height),
        Image.Transform.PERSPECTIVE,
        tuple(m.flatten()[:8]),
        Image.Resampling.BILINEAR,
        fill,
    )


def transformed(image: Image.Image, size, method, data, resample, fill: int) -> np.ndarray:
    """``np.asarray(image.transform(size, method, data, resample, fillcolor=fill))`` for
    a grey image, sampled by Pillow straight into the array's memory.

    A page reads some forty small patches (marks, finder patterns, boxes), and for
    each, Image.transform's own checks and np.asarray's copy through tobytes took a
    quarter of the sampling's time. Checked against Image.transform once per process
    (and that way if it ever differs or fails, or for any other mode).
    """
    global _transform_checked
    if image.mode == "L" and _transform_checked:
        return _transformed_into(image, size, method, data, resample, fill)
    expected = np.asarray(image.transform(size, method, data, resample, fillcolor=fill))
    if image.mode == "L" and _transform_checked is None:
        try:
            got = _transformed_into(image, size, method, data, resample, fill)
            _transform_checked = bool(np.array_equal(got, expected))
        except Exception:  # noqa: BLE001 - a Pillow whose core differs: its own way
            _transform_checked = False
    return expected


#: Whether _transformed_into gave what Image.transform gives (None: not checked yet).
_transform_checked: bool | None = None


def _transformed_into(image: Image.Image, size, method, data, resample, fill) -> np.ndarray:
    width, height = size
    out = np.full((height, width), fill, np.uint8)
    # Pillow's image core mapped over the array's memory (as Image.frombuffer maps it,
    # mode L, top down, without its Python wrapper's cost) for its sampler to write
    # into; what falls off the image keeps `fill`.
    target = Image.core.map_buffer(out, (width, height), "raw", 0, ("L", 0, 1))
    image.load()
    target.transform((0, 0, width, height), image.im, method, data, resample, 0)
    return out


#: How far (pixels) an affine map may stray from the homography over a rectangle and
#: still stand in for it: Pillow samples an affine map several times faster.
AFFINE_TOLERANCE = 0.25
#: Where over a rectangle (as shares of its width and height) the two are compared:
#: the three corners the affine map is taken through first.
_GRID = np.array(
    [(0, 0), (1, 0), (0, 1), (1, 1), (0.5, 0.5), (0.5, 0), (0, 0.5), (1, 0.5), (0.5, 1)]
)


def sample(
    image: Image.Image, h: np.ndarray, rect: Rect, scale: float, fill: int = 255
) -> np.ndarray:
    """As rectify, as uint8 grey values, and on a flat page several times faster: where an
    affine map agrees with the homography to within AFFINE_TOLERANCE pixels over the
    rectangle (any flatbed scan), the nearest pixel through that map, which Pillow
    samples in a fifth of the time of a bilinear perspective; elsewhere (a photo's
    perspective) bilinear, as rectify. The nearest pixel is enough where what counts
    is ink over an area; in a photo's shadows its noise, unsmoothed, passed for ink.
    """
    width = max(1, round(rect.width * scale))
    height = max(1, round(rect.height * scale))
    to_layout = np.array([[1 / scale, 0, rect.x], [0, -1 / scale, rect.top], [0, 0, 1]])
    m = h @ to_layout
    m = m / m[2, 2]
    # The affine map through three corners, checked at the fourth, the centre and the
    # middle of each side.
    grid = _GRID * (width, height)
    target = apply(m, grid)
    origin = target[0]
    across, down = (target[1] - origin) / width, (target[2] - origin) / height
    if np.abs(origin + grid @ np.array([across, down]) - target).max() <= AFFINE_TOLERANCE:
        method = Image.Transform.AFFINE
        data = (across[0], down[0], origin[0], across[1], down[1], origin[1])
        resample = Image.Resampling.NEAREST
    else:
        method, data = Image.Transform.PERSPECTIVE, tuple(m.flatten()[:8])
        resample = Image.Resampling.BILINEAR
    return transformed(image, (width, height), method, data, resample, fill)


def paper_brightness(image: Image.Image) -> int:
    """The grey level of most of the page's paper: the 90th percentile of its pixels.

    Used to fill what a rectified patch takes from outside the image, so the edge of a
    scan never looks like white paper beside grey paper.
    """
    below = np.cumsum(image.histogram())  # pixels at each level or darker
    level = int(np.searchsorted(below, 0.9 * int(below[-1])))  # the first to reach it
    return min(level, 255)


#: Every grey level a sampled patch can hold, as the floats a patch is measured in.
LEVELS = np.arange(256, dtype=np.float32)


def darkness(grey: np.ndarray, paper: float | np.ndarray) -> np.ndarray:
    """How much darker than the paper each pixel is: 0 paper, 1 black.

    Dividing by the local paper brightness rather than subtracting a fixed threshold
    makes a mark in a shadow as dark as the same mark in full light: shading multiplies.
    """
    paper = np.maximum(paper, 1.0)
    # np.clip, in place (the same values, without its Python wrapper and a copy).
    out = 1.0 - grey / paper
    np.maximum(out, 0.0, out=out)
    return np.minimum(out, 1.0, out=out)


# -- the marks ----------------------------------------------------------------------------


def _block_levels(grey: np.ndarray, block: int) -> np.ndarray:
    """The brightest pixel of each block, then the brightest of each block's 3 x 3
    neighbourhood: where the paper is, however much ink or table is in a block."""
    rows, cols = grey.shape
    br, bc = -(-rows // block), -(-cols // block)
    if (rows, cols) != (br * block, bc * block):
        # The last row and column repeated (np.pad's "edge", without its Python cost).
        padded = np.empty((br * block, bc * block), grey.dtype)
        padded[:rows, :cols] = grey
        padded[rows:, :cols] = grey[rows - 1]
        padded[:, cols:] = padded[:, cols - 1 : cols]
        grey = padded
    # Down each block's rows first: whole rows at a time, the fast way through memory.
    level = grey.reshape(br, block, bc * block).max(axis=1).reshape(br, bc, block).max(axis=2)
    # The brightest of each 3 x 3 neighbourhood (within the map: as with its edge
    # repeated), across and then down.
    across = level.copy()
    np.maximum(across[:, 1:], level[:, :-1], out=across[:, 1:])
    np.maximum(across[:, :-1], level[:, 1:], out=across[:, :-1])
    out = across.copy()
    np.maximum(out[1:], across[:-1], out=out[1:])
    np.maximum(out[:-1], across[1:], out=out[:-1])
    return out.astype(np.float32)


def local_paper(grey: np.ndarray, block: int, smooth: bool = True,
                grainy: bool = False) -> np.ndarray:
    """The paper's brightness near each pixel, following shadows but not the table.

    The brightest pixel of each block (blocks wider than a mark, so a mark never fills
    one), then the brightest of each block's neighbours (so the table just beyond the
    page's edge is measured against the page's paper and is dark, not a paper of its
    own), interpolated smoothly between block centres (so no block's edge draws a
    step that could look like the edge of a square).

    `grainy`: the brightest of the 2 x 2 means instead of single pixels. In a dim,
    grainy corner of a phone photo the brightest pixel is a speck of noise above the
    paper, and the paper round a mark there looked too dark to be paper (its ring
    measured 0.17 against the brightest speck, 0.12 against the brightest 2 x 2 mean).
    """
    rows, cols = grey.shape
    if grainy and block % 2 == 0 and rows >= 2 and cols >= 2:
        even = grey[: rows - rows % 2, : cols - cols % 2]
        means = even.reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3), dtype=np.float32)
        return spread(_block_levels(means, block // 2), block, grey.shape, smooth)
    return spread(_block_levels(grey, block), block, grey.shape, smooth)


def spread(level: np.ndarray, block: int, shape: tuple[int, int], smooth: bool = True):
    """Block levels (as _block_levels gives them) over every pixel of an image of
    `shape`: interpolated between block centres, or (not `smooth`, where only the level
    matters and not steps between blocks) the same across each block."""
    rows, cols = shape
    br, bc = level.shape
    if not smooth:
        return np.repeat(np.repeat(level, block, 0), block, 1)[:rows, :cols]
    # Bilinear, one direction and then the other (five times quicker than Pillow's
    # resize of a float image); across in place, the same sums in the same order.
    r0, r1, fr = _ramp(br, block, rows)
    c0, c1, fc = _ramp(bc, block, cols)
    down = level[r0] * (1 - fr)[:, None] + level[r1] * fr[:, None]
    out = down[:, c0]
    out *= 1 - fc
    right = down[:, c1]
    right *= fc
    out += right
    return out


def _ramp(blocks: int, block: int, n: int):
    """For each of n pixels, the block centres either side and the share of the second:
    linear interpolation between block centres, held level beyond the first and last."""
    at = np.clip((np.arange(n) + 0.5) / block - 0.5, 0, blocks - 1)
    first = np.minimum(at.astype(int), max(blocks - 2, 0))
    return first, np.minimum(first + 1, blocks - 1), (at - first).astype(np.float32)


class PaperMap:
    """The paper's brightness across the whole page, from a reduced copy (`factor`
    times smaller than the image it is looked up in): as local_paper, in blocks of
    about 16 points (48 with their neighbours), looked up at any point of the full
    image."""

    def __init__(self, tiny: Image.Image, factor: int, dpi: float):
        block = max(2, round(16 * dpi / 72 / factor))
        self.level = _block_levels(np.asarray(tiny), block)
        self.scale = 1.0 / (block * factor)

    def at(self, points) -> np.ndarray:
        """Paper brightness at image pixels (N, 2), bilinear between block centres."""
        grid = np.asarray(points, float) * self.scale - 0.5
        rows, cols = self.level.shape
        x = np.clip(grid[:, 0], 0, cols - 1)
        y = np.clip(grid[:, 1], 0, rows - 1)
        x0 = np.minimum(x.astype(int), cols - 2).clip(0)
        y0 = np.minimum(y.astype(int), rows - 2).clip(0)
        fx, fy = np.clip(x - x0, 0, 1), np.clip(y - y0, 0, 1)
        x1, y1 = np.minimum(x0 + 1, cols - 1), np.minimum(y0 + 1, rows - 1)
        top = self.level[y0, x0] * (1 - fx) + self.level[y0, x1] * fx
        bottom = self.level[y1, x0] * (1 - fx) + self.level[y1, x1] * fx
        return top * (1 - fy) + bottom * fy


_OUTWARD = {
    "top-left": (-1.0, -1.0),
    "top-right": (1.0, -1.0),
    "bottom-left": (-1.0, 1.0),
    "bottom-right": (1.0, 1.0),
}


@dataclass(frozen=True)
class Square:
    """A solid dark square to look for, with the paper ring around it (in points)."""

    centre: tuple[float, float]
    side: float
    ring: tuple[float, float]
    #: Kept around the square for its centroid: inside the ring's outer edge.
    pad: float
    #: Among several candidates, prefer the one furthest this way (x right, y down).
    outward: tuple[float, float] = (0.0, 0.0)


def mark_square(mark: Mark) -> Square:
    return Square(
        _centre(mark.rect),
        mark.rect.width,
        (1.5, 3.5),
        _MARK_PAD,
        _OUTWARD.get(mark.corner, (0.0, 0.0)),
    )


def finder_squares(page: PageLayout) -> dict[str, Square]:
    """The solid 3 x 3 module centres of the code's finder patterns, each with a one
    module ring of paper round it (and then the pattern's dark ring)."""
    q = page.qr.rect
    m = q.width / page.qr.modules
    centres = {
        "qr-top-left": (q.x + 3.5 * m, q.top - 3.5 * m),
        "qr-top-right": (q.right - 3.5 * m, q.top - 3.5 * m),
        "qr-bottom-left": (q.x + 3.5 * m, q.y + 3.5 * m),
    }
    return {name: Square(c, 3 * m, (0.25 * m, 0.85 * m), 0.5 * m) for name, c in centres.items()}


def find_square(
    image: Image.Image,
    h: np.ndarray,
    square: Square,
    radius: float,
    fill: int = 255,
    wide: bool = True,
) -> np.ndarray | None:
    """Where `square` is in the image, looked for within `radius` points of where h puts
    it: its centre in image pixels, or None.

    A candidate is dark in its core and light in a ring round it, darkness taken against
    the paper nearby so a shadow does not matter. Of the candidates, the one furthest
    `outward` is taken: every other solid thing on a page (a filled-in box, a scribble)
    lies inside the ring of corner marks. A wide search runs at 1 pixel per point and
    (when `wide`) at several sizes: a far corner of a phone photo is larger or smaller
    than a first, affine estimate makes it, and the outermost candidate of any size
    wins. The centre is then the darkness-weighted centroid of a small patch at 4 pixels
    per point around the candidate (to a fraction of a pixel: fit_page takes it again
    through its final homography).
    """
    k = 1.0 if radius > 12 else _SEARCH_SCALE
    scales = (1.0, 1.2, 0.85, 1.45, 1.75) if wide and radius > 12 else (1.0,)
    reach = radius + (square.side / 2 + square.ring[1]) * max(scales) + 1
    cx0, cy0 = square.centre
    area = Rect(cx0 - reach, cy0 - reach, 2 * reach, 2 * reach)
    # Off the image is black, not paper: it must not pass for the paper round a mark.
    patch = rectify(image, h, area, k, 0)
    d = darkness(patch, local_paper(patch, max(8, round(24 * k)), grainy=True))
    sums = _Sums(d)
    guesses = [_candidate(sums, square, scale, k, radius, reach) for scale in scales]
    guesses = [g for g in guesses if g is not None]
    if not guesses:
        return None
    _, gx, gy = max(guesses)
    centre = _centroid(image, h, square, area.x + gx, area.top - gy, fill)
    return None if centre is None else apply(h, np.array([centre]))[0]


class _Sums:
    """Window sums of a darkness map through its integral image, made once."""

    def __init__(self, d: np.ndarray):
        self.shape = d.shape
        self.s = np.zeros((d.shape[0] + 1, d.shape[1] + 1), dtype=np.float64)
        self.s[1:, 1:] = d.cumsum(0).cumsum(1)

    def __call__(self, side: int) -> np.ndarray:
        s = self.s
        return s[side:, side:] - s[:-side, side:] - s[side:, :-side] + s[:-side, :-side]


def _candidate(sums: _Sums, square: Square, scale: float, k: float, radius: float, reach: float):
    """The chosen candidate at this size: (rank, x, y), its centre in patch points (x
    right, y down), or None."""
    side = square.side * scale
    core = max(2, round(max(side - 3 * scale, side / 2) * k))
    inner_ring = round((side + 2 * square.ring[0] * scale) * k)
    outer_ring = max(inner_ring + 2, round((side + 2 * square.ring[1] * scale) * k))
    n_rows = sums.shape[0] - outer_ring + 1
    n_cols = sums.shape[1] - outer_ring + 1
    if n_rows < 1 or n_cols < 1:
        return None
    # Every map indexed by its window's centre, (row + outer_ring / 2, col + outer_ring / 2).
    oc = (outer_ring - core) // 2
    oi = (outer_ring - inner_ring) // 2
    core_mean = sums(core)[oc : oc + n_rows, oc : oc + n_cols] / core**2
    ring = sums(outer_ring)[:n_rows, :n_cols] - sums(inner_ring)[oi : oi + n_rows, oi : oi + n_cols]
    ring_mean = ring / (outer_ring**2 - inner_ring**2)
    good = (core_mean >= CORE) & (ring_mean <= RING)
    if not good.any():
        return None
    dx = ((np.arange(n_cols) + outer_ring / 2) / k - reach)[None, :]  # points right
    dy = ((np.arange(n_rows) + outer_ring / 2) / k - reach)[:, None]  # and down
    good &= dx * dx + dy * dy <= radius * radius
    if not good.any():
        return None
    ox, oy = square.outward
    rank = np.where(good, ox * dx + oy * dy + (core_mean - ring_mean), -np.inf)
    i, j = np.unravel_index(np.argmax(rank), rank.shape)
    return float(rank[i, j]), (j + outer_ring / 2) / k, (i + outer_ring / 2) / k


def _centroid(
    image,
    h,
    square: Square,
    x: float,
    y: float,
    fill: int,
    patch: list | None = None,
    k: float = _CENTROID_SCALE,
):
    """The darkness-weighted centroid, in layout points, of the square's patch centred
    on (x, y), sampled at k pixels per point: paper all round the square, so its centre
    to a fraction of a pixel. The patch (grey levels, uint8) is put in `patch` when one
    is given."""
    half = square.side / 2 + square.pad
    window = Rect(x - half, y - half, 2 * half, 2 * half)
    levels = rectified(image, h, window, k, fill)
    if patch is not None:
        patch[:] = [levels]
    # Each grey level's weight worked out once and looked up: the same values as
    # worked out pixel by pixel, in a sixth of the time.
    table = darkness(LEVELS, max(float(levels.max()), 1.0)) - 0.4
    weight = np.maximum(table, 0, out=table)[levels]
    total = weight.sum()
    if total <= 0:
        return None
    columns = weight.sum(axis=0) @ (np.arange(weight.shape[1]) + 0.5)
    rows = weight.sum(axis=1) @ (np.arange(weight.shape[0]) + 0.5)
    return window.x + columns / total / k, window.top - rows / total / k


def _refine(
    image,
    h,
    square: Square,
    fill: int,
    limit: float | None = 1.5,
    rounds: int = 2,
    layout: bool = False,
    settled: float = 0.1,
) -> np.ndarray | None:
    """The square's centre in image pixels (or, `layout`, in layout points) by its
    centroid, starting where h puts it and taken again about each result while it
    still moves by `settled` points or more (a window off centre leans towards where
    it is off), at most `rounds` times; None if it ends further than `limit` points
    from where h put it (for a finder pattern: its window slipped).

    Through an affine map, a centroid that moved less than half the square's `pad` had
    the whole square and only paper round it in its window, wherever the window was:
    it is exact, and `settled` may be that much."""
    x, y = square.centre
    for _ in range(rounds):
        centre = _centroid(image, h, square, x, y, fill)
        if centre is None:
            return None
        moved = np.hypot(centre[0] - x, centre[1] - y)
        x, y = centre
        if moved < settled:
            break
    if limit is not None and np.hypot(x - square.centre[0], y - square.centre[1]) >= limit:
        return None
    return np.array([x, y]) if layout else apply(h, np.array([[x, y]]))[0]


def _centre(rect: Rect) -> tuple[float, float]:
    return (rect.x + rect.width / 2, rect.y + rect.height / 2)


def qr_corners(page: PageLayout) -> np.ndarray:
    """The code's corners in the layout: top-left, top-right, bottom-right, bottom-left
    of the symbol as printed (the order zxing-cpp gives them in)."""
    q = page.qr.rect
    return np.array([(q.x, q.top), (q.right, q.top), (q.right, q.y), (q.x, q.y)], float)


def _fit(layout_pts, image_pts, weights, marks: int) -> np.ndarray:
    """Affine until three marks are known: with points only along the top of the page
    a homography's perspective terms are guesses, and wild ones far from them."""
    if marks >= 3:
        return fit_homography(layout_pts, image_pts, weights)
    return fit_affine(layout_pts, image_pts, weights)


def errors(h: np.ndarray, layout_pts, image_pts) -> np.ndarray:
    """Distance in points between each layout point and its image point mapped back."""
    back = apply(np.linalg.inv(h), image_pts)
    return np.hypot(*(back - np.asarray(layout_pts)).T)


#: A fit this good (RMS, points) needs no second look at its marks.
GOOD_FIT = 0.6


def fit_page(image: Image.Image, page: PageLayout, code_corners, paper: int = 255) -> Fit:
    """Fit the page from the QR code's corners (image pixels, zxing-cpp order), the four
    corner marks and the code's finder patterns. AlignError unless all four marks are
    found: with one missing, the corner it should hold is guesswork however small the
    error at the other points. `paper` is the page's paper brightness (see paper_brightness).

    When the fit is not good, each mark in turn is looked for again, widely, where the
    code and the other three put it, and the best fit is kept: one mark taken wrongly
    (the true one outside a first window that a phone photo's perspective made too
    small) spoils a fit without showing which it was.
    """
    qr_image = np.asarray(code_corners, float)
    squares = {mark.corner: mark_square(mark) for mark in page.marks}
    quick = _quick_pass(image, page, squares, qr_image, paper)
    if quick is None:
        (found, far), finders = _first_pass(image, page, squares, qr_image, paper), None
    else:
        (found, finders), far = quick, set()
    if len(found) < 4:
        names = ", ".join(m.corner for m in page.marks if m.corner not in found)
        raise AlignError(f"alignment marks not found: {names} (corner cut off, folded, covered?)")
    best = _finish(image, page, squares, qr_image, found, paper, far, finders)
    if best.error > GOOD_FIT and len(found) == 4:
        qr_layout = qr_corners(page)
        for name in squares:
            others = [other for other in found if other != name]
            layout = np.vstack([qr_layout] + [[squares[o].centre] for o in others])
            img = np.vstack([qr_image] + [[found[o]] for o in others])
            h = fit_homography(layout, img, [QR_WEIGHT] * 4 + [1.0] * 3)
            hit = find_square(image, h, squares[name], REFIT_REACH, paper)
            if hit is None or np.hypot(*(hit - found[name])) < 1.0:
                continue
            fit = _finish(image, page, squares, qr_image, {**found, name: hit}, paper, {name})
            if fit.error < best.error:
                best = fit
    return best


#: The quick pass takes a mark no further than this (points) from where the code's
#: finder patterns put it: on a flatbed scan they put it within a point.
QUICK_REACH = 2.5


def _quick_pass(image, page, squares, qr_image, paper):
    """The marks where the code's finder patterns put them, and the finder patterns'
    centres ((layout point, image point) each), or None: a third of the time of the
    search (_first_pass), and enough for any flatbed scan.

    The finder patterns' centres, measured through the code's corners, give an affine
    estimate good to about a point at the far corners of a flat page; each mark is then
    the centroid of a window round where that puts it, taken again until it settles,
    and must be a solid square with paper round it. Anything else (a photo's
    perspective, a mark covered or cut off) gives None, and the search is made.
    """
    h = fit_affine(qr_corners(page), qr_image)
    finders = []
    for square in finder_squares(page).values():
        centre = _refine(image, h, square, paper, settled=square.pad / 2)
        if centre is None:
            return None
        finders.append((square.centre, centre))
    h = fit_affine([c for c, _ in finders], [p for _, p in finders])
    found = {}
    for name, square in squares.items():
        centre = _settle(image, h, square, paper)
        if centre is None:
            return None
        found[name] = apply(h, np.array([centre]))[0]
    return found, finders


def _settle(image, h, square: Square, fill: int, rounds: int = 5):
    """The square's centre (layout points) by its centroid, taken again until it has
    settled (in a window at _CENTROID_SCALE that moved it less than 0.25 pt), no
    further than QUICK_REACH from where h puts it, and checked in that window to be a
    solid square with paper round it; None otherwise."""
    x, y = square.centre
    patch: list = []
    # Coarsely (a quarter of the pixels) until the window holds the whole square (see
    # _refine), then once more at _CENTROID_SCALE, centred, for the check.
    k = _SEARCH_SCALE
    for _ in range(rounds):
        centre = _centroid(image, h, square, x, y, fill, patch, k)
        if centre is None:
            return None
        moved = np.hypot(centre[0] - x, centre[1] - y)
        x, y = centre
        if k == _CENTROID_SCALE and moved < 0.25:
            break
        if moved < square.pad / 2:
            k = _CENTROID_SCALE
    else:
        return None
    if np.hypot(x - square.centre[0], y - square.centre[1]) >= QUICK_REACH:
        return None
    return (x, y) if _solid(patch[0], square) else None


def _solid(levels: np.ndarray, square: Square) -> bool:
    """Whether a centroid's patch (grey levels, centred on the square) shows a dark core
    and a ring of paper round it, as find_square's candidates do."""
    # The 95th percentile level by counting levels (np.partition's value, quicker).
    at = int(0.95 * (levels.size - 1))
    paper = max(float(np.argmax(np.bincount(levels.ravel(), minlength=256).cumsum() > at)), 1.0)
    core, ring = _solid_parts(levels.shape, square)
    table = darkness(LEVELS, paper)  # each level's darkness, looked up
    return bool(table[levels[core]].mean() >= CORE and table[levels[ring]].mean() <= RING)


@functools.lru_cache(maxsize=32)
def _solid_parts(shape: tuple[int, ...], square: Square) -> tuple[np.ndarray, np.ndarray]:
    """Where a square's core and the ring of paper round it are in its centroid's patch:
    the same for every page, so worked out once."""
    half = square.side / 2 + square.pad
    offset = (np.arange(shape[0]) + 0.5) * (2 * half / shape[0]) - half  # from centre
    reach = np.maximum(np.abs(offset)[:, None], np.abs(offset)[None, :])
    core = reach <= max(square.side - 3, square.side / 2) / 2
    ring = reach >= square.side / 2 + square.ring[0]
    return core, ring


def _first_pass(image, page, squares, qr_image, paper) -> tuple[dict[str, np.ndarray], set]:
    """The marks found from the code outwards, nearest first, refitting after each; and
    which of them were found only by a wide search."""
    qr_layout = qr_corners(page)
    found: dict[str, np.ndarray] = {}
    far: set[str] = set()
    h = fit_affine(qr_layout, qr_image)
    qr_centre = qr_layout.mean(axis=0)
    order = sorted(squares, key=lambda n: np.hypot(*(np.array(squares[n].centre) - qr_centre)))
    missed: list[tuple[str, int]] = []  # each mark not found, and how many were then
    for name in order:
        known = [qr_centre] + [np.array(squares[other].centre) for other in found]
        nearest = min(np.hypot(*(np.array(squares[name].centre) - p)) for p in known)
        # Near the prediction first (enough for a flatbed scan), then far and wide (a
        # phone photo's perspective, which an affine estimate cannot foresee).
        hit = find_square(image, h, squares[name], 8 + 0.05 * nearest, paper, wide=False)
        if hit is None:
            hit = find_square(image, h, squares[name], min(400.0, 8 + 0.4 * nearest), paper)
            far.add(name)
        if hit is None:
            missed.append((name, len(found)))
        else:
            found[name] = hit
            layout = np.vstack([qr_layout] + [[squares[n].centre] for n in found])
            img = np.vstack([qr_image] + [[found[n]] for n in found])
            h = _fit(layout, img, [QR_WEIGHT] * 4 + [1.0] * len(found), len(found))
    # A mark missed through an early, affine guess at a phone photo's perspective is
    # looked for once more through the fit of the marks found after it (through the
    # same guess again it would be missed again): in the guess's sheared patch the
    # mark's corners reached into the ring of paper round it.
    for name, known in missed:
        if len(found) > known:
            hit = find_square(image, h, squares[name], REFIT_REACH, paper)
            if hit is not None:
                found[name] = hit
    return found, far


def _finish(image, page, squares, qr_image, found, paper, far=(), finders=None) -> Fit:
    """The fit from these marks: the centres of those found far out (`far`: measured
    through an affine guess at a phone photo's perspective, in a warped patch) measured
    again through a first homography, the finder patterns' centres measured (unless
    given, as the quick pass gives them), and the homography fitted to the marks and
    finder centres (or, failing those, zxing's corners). A centroid is an affine
    invariant, so a mark found near where it was expected needs no second look."""
    qr_layout = qr_corners(page)
    found = dict(found)
    names = list(found)
    if finders is None:
        layout = np.vstack([qr_layout] + [[squares[n].centre] for n in names])
        img = np.vstack([qr_image] + [[found[n]] for n in names])
        h = fit_homography(layout, img, [QR_WEIGHT] * 4 + [1.0] * len(names))
        if far:
            # A mark measured in a badly warped patch can be points out: measure it
            # again through the homography, refit, and again (its window holds it all
            # the while).
            for _ in range(2):
                for name in far:
                    centre = _refine(image, h, squares[name], paper, limit=None, rounds=3)
                    if centre is not None:
                        found[name] = centre
                img = np.vstack([qr_image] + [[found[n]] for n in names])
                h = fit_homography(layout, img, [QR_WEIGHT] * 4 + [1.0] * len(names))
        finders = []
        for square in finder_squares(page).values():
            centre = _refine(image, h, square, paper)
            if centre is not None:
                finders.append((square.centre, centre))
    marks_found = tuple(m.corner for m in page.marks if m.corner in found)
    layout = [squares[name].centre for name in marks_found]
    img = [found[name] for name in marks_found]
    candidates = []
    if len(finders) == 3:
        points = (layout + [c for c, _ in finders], img + [p for _, p in finders])
        candidates.append((*points, fit_homography(*points)))
    points = (list(qr_layout) + layout, list(qr_image) + img)
    weights = [QR_WEIGHT] * 4 + [1.0] * len(marks_found)
    candidates.append((*points, fit_homography(*points, weights)))
    measured = []
    for layout, img, h in candidates:
        err = errors(h, layout, img)
        measured.append((float(np.sqrt((err**2).mean())), float(err.max()), h))
    # The better (the first of equals), its resolution and turn worked out for it alone.
    error, max_error, h = min(measured, key=lambda fit: fit[0])
    return Fit(homography=h, error=error, max_error=max_error, marks_found=marks_found,
               dpi=_dpi(h, page), rotation=_rotation(h, page))


def _dpi(h: np.ndarray, page: PageLayout) -> float:
    """Pixels per inch at the page centre, the mean of the two directions."""
    q = page.qr.rect
    c = np.array([[q.x, q.y], [q.x + 72, q.y], [q.x, q.y + 72]])
    p = apply(h, c)
    return float((np.hypot(*(p[1] - p[0])) + np.hypot(*(p[2] - p[0]))) / 2)


def _rotation(h: np.ndarray, page: PageLayout) -> int:
    """How far the page is turned clockwise in the image, to the nearest quarter turn."""
    q = page.qr.rect
    p = apply(h, np.array([[q.x, q.y], [q.x, q.y + 72]]))
    dx, dy = p[1] - p[0]
    angle = np.degrees(np.arctan2(dx, -dy))  # 0 when up is up in the image
    return int(round(angle / 90.0)) % 4 * 90

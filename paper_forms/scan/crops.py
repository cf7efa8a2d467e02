"""Writing areas: was anything written, and the area cut out upright for transcription.

Each area is sampled once, upright through the page's homography at CROP_DPI with a
small margin, and the paper's brightness is divided out block by block (a phone
photo's shading changes across a 500-point area). Then the printed parts are left out:
the outline by an inset, the ruling lines by finding the thin runs of rows that are ink
from end to end (a full line of handwriting is too, but as tall as its letters). What
ink remains is writing; a few square points of it are enough, because a written answer
left out of the transcription queue is a voice lost, while a blank one put in costs a
person a glance.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..layout import WritingArea
from .align import _block_levels, _ramp, sample, spread

#: Crops are cut at this resolution, whatever the scan's.
CROP_DPI = 150
#: Around the area, in points, so writing that strays over the outline is kept.
MARGIN = 4.0
#: Left out inside the outline when looking for writing, in points.
INSET = 3.0
#: A pixel this much darker than the paper is ink (the ruling lines print lighter).
INK = 0.3
#: A row of pixels at least this much covered by any ink may be a ruling line...
RULE_ROW = 0.5
#: ... if no more than this many points of rows together are (the lines print 0.4 pt).
RULE_HEIGHT = 2.5
#: In the crop, anything at least this share of the paper's brightness is paper.
WHITE = 0.85
#: This much ink, in square points, outside the ruling lines is writing.
WRITING_MIN = 6.0
#: Pixels a side of the blocks the paper's brightness is measured in (24 pt).
_BLOCK = 50


@dataclass(frozen=True)
class Writing:
    has_writing: bool
    #: Ink found outside the printed lines, in square points.
    ink: float
    #: The area upright at CROP_DPI, paper white, as PNG; None when nothing is written.
    png: bytes | None
    width: int
    height: int


def ruling_rows(covered: np.ndarray, thickest: int) -> np.ndarray:
    """Rows of a ruling line: runs of rows inked from end to end that are no thicker than
    a printed line (a full line of handwriting also inks its rows from end to end, but
    over the height of its letters), and a row either side."""
    rules = np.zeros_like(covered)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], covered.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start <= thickest:
            rules[max(start - 1, 0) : stop + 1] = True
    return rules


def read_area(
    image: Image.Image, h: np.ndarray, area: WritingArea, paper: int = 255, png: bool = True
) -> Writing:
    """Whether the area holds writing, and its crop (PNG bytes) if it does."""
    scale = CROP_DPI / 72
    # The nearest pixel, not bilinear: ink over an area is what counts here, and
    # Pillow's bilinear sampling of a 500-point area took as long as the rest of a page.
    grey = sample(image, h, area.rect.grown(MARGIN), scale, paper)
    level = np.maximum(_block_levels(grey, _BLOCK), 1.0)
    edge = round((MARGIN + INSET) * scale)
    inside = grey[edge:-edge, edge:-edge]

    def darker(than: float) -> np.ndarray:
        """Where inside is darker than the paper by `than` or more (darkness >= than),
        compared grey level to grey level, block by block."""
        limit = np.floor((1 - than) * level).astype(np.uint8)
        return inside <= spread(limit, _BLOCK, grey.shape, smooth=False)[edge:-edge, edge:-edge]

    ruled = darker(0.1)
    covered = np.count_nonzero(ruled, axis=1) / ruled.shape[1]  # as .mean(axis=1), quicker
    rules = ruling_rows(covered >= RULE_ROW, round(RULE_HEIGHT * scale))
    ink_px = int(darker(INK)[~rules].sum())
    ink = ink_px / scale**2
    written = ink >= WRITING_MIN
    data = None
    if written and png:
        # Paper white: what is within WHITE of the paper's brightness becomes 255, so the
        # crop reads cleanly and its PNG is a seventh the size (and quicker to write).
        # The paper measured smoothly here, so no block shows in the picture.
        data = encode_png(whitened(grey, level))
    return Writing(written, round(ink, 2), data, grey.shape[1], grey.shape[0])


def whitened(grey: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The area with the paper's brightness divided out (measured smoothly, so no block
    shows in the picture) and what is within WHITE of it made white: uint8.

    Worked out only where it can matter: a pixel at least WHITE of the brightest paper
    in its band of rows is white whatever the paper beside it (the smooth paper never
    exceeds the blocks it lies between), and most of an area is paper. The rest is
    worked out exactly as for the whole area, pixel by pixel: the same bytes.
    """
    rows, cols = grey.shape
    br, bc = level.shape
    r0, r1, fr = _ramp(br, _BLOCK, rows)
    c0, c1, fc = _ramp(bc, _BLOCK, cols)
    # The brightest paper each row's smooth paper is made from, and a little over, for
    # the rounding of the float32 sums below.
    brightest = np.maximum(level.max(axis=1)[r0], level.max(axis=1)[r1]) * (1 + 1e-5)
    out = np.full(grey.shape, 255, np.uint8)
    at = np.flatnonzero(grey < (WHITE * brightest)[:, None])
    if len(at):
        r, c = np.divmod(at, cols)
        # Down first, for every row and block column (small), then across at each pixel.
        down = level[r0] * (1 - fr)[:, None] + level[r1] * fr[:, None]
        paper = down[r, c0[c]] * (1 - fc)[c] + down[r, c1[c]] * fc[c]
        shade = np.divide(255.0, np.maximum(paper, 1.0)) * grey.ravel()[at]
        shade[shade >= WHITE * 255] = 255
        out.ravel()[at] = shade.astype(np.uint8)
    return out


def encode_png(grey: np.ndarray) -> bytes:
    """A grey uint8 array as PNG: rows unfiltered, deflated as runs (zlib's RLE).

    Paper made white is long runs of one value, which RLE takes as well as full
    deflate; Pillow's encoder, choosing a filter for each row, took three times as long.
    """
    rows, cols = grey.shape
    raw = np.zeros((rows, cols + 1), np.uint8)  # each row led by filter type 0
    raw[:, 1:] = grey
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_RLE)
    body = deflate.compress(raw) + deflate.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)  # 8-bit grey
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )

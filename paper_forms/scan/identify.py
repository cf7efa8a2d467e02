"""Which page of which sheet an image shows: its QR code, read with zxing-cpp.

zxing-cpp runs on a copy of the page reduced to about 1000-2000 pixels on the long side
(a 200 dpi A4 page halved, every other pixel of every other row): the code's modules
are still 3 or more pixels wide there, and decoding takes a sixth of the time. Only
when that finds nothing is the full image tried, as thoroughly as zxing-cpp can (its
own reduced copies too), which rescues small codes and large ones in phone photos.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
import zxingcpp
from PIL import Image

from ..qr import MODULES, Payload, PayloadError, parse_payload, qr_modules

#: The reduced copy's long side is at least this many pixels.
REDUCED_LONG_SIDE = 1000


@dataclass(frozen=True)
class Code:
    """A page code found in an image."""

    text: str
    #: The parsed payload, or None for a code that is not an engage page code.
    payload: Payload | None
    #: Symbol corners in image pixels: top-left, top-right, bottom-right, bottom-left of
    #: the symbol as printed, wherever the image has turned them.
    corners: np.ndarray

    #: Read through the paper from the other side of the sheet: mirrored (zxing-cpp reads
    #: a mirrored code as a turned, transposed one) or far too faint for print.
    show_through: bool = False
    #: Found with one threshold for the whole image (see find_codes), which may have
    #: missed a second code on it.
    quick: bool = False


def reduction(size: tuple[int, int]) -> int:
    """The whole factor that brings the long side down to 1000-2000 pixels."""
    return max(1, max(size) // REDUCED_LONG_SIDE)


def reduced(image: Image.Image) -> tuple[Image.Image, int]:
    """The page reduced for decoding: one pixel of each factor x factor block (the
    nearest, not their average: a quarter of the time, and zxing-cpp reads it as well)."""
    small, factor, _ = reduced_pixels(image)
    return small, factor


def reduced_pixels(
    image: Image.Image, pixels: np.ndarray | None = None
) -> tuple[Image.Image, int, np.ndarray | None]:
    """As reduced, with the reduced copy's pixels as an array when `pixels` (the page's,
    sharing its memory: see load.PageImage) are given, so zxing-cpp is given them
    without a copy; None otherwise.

    The copy is then sliced out of the array: the pixels Pillow's nearest resize takes
    are every factor-th of a row and of a column, in a run or two (its step is
    width / reduced width, a little over the factor where that does not divide the
    width), and which they are is asked of Pillow itself for each size (resizing a row
    and a column of their own positions). The whole is checked against Pillow's resize
    once per process; where it differs, Pillow's resize."""
    global _slice_checked
    factor = reduction(image.size)
    if factor == 1:
        return image, 1, pixels
    size = (image.width // factor, image.height // factor)
    runs = None if pixels is None or _slice_checked is False else _runs(image.size, factor)
    if runs is None:
        return image.resize(size, Image.Resampling.NEAREST), factor, None
    small = np.empty((size[1], size[0]), np.uint8)
    for out_y, start_y, stop_y in runs[1]:
        for out_x, start_x, _stop in runs[0]:
            _take_every(small[out_y, out_x], pixels[start_y:stop_y:factor], start_x, factor)
    if _slice_checked is None:
        expected = image.resize(size, Image.Resampling.NEAREST)
        _slice_checked = bool(np.array_equal(np.asarray(expected), small))
        if not _slice_checked:
            return expected, factor, None
    return Image.fromarray(small), factor, small


#: Whether slicing gave what Pillow's nearest resize gives (None: not checked yet).
_slice_checked: bool | None = None


def _take_every(out: np.ndarray, rows: np.ndarray, start: int, factor: int) -> None:
    """out[:] = rows[:, start::factor] (as many columns as out has).

    Where the columns fall at one end of factor-byte words (every other pixel from an
    odd or an even one at 200 dpi), as those words' low bytes, little- or big-endian:
    numpy narrows words several times quicker than it copies every other byte (0.25
    against 0.7 ms for a page)."""
    count = out.shape[1]
    if factor in (2, 4, 8) and rows.strides[1] == 1:
        if start + count * factor <= rows.shape[1]:
            words = rows[:, start : start + count * factor].view(f"<u{factor}")
            np.copyto(out, words, casting="unsafe")
            return
        if start >= factor - 1:
            first = start - (factor - 1)
            words = rows[:, first : first + count * factor].view(f">u{factor}")
            np.copyto(out, words, casting="unsafe")
            return
    out[:] = rows[:, start : start + (count - 1) * factor + 1 : factor]


def _runs(size: tuple[int, int], factor: int):
    """For the columns and then the rows of an image of `size` reduced by `factor`:
    (slice of the reduced copy, first, stop) for each run of the pixels Pillow's
    nearest resize takes, every factor-th; None if they do not come so."""
    columns, rows = _axis_runs(size[0], factor, True), _axis_runs(size[1], factor, False)
    return None if columns is None or rows is None else (columns, rows)


@functools.lru_cache(maxsize=256)
def _axis_runs(n: int, factor: int, across: bool):
    """_runs for one side, n pixels long: the columns (`across`) or the rows. Kept per
    side, so pages of one width but a few rows more or less (cut by hand, or by a
    scanner's edge detection) ask Pillow once for their columns."""
    if n < factor:
        return None
    positions = np.arange(n, dtype=np.int32)
    # Two rows of the columns' positions, or two columns of the rows'.
    probe = np.stack([positions, positions], axis=0 if across else 1)
    shape = (n, 2) if across else (2, n)
    reduced_size = (n // factor, 1) if across else (1, n // factor)
    # By the buffer, both ways: the same pixels as fromarray and asarray, in half the time.
    image = Image.frombuffer("I", shape, probe.tobytes(), "raw", "I", 0, 1)
    resized = image.resize(reduced_size, Image.Resampling.NEAREST)
    taken = np.frombuffer(resized.tobytes(), np.int32).astype(np.int64)
    if len(taken) != n // factor or taken.min() < 0 or taken.max() >= n:
        return None
    steps = np.diff(taken)
    if (steps < factor).any():
        return None
    breaks = [0, *(np.flatnonzero(steps != factor) + 1), len(taken)]
    return tuple(
        (slice(a, b), int(taken[a]), int(taken[b - 1]) + 1)
        for a, b in zip(breaks[:-1], breaks[1:], strict=True)
    )


def find_codes(
    image: Image.Image,
    factor: int = 1,
    thorough: bool = True,
    quick: bool = True,
    pixels: np.ndarray | None = None,
) -> list[Code]:
    """Every QR code zxing-cpp finds in image, corners scaled up by factor; `thorough`
    also in zxing-cpp's own reduced copies of it (for codes far larger than needed).

    First with one threshold for the whole image (zxing-cpp's global histogram), in
    under half the time of its default, which follows the light locally: that reads
    the code of a flatbed scan. Only one page code of ours, printed, is taken from it;
    anything else (a photo's shadow hid it, a second code, one seen through the paper)
    is looked for again the default way, and so is everything without `quick`. (Codes
    found the first way say so: a caller that sees room for a second page on the image
    looks again without `quick`.) `pixels` are the image's as an array, when the caller
    has them (see reduced_pixels).
    """
    # zxing-cpp takes an array quicker than a Pillow image: converted here once.
    if pixels is None:
        pixels = np.asarray(image if image.mode == "L" else image.convert("L"))
    if quick:
        found = _codes(image, pixels, factor, thorough, zxingcpp.Binarizer.GlobalHistogram)
        if len(found) == 1 and found[0].payload is not None and not found[0].show_through:
            return [replace(found[0], quick=True)]
    return _codes(image, pixels, factor, thorough, zxingcpp.Binarizer.LocalAverage)


def _codes(image: Image.Image, pixels, factor: int, thorough: bool, binarizer) -> list[Code]:
    found = zxingcpp.read_barcodes(
        pixels,
        formats=zxingcpp.BarcodeFormat.QRCode,
        try_invert=False,
        try_downscale=thorough,
        binarizer=binarizer,
    )
    codes = []
    for barcode in found:
        p = barcode.position
        corners = np.array(
            [(c.x, c.y) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)],
            float,
        )
        try:
            payload = parse_payload(barcode.text)
        except PayloadError:
            payload = None
        through = _show_through(image, corners, barcode.text if payload else None)
        codes.append(Code(barcode.text, payload, corners * factor, through))
    return codes


#: Printed codes are black on paper; one seen through a sheet is a tenth as dark.
MIN_CONTRAST = 0.3


def _show_through(image: Image.Image, corners: np.ndarray, payload: str | None) -> bool:
    """Whether a code was seen through the paper: its modules' contrast is far below
    print's, or (for our own codes, whose modules we can draw) the image's modules match
    the transposed symbol better than the symbol: zxing-cpp reads mirrored codes, and a
    mirrored square read from its other corner is the transpose."""
    from .align import fit_homography, transformed

    n = MODULES
    symbol = np.array([(0, 0), (n, 0), (n, n), (0, n)], float)
    h = fit_homography(symbol, corners)
    h = h / h[2, 2]
    grey = image if image.mode == "L" else image.convert("L")
    values = transformed(
        grey, (n, n), Image.Transform.PERSPECTIVE, tuple(h.flatten()[:8]),
        Image.Resampling.BILINEAR, 0,
    ).astype(np.float32)
    ordered = np.sort(values, axis=None)
    light, dark = ordered[int(0.9 * (n * n - 1))], ordered[int(0.1 * (n * n - 1))]
    if light <= 0 or (light - dark) / light < MIN_CONTRAST:
        return True
    if payload is None:
        return False
    seen = values < (light + dark) / 2
    printed = np.frombuffer(b"".join(qr_modules(payload)), np.uint8).reshape(n, n) < 128
    straight = (seen == printed).mean()
    transposed = (seen == printed.T).mean()
    return bool(transposed >= 0.9 and transposed > straight + 0.1)


def page_codes(image: Image.Image, small: Image.Image | None = None, factor: int = 1):
    """The codes on a page: from the reduced copy, or from the full image when the
    reduced one shows none."""
    if small is None:
        small, factor = reduced(image)
    codes = find_codes(small, factor, thorough=factor == 1)
    if not codes and factor > 1:
        codes = find_codes(image)
    return codes


#: Ink, in square points, below which a page without a code counts as blank: a dust
#: speck or a stray dot, not a word.
BLANK_INK = 20.0


def looks_blank(small: Image.Image) -> bool:
    """Next to no ink on the page (a scanner's edges left out): the back of a sheet.

    Show-through of the printed front is far lighter than ink, and is not counted.
    """
    from .align import darkness, local_paper

    grey = np.asarray(small, dtype=np.float32)
    rows, cols = grey.shape
    border_r, border_c = max(1, rows * 3 // 100), max(1, cols * 3 // 100)
    grey = grey[border_r:-border_r, border_c:-border_c]
    d = darkness(grey, local_paper(grey, 32))
    points_per_pixel = 842.0 / max(small.size)  # as if the image were an A4 page
    return float((d >= 0.35).sum()) * points_per_pixel**2 < BLANK_INK

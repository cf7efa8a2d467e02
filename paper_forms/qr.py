"""The QR code on every page: a compact, versioned payload and its module matrix.

Payload: ``EG1:<form id>:<sheet serial>:<page>``, e.g. ``EG1:7KQ2M9XA:123:1``. Only
upper-case letters, digits and ':' so the code stays in QR alphanumeric mode; serial and
page are decimal without leading zeros, so every payload has exactly one spelling. The
longest (12-character form id, 9-digit serial, 2-digit page) is 29 characters, which
fits QR version 2 at error correction level Q: every page's code has 25 x 25 modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import zxingcpp

PREFIX = "EG1"
MAX_SERIAL = 999_999_999
MAX_PAGE = 99
VERSION = 2
MODULES = 4 * VERSION + 17
ERROR_CORRECTION = "Q"
#: Blank modules required around the symbol.
QUIET_ZONE_MODULES = 4

_PAYLOAD_RE = re.compile(r"EG1:([0-9A-Z]{1,12}):([1-9][0-9]{0,8}):([1-9][0-9]?)")


class PayloadError(ValueError):
    """Text that is not an engage page code."""


@dataclass(frozen=True)
class Payload:
    form_id: str
    serial: int
    page: int


def encode_payload(form_id: str, serial: int, page: int) -> str:
    """The QR text for one page of one sheet; ValueError for values it cannot carry."""
    text = f"{PREFIX}:{form_id}:{serial}:{page}"
    if (
        not isinstance(serial, int)
        or not isinstance(page, int)
        or not 1 <= serial <= MAX_SERIAL
        or not 1 <= page <= MAX_PAGE
        or not _PAYLOAD_RE.fullmatch(text)
    ):
        raise PayloadError(
            f"cannot encode form {form_id!r}, serial {serial!r}, page {page!r}: form ids are"
            f" 1-12 of 0-9 A-Z, serials 1-{MAX_SERIAL}, pages 1-{MAX_PAGE}"
        )
    return text


def parse_payload(text: str) -> Payload:
    """The form, serial and page a scanned code names; PayloadError for anything else."""
    if not isinstance(text, str):
        raise PayloadError("a page code is text")
    match = _PAYLOAD_RE.fullmatch(text)
    if match is None:
        raise PayloadError(f"not an engage page code: {text[:40]!r}")
    form_id, serial, page = match.groups()
    return Payload(form_id, int(serial), int(page))


def qr_modules(payload: str) -> tuple[bytes, ...]:
    """Rows of modules without the quiet zone: byte 0 dark, 255 light."""
    barcode = zxingcpp.create_barcode(
        payload, zxingcpp.BarcodeFormat.QRCode, ec_level=ERROR_CORRECTION, version=VERSION
    )
    image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))
    if image.shape != (MODULES, MODULES):
        raise PayloadError(f"payload {payload!r} does not fit a version {VERSION} code")
    pixels = image.tobytes()
    return tuple(pixels[row * MODULES : (row + 1) * MODULES] for row in range(MODULES))


_DARK_RUN = re.compile(rb"[\x00-\x7f]+")


def qr_path(payload: str, x: float, y: float, size: float) -> str:
    """PDF operators that fill the dark modules of a code whose lower-left corner is x, y.

    Drawn in module units (one unit per module, row 0 at the top) under a scaling matrix,
    each horizontal run of dark modules one rectangle: small, exact, and no image.
    """
    module = size / MODULES
    ops = [f"q {module:.4f} 0 0 {module:.4f} {x:.3f} {y:.3f} cm 0 g"]
    for row, cells in enumerate(qr_modules(payload)):
        bottom = MODULES - 1 - row
        for run in _DARK_RUN.finditer(cells):
            ops.append(f"{run.start()} {bottom} {run.end() - run.start()} 1 re")
    ops.append("f Q")
    return " ".join(ops)

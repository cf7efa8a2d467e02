"""Scanned pages in: PDF, multi-page TIFF, JPEG and PNG files, or folders of them.

Pages come out one at a time as grey images (a generator), so a 500-page file never
sits in memory whole. A file that cannot be read raises a ScanFileError subclass whose
message says what is wrong with it in words a person can act on; a page is only ever
handed on fully decoded, never half.

Scanner PDFs whose pages are single images give up that image as it is (a JPEG stream
is decoded by Pillow, reduced in the decoder when the resolution is high) instead of
being rendered again; any other PDF page is rendered at RENDER_DPI.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: Resolution for PDF pages that are not one embedded image (drawn or mixed content).
RENDER_DPI = 200
#: Largest page accepted, in pixels: a 600 dpi A4 scan is 35 million, a 48-megapixel
#: phone photo 48 million. Anything larger is refused as a possible decompression bomb.
MAX_PIXELS = 64_000_000
#: JPEG pages are decoded at 1/2, 1/4 or 1/8 size (in the decoder, so cheaply) as long
#: as the long side stays at least this many pixels: about 145 dpi on A4.
MIN_LONG_SIDE = 1700
#: What a folder is searched for; a file named explicitly is always tried.
EXTENSIONS = (".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png")

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


class ScanFileError(ValueError):
    """A file that cannot be read as scanned pages; the message says why."""


class EmptyFile(ScanFileError):
    """A file of zero bytes."""


class NotAScan(ScanFileError):
    """Not a PDF, TIFF, JPEG or PNG file, whatever its name says."""


class TooLarge(ScanFileError):
    """An image claiming more pixels than any scanned page has: a decompression bomb."""


class DamagedFile(ScanFileError):
    """A truncated or corrupt file, or a page in it that cannot be decoded."""


@dataclass
class PageImage:
    """One decoded page: a grey image and where it came from."""

    source: str
    #: 0-based position of the page in its file.
    index: int
    #: Mode 'L', orientation as stored (EXIF orientation applied).
    image: Image.Image
    #: Pixels per inch when the file says (scanners do, phones often do not).
    dpi: float | None = None
    #: The image's pixels as an array (rows, columns) sharing its memory, when the
    #: decoder wrote them into one (a JPEG page: see _decode_into); else None.
    pixels: np.ndarray | None = None


def scan_files(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[Path]:
    """Files to read, in name order: named files as given, folders searched for scans.

    Hidden files (names starting with '.') in folders are skipped; a named file is
    always returned, so a wrong one is reported rather than silently left out.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in EXTENSIONS
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def file_sha256(path: str | os.PathLike) -> str:
    """The hex SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sniff(path: str | os.PathLike) -> str:
    """'pdf', 'tiff', 'jpeg' or 'png' from the first bytes; ScanFileError for the rest."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            head = stream.read(1024)
    except FileNotFoundError:
        raise ScanFileError(f"{path.name}: there is no such file") from None
    except IsADirectoryError:
        raise ScanFileError(f"{path.name}: is a folder, not a file") from None
    except OSError as error:
        raise ScanFileError(f"{path.name}: cannot be opened ({error.strerror})") from None
    if not head:
        raise EmptyFile(f"{path.name}: the file is empty (0 bytes); scan the page again")
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if b"%PDF-" in head:
        return "pdf"
    shown = head[:16].decode("ascii", "replace")
    shown = "".join(c if c.isprintable() else "." for c in shown)
    raise NotAScan(
        f"{path.name}: not a PDF, TIFF, JPEG or PNG file (it starts with {shown!r}); "
        "save scans in one of those formats"
    )


def count_pages(path: str | os.PathLike) -> int:
    """How many pages a file holds; ScanFileError if it cannot be read at all."""
    kind = sniff(path)
    if kind == "pdf":
        pdf = _open_pdf(path)
        try:
            return len(pdf)
        finally:
            pdf.close()
    if kind == "tiff":
        with _open_image(path) as image:
            try:
                return getattr(image, "n_frames", 1)
            except (OSError, ValueError, EOFError, struct.error) as error:
                raise _damaged(path, error) from None
    return 1


def iter_pages(
    path: str | os.PathLike,
    start: int = 0,
    stop: int | None = None,
    *,
    max_pixels: int = MAX_PIXELS,
) -> Iterator[PageImage]:
    """The pages of one file from start up to stop (0-based), decoded one at a time.

    Raises ScanFileError before the first page when the file is not readable at all, and
    when a page cannot be decoded (pages before it were already handed on whole).
    """
    kind = sniff(path)
    if kind == "pdf":
        yield from _pdf_pages(path, start, stop, max_pixels)
    else:
        yield from _image_pages(path, start, stop, max_pixels)


def load_page(path: str | os.PathLike, index: int, **options) -> PageImage:
    """One page of a file; ScanFileError if it is not there or cannot be decoded."""
    for page in iter_pages(path, index, index + 1, **options):
        return page
    raise ScanFileError(f"{Path(path).name}: has no page {index + 1}")


# -- images -------------------------------------------------------------------------------


def _name(path) -> str:
    return Path(path).name if isinstance(path, (str, os.PathLike)) else str(path)


def _damaged(path, error: BaseException) -> DamagedFile:
    detail = str(error) or type(error).__name__
    return DamagedFile(f"{_name(path)}: the file is damaged or cut short ({detail})")


def _too_large(path, pixels: int, max_pixels: int) -> TooLarge:
    return TooLarge(
        f"{_name(path)}: the image claims {pixels:,} pixels, more than the "
        f"{max_pixels:,} of any scanned page (a decompression bomb?); it was not decoded"
    )


def _open_image(source, max_pixels: int = MAX_PIXELS, name=None) -> Image.Image:
    """Image.open with its bomb check turned into TooLarge and decoder errors into
    DamagedFile. Pillow only reads the header here; the pixels come at load()."""
    name = name or source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(name, Image.MAX_IMAGE_PIXELS + 1, max_pixels) from None
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many kinds
        raise _damaged(name, error) from None
    pixels = image.width * image.height
    if pixels > max_pixels:
        image.close()
        raise _too_large(name, pixels, max_pixels)
    return image


def _image_pages(path, start, stop, max_pixels) -> Iterator[PageImage]:
    image = _open_image(path, max_pixels)
    with image:
        try:
            frames = getattr(image, "n_frames", 1)
        except Exception as error:  # noqa: BLE001
            raise _damaged(path, error) from None
        for index in range(start, frames if stop is None else min(stop, frames)):
            try:
                if index:
                    image.seek(index)
                pixels = image.width * image.height
                if pixels > max_pixels:
                    raise _too_large(path, pixels, max_pixels)
                yield PageImage(str(path), index, *_decode(image))
            except ScanFileError:
                raise
            except Exception as error:  # noqa: BLE001
                raise _damaged(path, error) from None


def _decode(image: Image.Image) -> tuple[Image.Image, float | None, np.ndarray | None]:
    """The frame as a fully loaded grey image, its dpi if the file gives one, and its
    pixels as an array sharing its memory when the decoder wrote them into one."""
    dpi = _dpi(image.info.get("dpi"))
    pixels = None
    if image.format == "JPEG":
        width = image.width
        factor = _reduction(image.size)
        # The decoder scales by 1/2, 1/4 or 1/8 and skips the colour planes.
        image.draft("L", (image.width // factor, image.height // factor))
        if dpi:
            dpi = dpi * image.width / width
        pixels = _decode_into(image)
    image.load()
    grey = image if image.mode == "L" else _grey(image)
    orientation = image.getexif().get(0x0112, 1) if image.format in ("JPEG", "TIFF") else 1
    if orientation != 1:
        grey = ImageOps.exif_transpose(grey if grey is not image else image.copy())
        if grey.mode != "L":
            grey = grey.convert("L")
        pixels = None  # the turned copy's are elsewhere
    elif grey is image and image.format == "TIFF":
        grey = image.copy()  # the frame object is reused when the next one is sought
    return grey, dpi, pixels


#: Whether Pillow's JPEG decoder writes a frame into memory given to it as it writes
#: into its own (None: not checked yet in this process; see _decode_into).
_into_checked: bool | None = None


def _decode_into(image: Image.Image) -> np.ndarray | None:
    """Decode a JPEG frame drafted to grey into a new array's memory, and give that
    array: the image's pixels, shared with it. Pillow would first zero memory of its
    own (0.25 ms for a 200 dpi page), and each np.asarray of the image copied it again.

    Pillow's image core is mapped over the array (as Image.frombuffer maps it, without
    its wrapper) before the decoder is started. That is not Pillow's public interface,
    so it is checked once per process against Pillow's own decoding of sample JPEGs,
    grey and colour; if it differs or fails, or the frame is not grey, pixels are
    decoded the usual way (None: the image is not loaded yet).
    """
    global _into_checked
    if _into_checked is None:
        try:
            _into_checked = _into_agrees()
        except Exception:  # noqa: BLE001 - a Pillow whose core differs: its own way
            _into_checked = False
    if not _into_checked or image.mode != "L" or _loaded(image):
        return None
    return _into(image)


def _loaded(image: Image.Image) -> bool:
    """Whether the image has pixel memory already (then the decoder would not use ours)."""
    return getattr(image, "_im", True) is not None


def _into(image: Image.Image) -> np.ndarray:
    pixels = np.empty((image.height, image.width), np.uint8)
    image.im = Image.core.map_buffer(pixels, image.size, "raw", 0, ("L", 0, 1))
    image.load()
    return pixels


def _into_agrees() -> bool:
    noise = Image.effect_noise((67, 45), 60)
    colour = Image.merge("RGB", (noise, Image.linear_gradient("L").resize((67, 45)),
                                 noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    for sample in (noise, colour):
        buffer = io.BytesIO()
        sample.save(buffer, "JPEG", quality=75)
        expected = Image.open(io.BytesIO(buffer.getvalue()))
        expected.draft("L", expected.size)
        expected.load()
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.draft("L", image.size)
        if image.mode != "L" or _loaded(image):
            return False
        pixels = _into(image)
        if not (np.array_equal(pixels, np.asarray(expected))
                and np.array_equal(np.asarray(image), pixels)):
            return False
    return True


def _grey(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image)
    if image.mode.startswith("I"):
        return image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return image.convert("L")


def _dpi(value) -> float | None:
    try:
        dpi = float(value[0])
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if 50 <= dpi <= 2400 else None


def _reduction(size: tuple[int, int]) -> int:
    """1, 2, 4 or 8: the largest decoder reduction keeping MIN_LONG_SIDE pixels."""
    long_side = max(size)
    factor = 1
    while factor < 8 and long_side // (factor * 2) >= MIN_LONG_SIDE:
        factor *= 2
    return factor


# -- PDF ----------------------------------------------------------------------------------


def _open_pdf(path):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        if "password" in str(error).lower():
            raise DamagedFile(
                f"{Path(path).name}: the PDF is locked with a password; save it unlocked"
            ) from None
        raise _damaged(path, error) from None


def _pdf_pages(path, start, stop, max_pixels) -> Iterator[PageImage]:
    pdf = _open_pdf(path)
    try:
        count = len(pdf)
        for index in range(start, count if stop is None else min(stop, count)):
            try:
                page = pdf[index]
            except Exception as error:  # noqa: BLE001 - pdfium reports any failure alike
                raise _damaged(path, error) from None
            try:
                image, dpi, pixels = _pdf_page_image(path, page, max_pixels)
            except ScanFileError:
                raise
            except Exception as error:  # noqa: BLE001
                raise _damaged(path, error) from None
            finally:
                page.close()
            yield PageImage(str(path), index, image, dpi, pixels)
    finally:
        pdf.close()


def _pdf_page_image(path, page, max_pixels) -> tuple[Image.Image, float | None, np.ndarray | None]:
    """The page's one embedded image when it is a scanner page, else a rendering."""
    import pypdfium2.raw as pdfium_c

    width, height = page.get_size()
    images, others = [], 0
    for obj in page.get_objects(max_depth=2):
        if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images.append(obj)
        elif obj.type != pdfium_c.FPDF_PAGEOBJ_TEXT:  # an OCR layer is invisible text
            others += 1
        if len(images) > 1 or others:
            break
    if len(images) == 1 and not others:
        obj = images[0]
        left, bottom, right, top = obj.get_bounds()
        if (right - left) * (top - bottom) >= 0.85 * width * height:
            return _embedded(path, obj, right - left, top - bottom, max_pixels)
    pixels = int(width * RENDER_DPI / 72) * int(height * RENDER_DPI / 72)
    if pixels > max_pixels:
        raise _too_large(path, pixels, max_pixels)
    bitmap = page.render(scale=RENDER_DPI / 72, grayscale=True)
    return bitmap.to_pil().convert("L"), float(RENDER_DPI), None


def _embedded(
    path, obj, width_pt, height_pt, max_pixels
) -> tuple[Image.Image, float | None, np.ndarray | None]:
    px_width, px_height = obj.get_px_size()
    if px_width * px_height > max_pixels:
        raise _too_large(path, px_width * px_height, max_pixels)
    long_pt = max(width_pt, height_pt)
    if obj.get_filters(skip_simple=True) == ["DCTDecode"]:
        data = bytes(obj.get_data(decode_simple=True))
        image = _open_image(io.BytesIO(data), max_pixels, name=path)
        image.info["dpi"] = (max(image.size) * 72 / long_pt,) * 2
        with image:
            return _decode(image)
    bitmap = obj.get_bitmap(render=False)
    image = bitmap.to_pil()
    image = image if image.mode == "L" else _grey(image)
    return image.copy() if image.mode == "L" else image, max(image.size) * 72 / long_pt, None


def page_sha256(image: Image.Image) -> str:
    """The hex SHA-256 of a grey page's size and pixels: the same image, the same hash."""
    digest = hashlib.sha256(f"{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


__all__ = [
    "EXTENSIONS",
    "MAX_PIXELS",
    "DamagedFile",
    "EmptyFile",
    "NotAScan",
    "PageImage",
    "ScanFileError",
    "TooLarge",
    "count_pages",
    "file_sha256",
    "iter_pages",
    "load_page",
    "page_sha256",
    "scan_files",
    "sniff",
]

"""Scans in: PDF, TIFF, JPEG and PNG files and folders; bad files refused one by one with
a message, never half read, and never stopping the rest of a batch."""

from __future__ import annotations

import io
import struct
import zlib

import pypdfium2 as pdfium
import pytest
from PIL import Image
from scan_support import LayoutFolder, jpeg, make_back, make_scan, print_form, write_image_pdf

from paper_forms.scan import (
    DamagedFile,
    EmptyFile,
    NotAScan,
    ScanFileError,
    TooLarge,
    count_pages,
    file_sha256,
    iter_pages,
    read_scans,
    scan_files,
)
from paper_forms.scan.load import RENDER_DPI


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    from paper_support import sample_spec

    folder = tmp_path_factory.mktemp("forms")
    return print_form(sample_spec("en", form_id="FILES"), folder, sheets=2)


@pytest.fixture(scope="module")
def good_jpeg(printed):
    scan = make_scan(printed, 1, 1, seed=5, dpi=200, how="scanner", turns=0)
    return jpeg(scan.image, 75)


def png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 1024))
        + chunk(b"IEND", b"")
    )


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_zero_byte_file(tmp_path):
    path = tmp_path / "scan.jpg"
    path.write_bytes(b"")
    with pytest.raises(EmptyFile, match=r"scan\.jpg: the file is empty"):
        list(iter_pages(path))


def test_text_file_named_pdf(tmp_path):
    path = tmp_path / "scans.pdf"
    path.write_text("These are the minutes of the meeting.\n")
    with pytest.raises(NotAScan, match=r"scans\.pdf: not a PDF, TIFF, JPEG or PNG file"):
        count_pages(path)


def test_random_bytes_named_jpeg(tmp_path):
    path = tmp_path / "photo.jpeg"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(NotAScan):
        list(iter_pages(path))


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_truncated_image_is_refused_whole(tmp_path, good_jpeg, kind):
    data = good_jpeg if kind == "jpeg" else png_bytes(Image.open(io.BytesIO(good_jpeg)))
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: len(data) // 2])
    pages = []
    with pytest.raises(DamagedFile, match=r"cut\.\w+: the file is damaged or cut short"):
        for page in iter_pages(path):
            pages.append(page)
    assert pages == []  # no half-decoded page is ever handed on


@pytest.mark.parametrize("size", [(100_000, 100_000), (9_000, 9_000)])
def test_decompression_bomb_is_refused_before_decoding(tmp_path, size):
    """Pillow's own limit catches the first; our page limit (64 Mpx) the second."""
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(*size))
    with pytest.raises(TooLarge, match="decompression bomb"):
        list(iter_pages(path))


def test_truncated_pdf(tmp_path, printed):
    data = printed.pdf.read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 3])
    [result] = list(read_scans([path], LayoutFolder(printed.pdf.parent)))[:1]
    assert result.status == "error"
    assert result.error_type == "DamagedFile"
    assert "cut.pdf" in result.reason


def test_errors_are_value_errors_with_messages():
    for error in (EmptyFile, NotAScan, TooLarge, DamagedFile):
        assert issubclass(error, ScanFileError)
        assert issubclass(error, ValueError)


def test_a_batch_with_bad_files_reads_the_good_ones(tmp_path, printed, good_jpeg):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "a-good.jpg").write_bytes(good_jpeg)
    (folder / "b-empty.jpg").write_bytes(b"")
    (folder / "c-cut.jpg").write_bytes(good_jpeg[:5000])
    (folder / "d-notes.pdf").write_text("not a scan")
    (folder / "e-bomb.png").write_bytes(png_bomb(100_000, 100_000))
    (folder / "f-good.png").write_bytes(png_bytes(Image.open(io.BytesIO(good_jpeg))))
    (folder / "readme.txt").write_text("ignored: not a scan's extension")
    results = list(read_scans([folder], LayoutFolder(printed.pdf.parent)))
    names = [r.source.rsplit("/", 1)[-1] for r in results]
    assert names == [
        "a-good.jpg",
        "b-empty.jpg",
        "c-cut.jpg",
        "d-notes.pdf",
        "e-bomb.png",
        "f-good.png",
    ]
    statuses = [(r.status, r.error_type) for r in results]
    assert statuses == [
        ("read", None),
        ("error", "EmptyFile"),
        ("error", "DamagedFile"),
        ("error", "NotAScan"),
        ("error", "TooLarge"),
        ("read", None),
    ]
    for result in results:
        if result.status == "error":
            assert result.reason and result.source.rsplit("/", 1)[-1] in result.reason
            assert result.boxes == [] and result.areas == []
            assert result.page_index is None  # the file as a whole
    assert results[0].file_sha256 == file_sha256(folder / "a-good.jpg")
    # The same page as JPEG and as PNG: the same marks read.
    assert [b.state for b in results[0].boxes] == [b.state for b in results[5].boxes]


def test_a_file_named_explicitly_is_always_tried(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert scan_files([tmp_path]) == []
    assert scan_files([notes]) == [notes]
    [result] = read_scans([notes], lambda form_id: None)
    assert (result.status, result.error_type, result.page_index) == ("error", "NotAScan", None)


def test_folders_are_searched_in_name_order_without_hidden_files(tmp_path):
    for name in ("b.jpg", "a.PDF", "sub/c.tiff", ".hidden/d.png", "e.txt", ".f.jpg"):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert [p.relative_to(tmp_path).as_posix() for p in scan_files(tmp_path)] == [
        "a.PDF",
        "b.jpg",
        "sub/c.tiff",
    ]


def test_multipage_tiff_pages_out_of_order_any_turn_and_a_blank_back(tmp_path, printed):
    """A duplex scan of two sheets fed in any order: every page named, the back blank."""
    layout = printed.layout
    wanted = [(2, 2, 1), (1, 1, 2), (1, 2, 0), (2, 1, 3)]  # (serial, page, quarter turns)
    frames = []
    for n, (serial, page, turns) in enumerate(wanted):
        scan = make_scan(printed, serial, page, seed=40 + n, dpi=150, how="scanner", turns=turns)
        frames.append(scan.image.convert("L") if n % 2 else scan.image.convert("RGB"))
        if n == 1:
            frames.append(make_back(printed, seed=9, dpi=150).image)
    path = tmp_path / "duplex.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw")
    assert count_pages(path) == 5
    results = list(read_scans([path], LayoutFolder(printed.pdf.parent)))
    assert [r.page_index for r in results] == [0, 1, 2, 3, 4]
    assert [r.status for r in results] == ["read", "read", "blank", "read", "read"]
    named = [(r.serial, r.page) for r in results if r.status == "read"]
    assert named == [(s, p) for s, p, _ in wanted]
    assert [r.rotation for r in results if r.status == "read"] == [270, 180, 0, 90]
    assert results[2].reason and "blank" in results[2].reason
    assert all(r.form_id == layout.form_id for r in results if r.status == "read")


def test_scanner_pdf_pages_are_taken_as_embedded_not_rendered(tmp_path, printed):
    """A scanner PDF's page is its JPEG: handed on at the JPEG's own size (150 dpi here),
    not rendered again at 200 dpi."""
    scans = [make_scan(printed, 1, p, seed=60 + p, dpi=150, how="scanner", turns=0) for p in (1, 2)]
    pages = []
    for scan in scans:
        grey = scan.image.convert("L")
        pages.append((jpeg(grey, 60), grey.width, grey.height, 150, True))
    path = write_image_pdf(tmp_path / "scanner.pdf", pages)
    loaded = list(iter_pages(path))
    assert [page.image.size for page in loaded] == [scan.image.size for scan in scans]
    assert [round(page.dpi) for page in loaded] == [150, 150]
    results = list(read_scans([path], LayoutFolder(printed.pdf.parent)))
    assert [(r.status, r.serial, r.page) for r in results] == [("read", 1, 1), ("read", 1, 2)]


def test_a_drawn_pdf_is_rendered(printed):
    """The form's own PDF (vector pages, nothing scanned): rendered at RENDER_DPI, read,
    every box blank and nothing written."""
    pdf = pdfium.PdfDocument(str(printed.pdf))
    width, height = pdf[0].get_size()
    pdf.close()
    first = next(iter_pages(printed.pdf))
    assert first.image.size == (round(width * RENDER_DPI / 72), round(height * RENDER_DPI / 72))
    results = list(read_scans([printed.pdf], LayoutFolder(printed.pdf.parent)))
    assert [r.status for r in results] == ["read"] * len(results)
    assert {b.state for r in results for b in r.boxes} == {"blank"}
    assert {a.has_writing for r in results for a in r.areas} == {False}
    assert all(r.fit_error < 0.1 for r in results)


def test_exif_orientation_is_applied(tmp_path, printed):
    scan = make_scan(printed, 2, 1, seed=70, dpi=150, how="phone", turns=0)
    image = scan.image.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned a quarter left: a viewer turns it back
    path = tmp_path / "phone.jpg"
    image.save(path, "JPEG", quality=80, exif=exif)
    [page] = list(iter_pages(path))
    assert page.image.size == scan.image.size
    [result] = read_scans([path], LayoutFolder(printed.pdf.parent))
    assert (result.status, result.serial, result.page, result.rotation) == ("read", 2, 1, 0)

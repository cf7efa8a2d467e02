"""Reading scans: pages per second end to end, against a bare decode-and-QR loop.

Two inputs of the same pages, 200-dpi scans of the sample consultation form, filled in
(ticks, crosses, fills, handwriting) by tests/scan_support.py:

  jpeg   a folder of 500 JPEG files, as a scanner saves them one per page
  pdf    one 500-page scanner-style PDF: every page a single JPEG image

"ours" is paper_forms.scan.read_scans end to end: decode, identify by QR, fit, read
every box, cut out written areas as PNG, plus a stand-in for engage's database write
(each page's result and crops into a SQLite file, committed every 50 pages). "bare" is
the least a reader can do, in one process: Pillow decodes each page and zxing-cpp
reads its code, nothing else. Each measurement runs in a fresh process, which reports
its peak resident memory (its own and its workers'), the CPU time it and its workers
used per page (steadier than pages/s on a shared machine), and with --tracemalloc the
peak of traced Python allocations (tracing slows the reader, so rates are then lower).

    python benchmarks/scans.py                     # 500 pages, 40 distinct, 1 and 2 workers
    python benchmarks/scans.py --pages 100 --workers 2

Targets on the 2-core reference machine: at least 50 pages/s, at least a third of the
bare loop's rate, and the PDF read in under 300 MB. The machine is shared, so each row
ends with the load average (1 minute) when it was measured: the ratio to the bare
loop, measured in the same run, and CPU ms/page are the steadier figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


# -- the data ------------------------------------------------------------------------------


def _make_one(task) -> bytes:
    from scan_support import jpeg, make_scan, printed_in

    folder, form_id, serial, page, seed = task
    scan = make_scan(printed_in(folder, form_id), serial, page, seed, dpi=200, how="scanner")
    return jpeg(scan.image.convert("L") if seed % 3 else scan.image, 75)


def make_data(folder: Path, pages: int, distinct: int) -> tuple[Path, Path]:
    """The folder of JPEG pages and the scanner PDF of the same pages."""
    from paper_support import sample_spec
    from PIL import Image
    from scan_support import print_form, write_image_pdf

    run = print_form(sample_spec("en", form_id="BENCH"), folder, sheets=distinct)
    layout = run.layout
    tasks = []
    for n in range(distinct):
        sheet = layout.sheets[n % len(layout.sheets)]
        page = sheet.pages[n % len(sheet.pages)].page
        tasks.append((str(folder), layout.form_id, sheet.serial, page, n))
    with get_context("spawn").Pool(2) as pool:
        scans = pool.map(_make_one, tasks)
    jpegs = folder / "jpeg"
    jpegs.mkdir()
    for n in range(pages):
        (jpegs / f"scan-{n:04}.jpg").write_bytes(scans[n % distinct])

    def pdf_pages():
        for n in range(pages):
            data = scans[n % distinct]
            image = Image.open(io.BytesIO(data))
            yield data, image.width, image.height, 200, image.mode == "L"

    pdf = write_image_pdf(folder / "scans.pdf", pdf_pages())
    return jpegs, pdf


# -- one measurement, in its own process ----------------------------------------------------


def _store(db: Path):
    """A stand-in for engage's write: every page's result and crops into SQLite."""
    connection = sqlite3.connect(db)
    connection.executescript(
        """
        PRAGMA journal_mode = WAL;
        CREATE TABLE page (id INTEGER PRIMARY KEY, source TEXT, page_index INTEGER,
            status TEXT, form_id TEXT, serial INTEGER, page INTEGER, page_sha256 TEXT,
            file_sha256 TEXT, result TEXT);
        CREATE TABLE crop (page_id INTEGER, prompt_id TEXT, png BLOB);
        """
    )
    count = 0

    def write(result) -> None:
        nonlocal count
        data = result.to_dict()
        for area in data["areas"]:
            area["png"] = None
        cursor = connection.execute(
            "INSERT INTO page (source, page_index, status, form_id, serial, page, "
            "page_sha256, file_sha256, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                result.source,
                result.page_index,
                result.status,
                result.form_id,
                result.serial,
                result.page,
                result.page_sha256,
                result.file_sha256,
                json.dumps(data),
            ),
        )
        for area in result.areas:
            if area.png is not None:
                connection.execute(
                    "INSERT INTO crop VALUES (?, ?, ?)",
                    (cursor.lastrowid, area.prompt_id, area.png),
                )
        count += 1
        if count % 50 == 0:
            connection.commit()

    return write, connection


def measure_ours(source: Path, layouts: Path, workers: int, db: Path) -> dict:
    from scan_support import LayoutFolder

    from paper_forms.scan import read_scans

    write, connection = _store(db)
    statuses: dict[str, int] = {}
    start = time.perf_counter()
    pages = 0
    for result in read_scans([source], LayoutFolder(layouts), workers=workers):
        write(result)
        statuses[result.status] = statuses.get(result.status, 0) + 1
        pages += 1
    connection.commit()
    connection.close()
    return {"pages": pages, "seconds": time.perf_counter() - start, "statuses": statuses}


def measure_bare(source: Path) -> dict:
    """Pillow decode plus zxing-cpp of every page: JPEG files, or the JPEG streams of
    the PDF's pages (taken out by pdfium, as the reader does)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c
    import zxingcpp
    from PIL import Image

    def images():
        if source.is_dir():
            for path in sorted(source.iterdir()):
                with Image.open(path) as image:
                    image.load()
                    yield image
        else:
            pdf = pdfium.PdfDocument(str(source))
            for page in pdf:
                [obj] = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
                data = bytes(obj.get_data(decode_simple=True))
                with Image.open(io.BytesIO(data)) as image:
                    image.load()
                    yield image
                page.close()
            pdf.close()

    start = time.perf_counter()
    pages = found = 0
    for image in images():
        found += bool(zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode))
        pages += 1
    return {"pages": pages, "seconds": time.perf_counter() - start, "codes": found}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _child(args) -> None:
    if args.tracemalloc:
        tracemalloc.start()
    before = _cpu()
    if args.measure == "bare":
        report = measure_bare(Path(args.source))
    else:
        report = measure_ours(Path(args.source), Path(args.layouts), args.workers, Path(args.db))
    report["cpu_before"] = before
    traced = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else float("nan")
    report["tracemalloc_peak_mb"] = traced / 2**20
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["peak_rss_mb"] = own.ru_maxrss / 1024
    report["worker_peak_rss_mb"] = children.ru_maxrss / 1024
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    report["cpu_ms_per_page"] = 1000 * (cpu - report.pop("cpu_before")) / report["pages"]
    print(json.dumps(report))


def run(
    measure: str, source: Path, layouts: Path, workers: int, folder: Path, traced: bool
) -> dict:
    db = folder / f"results-{measure}-{source.name}-{workers}.sqlite"
    command = [
        sys.executable,
        __file__,
        "--measure",
        measure,
        "--source",
        str(source),
        "--layouts",
        str(layouts),
        "--workers",
        str(workers),
        "--db",
        str(db),
    ] + (["--tracemalloc"] if traced else [])
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=40, help="different scans among them")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also trace Python allocations (slows numpy-heavy code: rates are then lower)",
    )
    parser.add_argument("--measure", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--layouts", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        if args.measure == "ours":
            args.workers = args.workers[0]
        _child(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="scan-bench-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        jpegs, pdf = make_data(folder, args.pages, args.distinct)
        print(
            f"{args.pages} pages of 200-dpi scans ({args.distinct} distinct, with marks and "
            f"writing), made in {time.perf_counter() - start:.0f} s; "
            f"PDF {pdf.stat().st_size / 2**20:.0f} MiB; {os.cpu_count()} cores"
        )
        load = os.getloadavg()[0]
        print(f"load average at the start: {load:.1f} (on {os.cpu_count()} cores)")
        header = (
            "input  reader    workers  pages/s  ratio to bare  CPU ms/page  peak RSS MB  "
            "workers' RSS MB  tracemalloc MB  load"
        )
        print(header)
        print("-" * len(header))
        rates, ratios, memories = [], [], []
        for name, source in (("jpeg", jpegs), ("pdf", pdf)):
            bare = run("bare", source, folder, 1, folder, args.tracemalloc)
            bare_rate = bare["pages"] / bare["seconds"]
            print(
                f"{name:5}  bare      {1:7}  {bare_rate:7.1f}  {1:13.2f}  "
                f"{bare['cpu_ms_per_page']:11.1f}  "
                f"{bare['peak_rss_mb']:11.0f}  {'-':>15}  {bare['tracemalloc_peak_mb']:14.1f}  "
                f"{os.getloadavg()[0]:4.1f}"
            )
            best = 0.0
            for workers in args.workers:
                ours = run("ours", source, folder, workers, folder, args.tracemalloc)
                rate = ours["pages"] / ours["seconds"]
                assert ours["statuses"] == {"read": args.pages}, ours["statuses"]
                # The main process and every worker at its peak at once: the most the
                # reading can have held.
                memory = ours["peak_rss_mb"] + workers * ours["worker_peak_rss_mb"]
                print(
                    f"{name:5}  ours      {workers:7}  {rate:7.1f}  {rate / bare_rate:13.2f}  "
                    f"{ours['cpu_ms_per_page']:11.1f}  "
                    f"{ours['peak_rss_mb']:11.0f}  {ours['worker_peak_rss_mb']:15.0f}  "
                    f"{ours['tracemalloc_peak_mb']:14.1f}  {os.getloadavg()[0]:4.1f}"
                )
                best = max(best, rate)
                if name == "pdf":
                    memories.append(memory)
            rates.append(best)
            ratios.append(best / bare_rate)
        targets = (
            (f"at least 50 pages/s (best of each input: {min(rates):.1f})", min(rates) >= 50),
            (f"at least 1/3 of bare (best of each input: {min(ratios):.2f})", min(ratios) >= 1 / 3),
            (f"PDF under 300 MB, all processes (most: {max(memories):.0f})", max(memories) < 300),
        )
        for target, met in targets:
            print(f"{'met' if met else 'MISSED':6}  {target}")
        ok = all(met for _, met in targets)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Reading scans: pages in, one PageResult per page out.

    from paper_forms.scan import read_scans
    for result in read_scans(["scans/"], layouts=my_layouts.get, workers=2):
        ...  # result.status, result.answers, result.areas[i].png

`layouts` maps a form id to its Layout, or None for a form this instance did not print.
No page stops a batch: a file or page that cannot be read gives a result with status
'error' and a reason, and the next one is read.

With workers > 1 pages are read in that many processes (a file is cut into runs of
pages, each read in order in one process, one page in memory at a time); results come
back in file and page order either way. Worker processes are started with 'spawn', so
`layouts` must be picklable (a module-level function, or an object with __call__);
'fork' is not used because the web app that calls this runs threads.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from ..layout import Box, Layout, PageLayout
from . import align, crops, identify, marks
from .load import (
    PageImage,
    ScanFileError,
    count_pages,
    file_sha256,
    iter_pages,
    page_sha256,
    scan_files,
)
from .results import (
    BLANK_PAGE,
    ERROR,
    GIVEN,
    POOR_FIT,
    READ,
    UNCERTAIN,
    UNIDENTIFIED,
    UNKNOWN_FORM,
    AnswerResult,
    AreaResult,
    BoxResult,
    PageResult,
)
from .worker import Initializer

LayoutLookup = Callable[[str], Layout | None]

#: A fit worse than this (RMS, points) is not trusted to find boxes: a good one, to the
#: marks' and finder patterns' centroids, is within 0.2 pt on synthetic scans and
#: photos, and a box's inner area keeps 1.6 pt clear of its printed outline.
MAX_FIT_ERROR = 0.5
#: ... nor one with any point further off than this.
MAX_FIT_POINT = 1.0
#: A box whose printed outline is lighter than this where the fit puts it is not
#: there: the page is not flat, whatever the fit error at the marks says.
MIN_OUTLINE = 0.2
#: ... nor is one whose outline is further than this (points) from where the fit puts
#: it: a box's inner area keeps 1.6 pt clear of its printed outline.
MAX_OFFSET = 0.8
#: Pages per task handed to a worker process.
CHUNK = 8


class _Layouts:
    """The caller's lookup, asked once per form id per process."""

    def __init__(self, lookup: LayoutLookup):
        self.lookup = lookup
        self.cache: dict[str, Layout | None] = {}

    def __call__(self, form_id: str) -> Layout | None:
        if form_id not in self.cache:
            self.cache[form_id] = self.lookup(form_id)
        return self.cache[form_id]


class SQLiteLayouts:
    """Form id to Layout from an SQLite file: ``query`` takes the form id and gives the
    layout's JSON (no row: None). Picklable and light, so each worker process opens the
    file itself, read-only, without importing the application that wrote it."""

    def __init__(self, database: str | os.PathLike, query: str):
        self.database = str(Path(database).resolve())
        self.query = query

    def __call__(self, form_id: str) -> Layout | None:
        import sqlite3

        connection = sqlite3.connect(Path(self.database).as_uri() + "?mode=ro", uri=True)
        try:
            row = connection.execute(self.query, [form_id]).fetchone()
        finally:
            connection.close()
        return Layout.from_json(row[0]) if row else None


def read_image(
    image: Image.Image | PageImage,
    layouts: LayoutLookup,
    *,
    source: str = "<image>",
    index: int = 0,
    file_hash: str | None = None,
) -> PageResult:
    """Read one page image (a PIL image or a loaded PageImage)."""
    pixels = None
    if isinstance(image, PageImage):
        source, index, pixels, image = image.source, image.index, image.pixels, image.image
    if image.mode != "L":
        image, pixels = image.convert("L"), None
    lookup = layouts if isinstance(layouts, _Layouts) else _Layouts(layouts)
    small, factor, small_pixels = identify.reduced_pixels(image, pixels)
    # The paper's levels come from a copy reduced again (box averages of 4 x 4): they
    # do not need every pixel. Hashing that copy (every other pixel of every other row,
    # averaged in 8 x 8 blocks of the page) is as good an identity for the same scan
    # read again (a different scan differs in its noise everywhere, a different mark in
    # the blocks under it) and a fifteenth of the time of hashing the reduced copy.
    tiny = small.reduce(4)
    result = PageResult(source, index, READ, file_sha256=file_hash, page_sha256=page_sha256(tiny))
    return _read(image, lookup, result, small, factor, tiny, quick=True,
                 pixels=(pixels, small_pixels))


#: An image more than this many times the area of the page its code names may hold
#: another page beside it (two sheets scanned together, a photo of a table).
ROOM_FOR_ANOTHER = 1.5


def _room_for_another(size: tuple[int, int], layout: Layout, page: PageLayout, code) -> bool:
    """Whether the image is large enough, at the scale of its code, for a second page."""
    corners = np.asarray(code.corners, float)
    side = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T).mean()
    per_point = side / page.qr.rect.width
    page_area = layout.paper.width * layout.paper.height * per_point**2
    return bool(size[0] * size[1] > ROOM_FOR_ANOTHER * page_area)


def _read(image, lookup, result: PageResult, small, factor: int, tiny, quick: bool,
          pixels=(None, None)):
    """The page from its code on: identified (`quick`: zxing-cpp's quick way first, see
    identify.find_codes), fitted, its boxes and writing areas read. `pixels`: the page's
    and the reduced copy's as arrays, each None when not to hand."""
    codes = identify.find_codes(small, factor, thorough=factor == 1, quick=quick,
                                pixels=pixels[1])
    blank = None
    if not codes and factor > 1:
        blank = identify.looks_blank(small)
        if not blank:
            codes = identify.find_codes(image, quick=quick, pixels=pixels[0])
    through = [code for code in codes if code.show_through]
    codes = [code for code in codes if not code.show_through]
    ours = [code for code in codes if code.payload is not None]
    if not ours:
        if codes:
            result.code = codes[0].text
            return _status(
                result,
                UNIDENTIFIED,
                f"a QR code that is not an engage page code: {codes[0].text[:40]!r}",
            )
        if blank is None:
            blank = identify.looks_blank(small)
        if blank:
            return _status(result, BLANK_PAGE, "no page code and no ink: a blank page")
        if through:
            return _status(
                result,
                UNIDENTIFIED,
                "only a page code seen through the paper from the other side: the back of "
                "a sheet, with something on it",
            )
        return _status(
            result,
            UNIDENTIFIED,
            "no page code could be read (torn, covered, smudged or out of focus?); "
            "the page needs a person",
        )
    if len({code.payload for code in ours}) > 1:
        texts = ", ".join(sorted({code.text for code in ours}))
        return _status(result, UNIDENTIFIED, f"more than one page code on one image: {texts}")
    code = ours[0]
    payload = code.payload
    result.code, result.form_id, result.serial, result.page = (
        code.text,
        payload.form_id,
        payload.serial,
        payload.page,
    )
    layout = lookup(payload.form_id)
    if layout is None:
        return _status(
            result, UNKNOWN_FORM, f"form {payload.form_id} was not printed here (no layout for it)"
        )
    try:
        page = layout.page(payload.serial, payload.page)
    except KeyError:
        return _status(
            result,
            UNKNOWN_FORM,
            f"form {payload.form_id} has no sheet {payload.serial} page {payload.page}",
        )
    if code.quick and _room_for_another(image.size, layout, page, code):
        # One threshold for the whole image found one code, but there is room for
        # another page: look again the thorough way, so that two pages on one image are
        # never read as one.
        again = PageResult(result.source, result.page_index, READ,
                           file_sha256=result.file_sha256, page_sha256=result.page_sha256)
        return _read(image, lookup, again, small, factor, tiny, quick=False, pixels=pixels)
    paper = align.paper_brightness(tiny)
    try:
        fit = align.fit_page(image, page, code.corners, paper)
    except align.AlignError as error:
        return _status(result, POOR_FIT, str(error))
    result.homography = fit.homography.tolist()
    result.fit_error = round(fit.error, 3)
    result.fit_max_error = round(fit.max_error, 3)
    result.marks_found = fit.marks_found
    result.dpi = round(fit.dpi, 1)
    result.rotation = fit.rotation
    if fit.error > MAX_FIT_ERROR or fit.max_error > MAX_FIT_POINT:
        return _status(
            result,
            POOR_FIT,
            f"the page does not fit its layout closely enough (error {fit.error:.2f} pt, "
            f"worst point {fit.max_error:.2f} pt; at most {MAX_FIT_ERROR} and "
            f"{MAX_FIT_POINT}): creased, curled or cut?",
        )
    outside = _outside(image.size, fit.homography, page)
    if outside:
        return _status(
            result,
            POOR_FIT,
            f"part of the form is outside the image ({outside}): the page was cut off",
        )
    paper_map = align.PaperMap(tiny, factor * 4, fit.dpi)
    boxes = read_boxes(image, fit.homography, page, paper, paper_map)
    misplaced = sum(box.outline < MIN_OUTLINE or box.offset > MAX_OFFSET for box in boxes)
    if misplaced:
        return _status(
            result,
            POOR_FIT,
            f"{misplaced} of {len(boxes)} tick boxes are not where the fit puts them "
            "(their printed outlines are elsewhere): folded, creased or curled?",
        )
    result.boxes = boxes
    result.answers = resolve(page.boxes, result.boxes)
    result.areas = [
        _area(area.prompt_id, crops.read_area(image, fit.homography, area, paper))
        for area in page.areas
    ]
    return result


def _outside(size, h, page: PageLayout) -> str | None:
    """What of the page's boxes and writing areas falls outside the image, if any."""
    rects = [b.rect for b in page.boxes] + [a.rect for a in page.areas]
    edges = np.array([(r.x, r.y, r.right, r.top) for r in rects])
    # Each rectangle's corners: (x, y), (right, y), (x, top), (right, top).
    corners = edges[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 2)
    points = align.apply(h, corners).reshape(-1, 4, 2)
    out = (points < 0).any(axis=(1, 2)) | (points[:, :, 0] > size[0]).any(axis=1)
    out |= (points[:, :, 1] > size[1]).any(axis=1)
    if not out.any():
        return None  # named only when something is out: most pages, nothing
    named = [f"box {b.idea_id or b.question_id or b.kind}" for b in page.boxes]
    named += [f"writing area {a.prompt_id}" for a in page.areas]
    names = [name for name, o in zip(named, out, strict=True) if o]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _status(result: PageResult, status: str, reason: str) -> PageResult:
    result.status = status
    result.reason = reason
    return result


def _area(prompt_id: str, writing: crops.Writing) -> AreaResult:
    return AreaResult(
        prompt_id,
        writing.has_writing,
        writing.ink,
        writing.png,
        writing.width,
        writing.height,
        crops.CROP_DPI,
    )


def read_boxes(
    image: Image.Image, h, page: PageLayout, paper: int = 255, paper_map=None
) -> list[BoxResult]:
    """Every box of the page measured and classified, in layout order."""
    out = []
    inks = marks.measure(image, h, page.boxes, paper, paper_map)
    for box, ink in zip(page.boxes, inks, strict=True):
        reading = marks.classify(ink)
        out.append(
            BoxResult(
                kind=box.kind,
                idea_id=box.idea_id,
                answer=box.answer,
                question_id=box.question_id,
                option_id=box.option_id,
                state=reading.state,
                confidence=round(reading.confidence, 3),
                ink=round(ink.mean, 4),
                light=round(ink.light, 4),
                dark=round(ink.dark, 4),
                solid=round(ink.solid, 4),
                spill=round(ink.spill, 4),
                peak=round(ink.peak, 4),
                outline=round(ink.outline, 4),
                offset=round(ink.offset, 3),
                reason=reading.reason,
            )
        )
    return out


def _question(box: Box) -> tuple[str, str]:
    if box.kind == "idea":
        return "idea", box.idea_id
    if box.kind == "demographic":
        return "demographic", box.question_id
    return box.kind, box.kind


def _value(box: Box) -> str:
    if box.kind == "idea":
        return box.answer
    if box.kind == "demographic":
        return box.option_id
    return GIVEN


def resolve(boxes, results: list[BoxResult]) -> list[AnswerResult]:
    """One answer per question (idea, demographic question, consent), in layout order.

    An uncertain box, or two marked boxes for one question, make the answer UNCERTAIN:
    the person's intention is for a person to read, never a guess.
    """
    questions: dict[tuple[str, str], list[tuple[Box, BoxResult]]] = {}
    for box, result in zip(boxes, results, strict=True):
        questions.setdefault(_question(box), []).append((box, result))
    answers = []
    for (kind, key), members in questions.items():
        marked = [box for box, r in members if r.state == marks.MARKED]
        unsure = [box for box, r in members if r.state == marks.UNCERTAIN]
        if unsure:
            which = ", ".join(_value(box) for box in unsure)
            answers.append(AnswerResult(kind, key, UNCERTAIN, f"a box is unclear: {which}"))
        elif len(marked) > 1:
            which = ", ".join(_value(box) for box in marked)
            answers.append(AnswerResult(kind, key, UNCERTAIN, f"more than one box marked: {which}"))
        elif marked:
            answers.append(AnswerResult(kind, key, _value(marked[0])))
        else:
            answers.append(AnswerResult(kind, key, None))
    return answers


# -- files and batches --------------------------------------------------------------------


def _error(source, index, error: BaseException, file_hash=None) -> PageResult:
    return PageResult(
        str(source),
        index,
        ERROR,
        reason=str(error),
        error_type=type(error).__name__,
        file_sha256=file_hash,
    )


def _read_run(run, lookup) -> Iterator[PageResult]:
    """Pages start..stop-1 of one file. A page that cannot be decoded becomes an error
    result and reading goes on with the next page; for a file of one page the error is
    the whole file's (page_index None). A file read whole here is hashed here too."""
    path, start, stop, file_hash, single = run
    if file_hash is None:
        try:
            file_hash = file_sha256(path)
        except OSError as error:
            yield _error(path, None, ScanFileError(f"{Path(path).name}: cannot be read ({error})"))
            return
    index = start
    while index < stop:
        try:
            for page in iter_pages(path, index, stop):
                index = page.index + 1
                try:
                    yield read_image(page, lookup, file_hash=file_hash)
                except Exception as error:  # noqa: BLE001 - never silent, never stopped
                    yield _error(path, page.index, error, file_hash)
            return
        except ScanFileError as error:
            yield _error(path, None if single else index, error, file_hash)
            index += 1


def read_file(path: str | os.PathLike, layouts: LayoutLookup) -> Iterator[PageResult]:
    """Every page of one file, in order; one error result if the file cannot be read."""
    yield from read_scans([path], layouts, workers=1)


def _plan(paths) -> Iterator[list]:
    """Tasks: lists of runs (path, start, stop, file hash or None, single page) of at
    most CHUNK pages together (many one-page files make one task, a long PDF many), or
    an error for a file that cannot be opened at all. Multi-page files are hashed here,
    once; one-page files by whoever reads them."""
    task: list = []
    size = 0
    for path in scan_files(paths):
        problem = None
        try:
            pages = count_pages(path)
            digest = file_sha256(path) if pages > 1 else None
        except ScanFileError as error:
            problem = error
        except OSError as error:
            problem = ScanFileError(f"{Path(path).name}: cannot be read ({error})")
        else:
            if pages == 0:
                problem = ScanFileError(f"{Path(path).name}: has no pages")
        if problem is not None:
            if task:  # in order: the files before this one first
                yield task
                task, size = [], 0
            yield _error(path, None, problem)
            continue
        for start in range(0, pages, CHUNK):
            stop = min(start + CHUNK, pages)
            if size + stop - start > CHUNK and task:
                yield task
                task, size = [], 0
            task.append((path, start, stop, digest, pages == 1))
            size += stop - start
    if task:
        yield task


_worker_layouts: _Layouts | None = None


def _init_worker(lookup: LayoutLookup) -> None:
    global _worker_layouts
    _worker_layouts = _Layouts(lookup)


def _run_task(task) -> list[tuple[object, PageResult]]:
    return [(tag, result) for tag, run in task for result in _read_run(run, _worker_layouts)]


def _tasks(runs: Iterable) -> Iterator[list]:
    """(tag, run) pairs grouped into tasks of at most CHUNK pages; a PageResult (a file
    that cannot be opened) passes through on its own, in order."""
    task: list = []
    size = 0
    for item in runs:
        if isinstance(item[1], PageResult):
            if task:
                yield task
                task, size = [], 0
            yield item
            continue
        _tag, (_path, start, stop, _digest, _single) = item
        if size + stop - start > CHUNK and task:
            yield task
            task, size = [], 0
        task.append(item)
        size += stop - start
    if task:
        yield task


@contextmanager
def _caller_script_left_out(layouts: LayoutLookup):
    """Worker processes started in here do not run the caller's main script again (as
    'spawn' does to find what was defined there): for a command such as ``engage``,
    that would import the whole application into every worker, a second of start-up
    and tens of megabytes each. Only when the lookup lives in that script is it run."""
    main = sys.modules.get("__main__")
    lookup_module = getattr(layouts, "__module__", None) or type(layouts).__module__
    if main is None or getattr(main, "__spec__", None) is not None or lookup_module == "__main__":
        yield
        return
    # multiprocessing runs no main module for a worker whose parent's __main__ was
    # started by module name ending in "__main__" (python -m): say so, for a moment.
    main.__spec__ = ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def _read_tagged(runs: Iterable, layouts: LayoutLookup, workers: int):
    """(tag, result) for every page of every run, in order, in `workers` processes."""
    for batch in _read_batches(runs, layouts, workers):
        yield from batch


def _read_batches(runs: Iterable, layouts: LayoutLookup, workers: int):
    """Lists of (tag, result), in order: one page at a time in this process, or with
    workers all the pages that have come back together (a task, and those after it
    already done), so a caller can store them together."""
    if workers <= 1:
        lookup = _Layouts(layouts)
        for tag, run in runs:
            if isinstance(run, PageResult):
                yield [(tag, run)]
            else:
                for result in _read_run(run, lookup):
                    yield [(tag, result)]
        return
    context = get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=Initializer(), initargs=(layouts,)
    ) as pool:
        pending: deque = deque()
        for task in _tasks(runs):
            if isinstance(task, tuple):  # a file that cannot be opened: no work to do
                pending.append(([task], None))
            else:
                # Workers start as tasks are handed out, so each hand-out is covered.
                with _caller_script_left_out(layouts):
                    pending.append((task, pool.submit(_run_task, task)))
            # Keep a few tasks in flight, so results never pile up in memory.
            while len(pending) > 3 * workers:
                yield _take_ready(pending)
        while pending:
            yield _take_ready(pending)


def _take_ready(pending: deque) -> list[tuple[object, PageResult]]:
    """The first task's results (waiting for them), and those of the tasks after it
    that are done already."""
    out = _take(pending.popleft())
    while pending and (pending[0][1] is None or pending[0][1].done()):
        out += _take(pending.popleft())
    return out


def _take(item) -> list[tuple[object, PageResult]]:
    task, future = item
    if future is None:
        return task
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - a crashed worker loses no page silently
        return [
            (tag, _error(path, index, error, digest))
            for tag, (path, start, stop, digest, _) in task
            for index in range(start, stop)
        ]


def read_scans(
    paths: Iterable[str | os.PathLike] | str | os.PathLike,
    layouts: LayoutLookup,
    *,
    workers: int = 1,
) -> Iterator[PageResult]:
    """Every page of every file (folders searched for PDF, TIFF, JPEG and PNG files),
    in file-name and page order, read in `workers` processes."""
    runs = (
        (None, item) if isinstance(item, PageResult) else (None, run)
        for item in _plan(paths)
        for run in ([item] if isinstance(item, PageResult) else item)
    )
    for _tag, result in _read_tagged(runs, layouts, workers):
        yield result


def read_pages(
    files: Iterable[tuple[str | os.PathLike, Iterable[int], str | None]],
    layouts: LayoutLookup,
    *,
    workers: int = 1,
    batches: bool = False,
) -> Iterator[tuple[int, PageResult]] | Iterator[list[tuple[int, PageResult]]]:
    """Chosen pages of chosen files, as (the file's position in `files`, result).

    Each file is (path, its 0-based page indexes to read, its SHA-256 or None). For a
    caller that already knows which pages it wants (an import that stored some pages
    of a file before), with one pool of workers for the whole batch: results come in
    file and page order, a page that cannot be decoded as an 'error' result for it.
    With `batches`, lists of them: the pages that came back from the workers together
    (one page at a time without workers), for a caller that stores several at once.
    """

    def runs():
        for n, (path, indexes, digest) in enumerate(files):
            wanted = sorted(set(indexes))
            while wanted:
                start = stop = wanted.pop(0)
                while wanted and wanted[0] == stop + 1 and stop + 1 - start < CHUNK:
                    stop = wanted.pop(0)
                yield n, (str(path), start, stop + 1, digest, False)

    if batches:
        yield from _read_batches(runs(), layouts, workers)
    else:
        yield from _read_tagged(runs(), layouts, workers)

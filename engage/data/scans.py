"""Scanned paper forms into contributions, and the queues people work through.

A file is read page by page (paper_forms.scan), in worker processes for a large batch;
the pages that come back together are stored and applied in one transaction, each in a
savepoint of its own (one that cannot be saved leaves nothing behind and the rest carry
on), so a batch cut short keeps every page already confirmed (and counted in the
progress) and a re-run completes the rest. What a page becomes:

  imported   its sheet's participant consented: votes and demographics saved, unclear
             boxes queued for review, handwriting queued for transcription
  waiting    read, but its sheet's consent is not settled yet (page 1 not scanned, or
             the consent box is being reviewed)
  attention  a person must look: no readable code, a poor fit, a form not printed here,
             a page that cannot be decoded, no workshop, a sheet page already imported
             with different content, or the consent box not ticked
  blank      the blank back of a duplex scan
  ignored    a person set it aside (kept, never deleted)

One participant per sheet (form and serial), made when the sheet's consent is recorded:
nothing a person wrote or ticked is saved as a contribution without it. Every
contribution made from paper names its page (and so its file and sheet) and the box or
writing area it came from.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageDraw

import paper_forms
from paper_forms import Layout
from paper_forms.layout import Rect
from paper_forms.scan import (
    GIVEN,
    UNCERTAIN,
    PageResult,
    ScanFileError,
    SQLiteLayouts,
    align,
    count_pages,
    file_sha256,
    identify,
    read_pages,
    scan_files,
)
from paper_forms.scan.load import load_page, sniff

from .. import vocab
from ..db import device_id, get_db, insert_row, new_id, utc_now
from ..i18n import CONTENT_LANGUAGES
from ..sync.changelog import media_path
from ..sync.tables import SyncedTable, register
from ..validation import InvalidInput, NotFound, choice, text
from . import contributions, participants
from .revisions import by_submission, insert_first, revise

log = logging.getLogger("engage.scans")

for _table in (
    SyncedTable("scan_files", ("sha256",), "owned", 91),
    SyncedTable("scan_sheets", ("id",), "owned", 92),
    # What the reader found stays on the laptop: for a sheet without consent it is
    # what that person ticked, and the hub needs only the contributions made from it.
    SyncedTable("scan_pages", ("id",), "owned", 93, private=("result",)),
    SyncedTable("review_items", ("id",), "owned", 94),
    SyncedTable("transcriptions", ("id",), "owned", 95),
):
    register(_table)

#: What the upload page and a folder import take.
EXTENSIONS = (".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png")
#: Page previews for people: the long side in pixels (about 140 dpi on A4), as JPEG.
PREVIEW_LONG_SIDE = 1600
PREVIEW_QUALITY = 80
#: Review crops: pixels per point (144 dpi), and room around the question's boxes.
CROP_SCALE = 2.0
CROP_MARGIN = 20.0
CROP_TITLE = 30.0  # above a demographic question's boxes, for its wording
HIGHLIGHT = (212, 53, 28)

#: Decisions a person may give besides an option's value.
NONE = "none"  # no box is marked
UNCLEAR = "unclear"  # cannot tell what the person meant

#: Why a page waits or wants a person, in words for people.
REASONS = {
    "unidentified": _l("No page code could be read. If you can read the form, sheet and "
                       "page printed at the top of the page, enter them."),
    "unknown_form": _l("This page is from a form that was not printed on this laptop, so "
                       "engage cannot read it. Import it on the laptop that printed it."),
    "poor_fit": _l("The page could not be lined up with its form closely enough to read the "
                   "boxes (creased, curled or cut?). Scan it again, or read it by eye."),
    "error": _l("This page of the file could not be opened. Scan the page again."),
    "no_workshop": _l("This form was printed for a conversation, not a workshop. Choose the "
                      "workshop it was filled in at."),
    "other_workshop": _l("This form was printed for another workshop. Import it from that "
                         "workshop's page."),
    "wrong_conversation": _l("This form was printed for a different conversation from this "
                             "workshop's."),
    "changed": _l("This sheet's page was already imported from a different scan. Nothing "
                  "was overwritten: compare the two and set one aside."),
    "no_consent": _l("The consent box on this sheet is not ticked, so nothing from the sheet "
                     "was saved. If the paper shows that the person agreed, say so here."),
    "consent_page_missing": _l("The first page of this sheet, with its consent box, has not "
                               "been imported yet, so nothing from the sheet is saved until "
                               "it is."),
    "consent_review": _l("The consent box on this sheet is unclear. It waits for a person to "
                         "review it."),
}

#: A bad file, by the reader's kind of error, in words for people.
FILE_ERRORS = {
    "EmptyFile": _l("%(name)s is empty (0 bytes). Scan the pages again."),
    "NotAScan": _l("%(name)s is not a scan. Save scans as PDF, TIFF, JPEG or PNG files and "
                   "try again."),
    "TooLarge": _l("%(name)s is far larger than any scanned page, so it was not opened. Scan "
                   "at 300 dots per inch or less."),
    "DamagedFile": _l("%(name)s is damaged or cut short. Copy it again from the scanner or "
                      "phone, or scan the pages again."),
}
FILE_ERROR = _l("%(name)s could not be read as a scan. Scan the pages again.")


def file_error_message(error_type: str | None, name: str):
    return (FILE_ERRORS.get(error_type or "") or FILE_ERROR) % {"name": name}


# -- files and images ----------------------------------------------------------------------


def instance_folder() -> Path:
    return Path(current_app.instance_path)


def media_file(sha256: str) -> Path:
    """Where an image is kept: the sync media store, named by its content hash. (Its
    ``media`` row, which sends it to the hub, is added only once the sheet consented,
    so ``engage.sync.media.store`` is not used here.)"""
    return media_path(instance_folder(), sha256)


def _write_once(target: Path, data: bytes | None = None, source: Path | None = None) -> None:
    """Write a content-addressed file whole or not at all, on the disk before the row that
    names it is committed; one already there is kept."""
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{new_id()}.partial")
    try:
        with partial.open("wb") as out:
            if source is not None:
                with source.open("rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
            else:
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _store_image(data: bytes) -> str:
    sha = hashlib.sha256(data).hexdigest()
    _write_once(media_file(sha), data)
    return sha


def _register_media(db, shas: Iterable[str | None]) -> None:
    """Make images part of the record (and so sent to the hub) once consent is given."""
    for sha in {s for s in shas if s}:
        path = media_file(sha)
        if not path.exists():
            continue
        with path.open("rb") as handle:
            head = handle.read(4)
        kind = "image/png" if head.startswith(b"\x89PNG") else "image/jpeg"
        db.execute(
            "insert or ignore into media (sha256, size, content_type, device_id, created_at)"
            " values (?, ?, ?, ?, ?)",
            [sha, path.stat().st_size, kind, device_id(), utc_now()],
        )


def image_type(sha256: str) -> str:
    with media_file(sha256).open("rb") as handle:
        return "image/png" if handle.read(4).startswith(b"\x89PNG") else "image/jpeg"


def _preview(image: Image.Image, rotation: int | None) -> str:
    """The page for people to look at: upright when the reader knows its turn, reduced."""
    if rotation:
        image = image.rotate(rotation, expand=True)
    image = image.copy()
    image.thumbnail((PREVIEW_LONG_SIDE, PREVIEW_LONG_SIDE), Image.Resampling.BILINEAR,
                    reducing_gap=2.0)
    buffer = io.BytesIO()
    image.convert("L").save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    return _store_image(buffer.getvalue())


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def _homography(image: Image.Image, result: PageResult, page_layout):
    """The reader's fit of the page (layout points to image pixels), for cutting out a
    question's boxes: the one the reader hands back with its result, or (for a result
    without one) found again the reader's own way; None when that fails (the review
    then shows the whole page)."""
    given = getattr(result, "homography", None)
    if given is not None:
        return np.asarray(given, float)
    try:
        small, factor = identify.reduced(image)
        codes = [
            c for c in identify.page_codes(image, small, factor)
            if c.payload is not None
            and (c.payload.form_id, c.payload.serial, c.payload.page)
            == (result.form_id, result.serial, result.page)
        ]
        if not codes:
            return None
        fit = align.fit_page(image, page_layout, codes[0].corners,
                             align.paper_brightness(small))
        return fit.homography
    except Exception:  # noqa: BLE001 - a crop is a convenience; the page is still shown
        log.warning("could not fit %s page %s again for a crop", result.source,
                    result.page_index, exc_info=True)
        return None


def _question_boxes(page_layout, kind: str, key: str) -> list:
    out = []
    for box in page_layout.boxes:
        if box.kind != kind:
            continue
        if kind == "idea" and box.idea_id != key:
            continue
        if kind == "demographic" and box.question_id != key:
            continue
        out.append(box)
    return out


def _box_value(box) -> str:
    if box.kind == "idea":
        return box.answer
    if box.kind == "demographic":
        return box.option_id
    return GIVEN


def _crop(image, h, page_layout, kind: str, key: str, boxes_read: list) -> str | None:
    """The question's row of the page, upright, its unclear or marked boxes framed."""
    boxes = _question_boxes(page_layout, kind, key)
    if not boxes:
        return None
    marks = page_layout.marks
    left = min((m.rect.right for m in marks), default=18.0)
    right = max((m.rect.x for m in marks), default=577.0)
    bottom = min(b.rect.y for b in boxes) - CROP_MARGIN
    top = max(b.rect.top for b in boxes) + CROP_MARGIN + (CROP_TITLE if kind == "demographic"
                                                         else 0)
    left = min(left, min(b.rect.x for b in boxes) - CROP_MARGIN)
    right = max(right, max(b.rect.right for b in boxes) + CROP_MARGIN)
    rect = Rect(left, bottom, right - left, top - bottom)
    grey = align.rectify(image, h, rect, CROP_SCALE, 255)
    crop = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), "L").convert("RGB")
    draw = ImageDraw.Draw(crop)
    states = {(b["value"]): b["state"] for b in boxes_read}
    for box in boxes:
        if states.get(_box_value(box)) in ("uncertain", "marked"):
            pad = 3.5
            x0 = (box.rect.x - pad - rect.x) * CROP_SCALE
            x1 = (box.rect.right + pad - rect.x) * CROP_SCALE
            y0 = (rect.top - box.rect.top - pad) * CROP_SCALE
            y1 = (rect.top - box.rect.y + pad) * CROP_SCALE
            draw.rectangle((x0, y0, x1, y1), outline=HIGHLIGHT, width=3)
    return _store_image(_png(crop))


# -- forms and layouts ---------------------------------------------------------------------


class _Forms:
    """Forms this instance printed, with their layouts, read once per import."""

    def __init__(self):
        self.rows: dict[str, dict | None] = {}
        self.layouts: dict[str, Layout | None] = {}

    def row(self, form_id: str | None) -> dict | None:
        if not form_id:
            return None
        if form_id not in self.rows:
            found = list(get_db().query("select * from forms where id = ?", [form_id]))
            self.rows[form_id] = found[0] if found else None
        return self.rows[form_id]

    def layout(self, form_id: str) -> Layout | None:
        if form_id not in self.layouts:
            row = self.row(form_id)
            self.layouts[form_id] = Layout.from_json(row["layout"]) if row else None
        return self.layouts[form_id]

    __call__ = layout


def _page_layout(forms: _Forms, form_id, serial, page):
    layout = forms.layout(form_id) if form_id else None
    if layout is None:
        return None
    try:
        return layout.page(serial, page)
    except KeyError:
        return None


# -- reading a file ------------------------------------------------------------------------


class _Import:
    """One call of import_scan_files: who imports, into which workshop, and the counts."""

    def __init__(self, workshop_id, imported_by, may_use, progress, total):
        self.workshop_id = workshop_id
        self.imported_by = imported_by
        self.may_use = may_use or (lambda _workshop_id: True)
        self.progress = progress
        self.total = total
        self.done = 0
        self.forms = _Forms()
        self._stored: dict[str, tuple[dict | None, set[int]]] = {}

    def stored(self, sha: str) -> tuple[dict | None, set[int]]:
        """A file's row and its pages stored, as they were before this import stored
        anything of it: files are checked as the reader asks for them, so a second copy
        of a file in one import is checked after the first copy's pages were stored, and
        must be treated as the first was, whatever the timing."""
        if sha not in self._stored:
            db = get_db()
            found = list(db.query("select * from scan_files where sha256 = ?", [sha]))
            pages = {r[0] for r in db.execute(
                "select page_index from scan_pages where file_sha256 = ?", [sha])
            } if found else set()  # none before the file's own row (a page names its file)
            self._stored[sha] = (found[0] if found else None, pages)
        return self._stored[sha]

    def step(self, name: str, pages: int = 1) -> None:
        self.done += pages
        if self.progress:
            self.progress(min(self.done, self.total), self.total, name)


def _expand(paths) -> list[tuple[Path, str]]:
    """(path, name to show) for each file; folders searched for scans in name order."""
    items = []
    for item in [paths] if isinstance(paths, (str, Path)) else paths:
        path, name = (item if isinstance(item, tuple) else (item, None))
        path = Path(path)
        if path.is_dir():
            items += [(p, p.name) for p in scan_files([path])]
        else:
            items.append((path, name or path.name))
    return items


def import_scan_files(
    paths,
    *,
    workshop_id: str | None = None,
    imported_by: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    may_use: Callable[[str], bool] | None = None,
    workers: int | None = None,
) -> dict:
    """Read scans into this instance: files, folders, or (path, shown name) pairs.

    ``workshop_id`` is where pages go whose form was printed for a conversation only,
    and where unreadable pages are listed; ``may_use(workshop_id)`` says whether the
    importer may put pages into a workshop (the command line may use any). Pages are
    read in ``workers`` processes (by default one per core when there are enough pages
    to repay starting them) while this one stores them. Returns a report per file and
    per page; a bad file is reported and the rest carry on.
    """
    if workshop_id and not get_db().execute(
        "select 1 from workshops where id = ?", [workshop_id]
    ).fetchone():
        raise NotFound(workshop_id)
    plan = []
    for path, name in _expand(paths):
        try:
            kind = sniff(path)
            pages = count_pages(path)
            if pages < 1:
                raise ScanFileError(f"{name}: has no pages")
            plan.append((path, name, kind, pages, None))
        except ScanFileError as error:
            plan.append((path, name, None, 0, error))
        except Exception as error:  # noqa: BLE001 - any file the reader cannot open
            log.warning("scan file %s could not be opened", path, exc_info=True)
            plan.append((path, name, None, 0, error))
    run = _Import(workshop_id, imported_by, may_use, progress,
                  sum(max(p[3], 1) for p in plan))
    reports: list[dict | None] = [None] * len(plan)
    reading: list[tuple[int, _FileImport]] = []

    def files_to_read():
        """Each file hashed and checked against what is stored only as the reader asks
        for it, so the workers read the first files while this process hashes the rest
        (hashing 500 pages first kept a core idle for a third of a second)."""
        for n, (path, name, kind, pages, error) in enumerate(plan):
            if error is not None:
                reports[n] = _file_error(name, error, None)
                run.step(name)
                continue
            try:
                file = _FileImport(run, path, name, kind, pages)
            except OSError as error:
                log.exception("scan file %s could not be read", path)
                reports[n] = _file_error(name, ScanFileError(f"{name}: {error}"), None)
                continue
            if file.wanted:
                reading.append((n, file))
                yield file.path, file.wanted, file.sha
            else:
                reports[n] = file.finish()

    if workers is None:
        # Pages already stored are known only once each file is hashed; a worker starts
        # only when it is handed pages, so an import of nothing new starts none.
        workers = default_workers(sum(p[3] for p in plan if p[4] is None))
    batches = read_pages(files_to_read(),
                         SQLiteLayouts(current_app.config["DATABASE"],
                                       "select layout from forms where id = ?"),
                         workers=workers, batches=True)
    for batch in batches:
        _store_batch(run, [(reading[position][1], result) for position, result in batch])
    for n, file in reading:
        reports[n] = file.finish()
    return {"files": reports, "totals": _totals(reports)}


#: Fewer pages than this are read in this process: starting a worker process takes
#: about half a second, the time of a dozen pages.
MIN_PAGES_FOR_WORKERS = 24


def default_workers(pages: int) -> int:
    """Processes to read this many pages in: one per core (at most four) for a batch
    that repays starting them, else none beside this one."""
    if pages < MIN_PAGES_FOR_WORKERS:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _file_error(name: str, error: BaseException | str, sha: str | None,
                error_type: str | None = None) -> dict:
    error_type = error_type or type(error).__name__
    log.warning("scan file refused: %s", error)
    return {
        "file": name,
        "sha256": sha,
        "status": "error",
        "error_type": error_type,
        "error": str(file_error_message(error_type, name)),
        "detail": str(error),
        "pages": [],
    }


def _totals(reports: list[dict]) -> dict:
    totals = {"files": len(reports), "file_errors": 0, "pages": 0}
    for report in reports:
        if report["status"] == "error":
            totals["file_errors"] += 1
        for page in report["pages"]:
            totals["pages"] += 1
            totals[page["status"]] = totals.get(page["status"], 0) + 1
    return totals


class _FileImport:
    """One file of an import: which of its pages to read, and each page stored as its
    result comes in."""

    def __init__(self, run: _Import, path: Path, name: str, kind: str, pages: int):
        self.run, self.path, self.name = run, path, name
        self.sha = sha = file_sha256(path)
        self.report = {"file": name, "sha256": sha, "status": "imported", "pages": []}
        self.wanted: list[int] = []
        self.errors: list[PageResult] = []
        self.taken = 0  # pages read so far
        self.closed = False
        self.refused: dict | None = None
        existing, stored = run.stored(sha)
        self.completed = bool(existing and existing["completed_at"])
        if self.completed:
            self.report["status"] = "already_imported"
            self.report["pages"] = _late_workshop(run, sha)
            run.step(name, pages)
            return
        self.file_row = {
            "sha256": sha,
            "original_name": name[:255],
            "stored_path": f"scans/{sha}.{'tif' if kind == 'tiff' else kind}",
            "kind": kind,
            "size": path.stat().st_size,
            "pages": pages,
            "workshop_id": run.workshop_id,
            "imported_by": run.imported_by,
            "device_id": device_id(),
            "created_at": utc_now(),
            "completed_at": None,
        }
        self.file_row["updated_at"] = self.file_row["created_at"]
        self.held = {"file": bool(existing), "path": path}
        for index in range(pages):
            if index in stored:
                self.report["pages"].append({"page_index": index, "status": "already_imported"})
                run.step(name)
            else:
                self.wanted.append(index)

    def finish(self) -> dict:
        """The file's report, once every page it wanted is stored (see _store_batch)."""
        report = self.report
        if self.completed:
            return report
        if self.refused is not None:
            return self.refused
        if self.taken < len(self.wanted):  # not read to the end (the reader stopped)
            report["pages"].sort(key=lambda p: p["page_index"])
            return report
        if not self.closed:
            db = get_db()
            with db.atomic():
                self.close(db, report["pages"])
            self.closed = True
        if not self.held["file"] and all(p["status"] == "duplicate" for p in report["pages"]):
            report["status"] = "already_imported"
        report["pages"].sort(key=lambda p: p["page_index"])
        return report

    def close(self, db, pages: list[dict]) -> None:
        """Every page stored: the file is complete (in the caller's transaction) unless
        a page could not be saved, which importing it again tries again."""
        if self.held["file"] and not any(p["status"] == "not_saved" for p in pages):
            db.execute("update scan_files set completed_at = ?1, updated_at = ?1"
                       " where sha256 = ?2", [utc_now(), self.sha])


#: Pages stored in one transaction at most: one flush to the disk for them all.
BATCH_PAGES = 64


def _store_batch(run: _Import, items: list[tuple[_FileImport, PageResult]]) -> None:
    """Pages read together, stored together: one transaction and one flush to the disk
    for them all (a transaction each was a fifth of a page's time), each page in a
    savepoint of its own so that one that cannot be saved leaves nothing half-written
    and the rest carry on. A page that could not be decoded is kept for the end of its
    file; a file none of whose pages could be decoded is refused whole, nothing kept.
    Progress is reported once they are committed: what it counts survives a cut."""
    work: list[tuple[_FileImport, PageResult]] = []
    ending: list[_FileImport] = []
    for file, result in items:
        file.taken += 1
        if result.status == "error":
            file.errors.append(result)
        else:
            work.append((file, result))
        if file.taken == len(file.wanted):
            ending.append(file)
    for file in ending:
        if not file.errors:
            continue
        if (not file.held["file"] and not file.report["pages"]
                and not any(f is file for f, _ in work)):
            # Nothing in the file could be decoded: refused whole, nothing kept.
            first = file.errors[0]
            file.refused = _file_error(file.name, first.reason or "", file.sha,
                                       first.error_type)
            continue
        # Pages that could not be decoded are kept, for a person, beside the rest.
        work += [(file, result) for result in file.errors]
    for start in range(0, len(work), BATCH_PAGES):
        last = start + BATCH_PAGES >= len(work)
        _store_together(run, work[start:start + BATCH_PAGES], ending if last else [])
    for file, _result in items:
        run.step(file.name)


def _store_together(run: _Import, work: list, ending: list[_FileImport]) -> None:
    db = get_db()
    held = {id(file): file.held["file"] for file, _ in work}
    # The disk first, outside the transaction: originals and writing crops, each named
    # by its content (one left behind by a crash is simply found again next time).
    prepared = [_prepare_page(run, file.held, file.file_row, result) for file, result in work]
    fresh: dict = {}
    try:
        with db.atomic():
            reports = [
                _saved_page(run, file.held, file.file_row, result, ready, fresh)
                for (file, result), ready in zip(work, prepared, strict=True)
            ]
            for file in ending:
                if file.refused is None:
                    mine = [r for (f, _), r in zip(work, reports, strict=True) if f is file]
                    file.close(db, file.report["pages"] + mine)
    except Exception:  # noqa: BLE001 - then each page on its own, as it can be
        log.exception("a batch of scanned pages could not be saved together")
        for file, _ in work:
            file.held["file"] = held[id(file)]
        reports = [_store_safely(run, file.held, file.file_row, result) for file, result in work]
        for (file, _), report in zip(work, reports, strict=True):
            file.report["pages"].append(report)
        for file in ending:
            if file.refused is None:
                with db.atomic():
                    file.close(db, file.report["pages"])
    else:
        for (file, _), report in zip(work, reports, strict=True):
            file.report["pages"].append(report)
    for file in ending:
        file.closed = True


def _store_safely(run, held, file_row, result: PageResult) -> dict:
    """Store a page in a transaction of its own; one that cannot be saved is reported,
    and the file left incomplete so that importing it again tries that page again."""
    try:
        return _store_page(run, held, file_row, result)
    except Exception as error:  # noqa: BLE001 - one page never stops the batch
        return _not_saved(file_row, result, error)


def _not_saved(file_row, result: PageResult, error: BaseException) -> dict:
    log.exception("page %s of %s could not be saved", result.page_index, file_row["sha256"])
    return {"page_index": result.page_index, "reading": result.status,
            "form_id": result.form_id, "serial": result.serial, "page": result.page,
            "status": "not_saved", "reason_code": "error", "reason": str(error)}


def _ensure_file(db, held: dict, file_row: dict) -> None:
    """The original's row, before the first page that names it (the file itself is
    kept by _prepare_page, before the transaction)."""
    if held["file"]:
        return
    insert_row(db, "scan_files", file_row, or_ignore=True)
    held["file"] = True


def _box_counts(result: PageResult) -> dict:
    counts = {"marked": 0, "blank": 0, "uncertain": 0}
    for box in result.boxes:
        counts[box.state] = counts.get(box.state, 0) + 1
    return counts


def _result_json(result: PageResult, extra: dict) -> str:
    data = result.to_dict(png=False)  # each kept as a file of its own, named in extra
    data["engage"] = extra
    return json.dumps(data, ensure_ascii=False)


def _load_result(row: dict, fresh: dict | None = None):
    """What was read from a page, as stored: only the parts engage uses, read leniently,
    so that a page stored by an older reader still applies after an upgrade. (A page
    stored in this transaction is in `fresh`, as read: the same, without parsing.)"""
    if fresh and row["id"] in fresh:
        return fresh[row["id"]]
    data = json.loads(row["result"] or "{}")
    extra = data.pop("engage", {})

    def items(name, fields):
        return [SimpleNamespace(**{f: item.get(f) for f in fields}) for item in
                data.get(name) or ()]

    return SimpleNamespace(
        status=data.get("status", row["reading"]),
        answers=items("answers", ("kind", "key", "value", "reason")),
        areas=items("areas", ("prompt_id", "has_writing")),
        boxes=items("boxes", ("kind", "idea_id", "answer", "question_id", "option_id",
                              "state", "ink")),
    ), extra


def _store_page(run: _Import, held: dict, file_row: dict, result: PageResult) -> dict:
    """Store one page and apply it as far as it can go, in one transaction."""
    ready = _prepare_page(run, held, file_row, result)
    return _saved_page(run, held, file_row, result, ready, {})


def _is_duplicate(db, result: PageResult) -> bool:
    return bool(result.page_sha256) and db.execute(
        "select 1 from scan_pages where page_sha256 = ?", [result.page_sha256]
    ).fetchone() is not None


def _prepare_page(run: _Import, held: dict, file_row: dict, result: PageResult):
    """What a page needs on the disk before its rows are written: the original file and
    the writing crops (each named by its content, so one left behind by a crash is
    simply found again next time). Nothing for a page seen before. The page's preview
    and the crops of unclear questions are made from the kept original when a person
    first asks to see them (page_image, review_image): most are never looked at."""
    db = get_db()
    report = {
        "page_index": result.page_index,
        "reading": result.status,
        "form_id": result.form_id,
        "serial": result.serial,
        "page": result.page,
        "boxes": _box_counts(result),
        "areas_written": sum(1 for a in result.areas if a.has_writing),
        "areas_queued": 0,
        "reason": result.reason,
    }
    if _is_duplicate(db, result):
        return report, None
    if not held["file"]:
        _write_once(instance_folder() / file_row["stored_path"], source=held["path"])
    extra: dict = {"areas": [_store_image(a.png) if a.png else None for a in result.areas],
                   "crops": {}}
    return report, extra


def _saved_page(run: _Import, held: dict, file_row: dict, result: PageResult, ready,
                fresh: dict) -> dict:
    """Store one page and apply it as far as it can go, in a transaction (or, inside
    the caller's, a savepoint) of its own: a page that cannot be saved leaves nothing
    behind and is reported 'not_saved'; the others carry on."""
    db = get_db()
    report, extra = ready
    if extra is None:
        return {**report, "status": "duplicate", "reason_code": None}
    page_layout = _page_layout(run.forms, result.form_id, result.serial, result.page)
    if result.homography is not None and page_layout is not None:
        extra["crop_later"] = True
    row = {
        "id": new_id(),
        "file_sha256": file_row["sha256"],
        "page_index": result.page_index,
        "page_sha256": result.page_sha256,
        "reading": result.status,
        "state": "attention",
        "reason_code": None,
        "reason": result.reason,
        "code": result.code,
        "form_id": result.form_id if run.forms.row(result.form_id) else None,
        "serial": result.serial,
        "page": result.page,
        "fit_error": result.fit_error,
        "fit_max_error": result.fit_max_error,
        "dpi": result.dpi,
        "rotation": result.rotation,
        "image_sha256": None,
        "result": _result_json(result, extra),
        "sheet_id": None,
        "participant_id": None,
        "workshop_id": run.workshop_id,
        "claims": 0,
        "by_eye": 0,
        "imported_by": run.imported_by,
        "device_id": device_id(),
        "created_at": utc_now(),
    }
    row["updated_at"] = row["created_at"]
    had_file = held["file"]
    try:
        with db.atomic():
            if _is_duplicate(db, result):
                return {**report, "status": "duplicate", "reason_code": None}
            _ensure_file(db, held, file_row)
            if result.status == "blank":
                row.update(state="blank", reason=None)
            elif result.status == "read":
                _place(run, row)
            else:
                row["reason_code"] = result.status if result.status in REASONS else "error"
                form = run.forms.row(result.form_id)
                if form:
                    workshop, _code = _workshop_for(run, form, None)
                    row["workshop_id"] = workshop or row["workshop_id"]
            _insert_page(db, row)
            if row["claims"] and row["sheet_id"]:
                fresh[row["id"]] = (result, extra)
                _supersede(db, row)
                _advance_sheet(row["sheet_id"], run.imported_by, fresh)
            final = _page(row["id"])
    except Exception as error:
        held["file"] = had_file  # its row went with the rest
        if not db.conn.in_transaction:
            raise  # a transaction of its own: the caller reports it
        return _not_saved(file_row, result, error)
    return {
        **report,
        "page_id": final["id"],
        "status": final["state"],
        "reason_code": final["reason_code"],
        "areas_queued": _queued(final["id"]) if report["areas_written"] else 0,
    }


def _insert_page(db, row: dict) -> None:
    insert_row(db, "scan_pages", row)


def _queued(page_id: str) -> int:
    return get_db().execute(
        "select count(*) from transcriptions where page_id = ?", [page_id]
    ).fetchone()[0]


def _candidates(result, kind: str, key: str) -> list[dict]:
    out = []
    for box in result.boxes:
        if box.kind != kind:
            continue
        if kind == "idea" and box.idea_id != key:
            continue
        if kind == "demographic" and box.question_id != key:
            continue
        value = box.answer if kind == "idea" else box.option_id if kind == "demographic" else GIVEN
        out.append({"value": value, "state": box.state, "ink": box.ink})
    return out


def _workshop_for(run: _Import, form: dict, sheet_workshop: str | None):
    """The workshop a form's pages go to (the sheet's, the form's, or for a form printed
    for a conversation only, the one given at import), or (None, why not)."""
    if sheet_workshop:
        workshop = sheet_workshop
    elif form["workshop_id"]:
        workshop = form["workshop_id"]
    elif not run.workshop_id:
        return None, "no_workshop"
    else:
        conversation = get_db().execute(
            "select conversation_id from workshops where id = ?", [run.workshop_id]
        ).fetchone()[0]
        if conversation != form["conversation_id"]:
            return None, "wrong_conversation"
        workshop = run.workshop_id
    if workshop != run.workshop_id and not run.may_use(workshop):
        return None, "other_workshop"
    return workshop, None


def _place(run: _Import, row: dict) -> None:
    """A page the reader read: the sheet it belongs to, or why a person must look."""
    db = get_db()
    claimed = list(db.query(
        "select id, page_sha256 from scan_pages where claims = 1 and form_id = ? and serial = ?"
        " and page = ?", [row["form_id"], row["serial"], row["page"]],
    ))
    form = run.forms.row(row["form_id"])
    sheet = _sheet(row["form_id"], row["serial"])
    workshop, why = _workshop_for(run, form, sheet["workshop_id"] if sheet else None)
    row["workshop_id"] = workshop or row["workshop_id"]
    if claimed:
        row["reason_code"] = "changed"
        return
    if why:
        row["reason_code"] = why
        # Read well and waiting only for a workshop: it is this sheet page's record.
        row["claims"] = 1 if why == "no_workshop" else 0
        return
    row["claims"] = 1
    row["sheet_id"] = (sheet or _new_sheet(row["form_id"], row["serial"], workshop))["id"]
    row["state"] = "waiting"


def _sheet(form_id, serial) -> dict | None:
    rows = list(get_db().query(
        "select * from scan_sheets where form_id = ? and serial = ?", [form_id, serial]))
    return rows[0] if rows else None


def _new_sheet(form_id, serial, workshop_id) -> dict:
    row = {"id": new_id(), "form_id": form_id, "serial": serial, "workshop_id": workshop_id,
           "participant_id": None, "consent": "unknown", "device_id": device_id(),
           "created_at": utc_now()}
    row["updated_at"] = row["created_at"]
    insert_row(get_db(), "scan_sheets", row)
    return row


def _page(page_id: str) -> dict:
    rows = list(get_db().query("select * from scan_pages where id = ?", [page_id]))
    if not rows:
        raise NotFound(page_id)
    return rows[0]


def _supersede(db, row: dict) -> None:
    """A good scan of a page that could not be fitted before settles the earlier one."""
    db.execute(
        "update scan_pages set state = 'ignored', resolution = 'rescanned', resolved_at = ?1,"
        " updated_at = ?1 where form_id = ?2 and serial = ?3 and page = ?4 and claims = 0"
        " and state = 'attention' and reason_code = 'poor_fit' and id != ?5",
        [utc_now(), row["form_id"], row["serial"], row["page"], row["id"]],
    )


# -- a sheet's consent, and applying its pages ----------------------------------------------


def _consent_answer(result):
    for answer in result.answers:
        if answer.kind == "consent":
            return answer
    return None


def _set_page(db, page_id: str, **changes) -> None:
    changes["updated_at"] = utc_now()  # for the hub to tell this copy from an older one
    db.execute(
        "update scan_pages set " + ", ".join(f"{k} = ?" for k in changes) + " where id = ?",
        [*changes.values(), page_id],
    )


def _advance_sheet(sheet_id: str, by: str | None, fresh: dict | None = None) -> None:
    """Settle a sheet's consent from its pages, then apply or hold each waiting page.

    The caller holds the transaction.
    """
    db = get_db()
    sheet = next(db.query("select * from scan_sheets where id = ?", [sheet_id]))
    pages = list(db.query(
        "select * from scan_pages where sheet_id = ? and state in ('waiting', 'attention')"
        " and claims = 1 order by page", [sheet_id]))
    if sheet["consent"] == "unknown":
        for page in pages:
            result, extra = _load_result(page, fresh)
            answer = _consent_answer(result)
            if answer is None:
                continue
            if answer.value == GIVEN:
                _give_consent(sheet, by)
            elif answer.value == UNCERTAIN:
                _review_item(page, result, extra, "consent", "consent", answer.reason)
                db.execute("update scan_sheets set consent = 'uncertain', updated_at = ?"
                           " where id = ?", [utc_now(), sheet_id])
            else:
                db.execute("update scan_sheets set consent = 'not_given', updated_at = ?"
                           " where id = ?", [utc_now(), sheet_id])
            break
        sheet = next(db.query("select * from scan_sheets where id = ?", [sheet_id]))
    for page in pages:
        if sheet["consent"] == "given":
            _apply_page(page, sheet, by, fresh)
            continue
        result, _extra = _load_result(page, fresh)
        has_consent_box = _consent_answer(result) is not None
        if sheet["consent"] == "not_given":
            state, code = ("attention" if has_consent_box else "waiting"), "no_consent"
        elif sheet["consent"] == "uncertain":
            state, code = "waiting", "consent_review"
        else:
            state, code = "waiting", "consent_page_missing"
        _set_page(db, page["id"], state=state, reason_code=code)


@functools.lru_cache(maxsize=8)
def _printed_layout(database: str, form_id: str) -> Layout:
    """A form's layout, parsed once: a form's layout never changes once printed, and a
    large print run's took a millisecond or two to parse for every sheet consenting."""
    row = get_db().execute("select layout from forms where id = ?", [form_id]).fetchone()
    return Layout.from_json(row[0])


def _sheet_idea_ids(sheet: dict) -> list[str]:
    layout = _printed_layout(str(current_app.config["DATABASE"]), sheet["form_id"])
    try:
        printed = layout.sheet(sheet["serial"])
    except KeyError:
        return []
    ids = list(printed.idea_order)
    for page in printed.pages:
        ids += [b.idea_id for b in page.boxes if b.kind == "idea" and b.idea_id not in ids]
    known = {
        r[0] for r in get_db().execute(
            "select i.id from ideas i join workshops w on w.conversation_id = i.conversation_id"
            " where w.id = ?", [sheet["workshop_id"]])
    }
    return [i for i in ids if i in known]


def _give_consent(sheet: dict, by: str | None) -> str:
    """The sheet's participant, made now with consent and every idea the sheet showed."""
    db = get_db()
    if sheet["participant_id"]:
        db.execute("update scan_sheets set consent = 'given', updated_at = ? where id = ?",
                   [utc_now(), sheet["id"]])
        return sheet["participant_id"]
    language = db.execute("select language from forms where id = ?",
                          [sheet["form_id"]]).fetchone()[0]
    person = participants.add_participant(
        sheet["workshop_id"], channel="paper",
        language=language if language in CONTENT_LANGUAGES else "en",
        entered_by=by, submission_id=f"paper:{sheet['id']}")
    participants.record_consent(sheet["workshop_id"], person["id"], True, entered_by=by,
                                submission_id=f"paper-consent:{sheet['id']}")
    contributions.record_exposure(sheet["workshop_id"], person["id"], _sheet_idea_ids(sheet),
                                  channel="paper", entered_by=by)
    db.execute("update scan_sheets set consent = 'given', participant_id = ?, updated_at = ?"
               " where id = ?", [person["id"], utc_now(), sheet["id"]])
    sheet["participant_id"] = person["id"]
    sheet["consent"] = "given"
    return person["id"]


def _apply_page(page: dict, sheet: dict, by: str | None, fresh: dict | None = None) -> None:
    """Save what a page says for its sheet's consenting participant."""
    db = get_db()
    result, extra = _load_result(page, fresh)
    workshop_id, participant_id = sheet["workshop_id"], sheet["participant_id"]
    demographics = {}
    for answer in result.answers:
        if answer.kind == "consent":
            continue
        if answer.value == UNCERTAIN:
            _review_item(page, result, extra, answer.kind, answer.key, answer.reason)
        elif answer.value is None:
            continue
        elif answer.kind == "idea" and answer.value in vocab.VOTES:
            _paper_vote(workshop_id, participant_id, answer.key, answer.value, page_id=page["id"],
                        region=f"box:idea:{answer.key}:{answer.value}", by=by,
                        submission_id=f"scan:{page['id']}:idea:{answer.key}")
        elif answer.kind == "demographic":
            value = _demographic_value(answer.key, answer.value)
            if value:
                demographics[answer.key] = value
    if demographics:
        participants.record_demographics(workshop_id, participant_id, demographics,
                                         entered_by=by, keep_unanswered=True)
    for index, area in enumerate(result.areas):
        if not area.has_writing:
            continue
        crops = extra.get("areas") or []
        crop = crops[index] if index < len(crops) else None
        now = utc_now()
        db.execute(
            "insert or ignore into transcriptions (id, page_id, sheet_id, workshop_id,"
            " participant_id, prompt_id, area_index, crop_sha256, whole_page, status, device_id,"
            " created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
            [new_id(), page["id"], sheet["id"], workshop_id, participant_id, area.prompt_id,
             index, crop or page["image_sha256"], 0 if crop else 1, device_id(), now, now],
        )
    _register_media(db, [page["image_sha256"], *(extra.get("areas") or []),
                         *(extra.get("crops") or {}).values()])
    _set_page(db, page["id"], state="imported", reason_code=None,
              participant_id=participant_id, workshop_id=workshop_id)


def _demographic_value(question: str, option: str | None) -> str | None:
    """The library's option id as engage's stored value: the same ids, except that
    'prefer not to say' is spelt the library's way on paper."""
    if option == paper_forms.PREFER_NOT_TO_SAY:
        option = vocab.PREFER_NOT[0]
    for q in vocab.DEMOGRAPHICS:
        if q.name == question:
            return option if option in q.values else None
    return None


def _review_item(page: dict, result, extra: dict, kind: str, key: str,
                 reason: str | None) -> None:
    # A crop made at import (by an older engage), or one to make when first shown;
    # else the whole page (read by eye, or a page the reader could not fit).
    crop = (extra.get("crops") or {}).get(f"{kind}:{key}")
    whole = not crop and not extra.get("crop_later")
    now = utc_now()
    get_db().execute(
        "insert or ignore into review_items (id, page_id, sheet_id, workshop_id, kind, key,"
        " candidates, reason, crop_sha256, whole_page, device_id, created_at, updated_at)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [new_id(), page["id"], page["sheet_id"], page["workshop_id"], kind, key,
         json.dumps(_candidates(result, kind, key)), reason,
         crop or (page["image_sha256"] if whole else None), 1 if whole else 0, device_id(),
         now, now],
    )


def _provenance(page_id: str, region: str, transcribed_by: str | None = None) -> dict:
    return {"channel": "paper", "kiosk_id": None, "scan_page_id": page_id,
            "scan_region": region, "transcribed_by": transcribed_by}


def _paper_vote(workshop_id, participant_id, idea_id, vote, *, page_id, region, by,
                submission_id) -> dict:
    """A vote read from paper (or decided from its crop), naming its page and box."""
    existing = by_submission("contributions", submission_id)
    if existing:
        return existing
    if not get_db().execute(
        "select 1 from ideas i join workshops w on w.conversation_id = i.conversation_id"
        " where i.id = ? and w.id = ?", [idea_id, workshop_id],
    ).fetchone():
        log.warning("paper vote on idea %s is not of workshop %s; not saved", idea_id,
                    workshop_id)
        return {}
    previous = contributions.current_vote(participant_id, idea_id)
    if previous:
        saved = revise("contributions", previous["id"],
                       {"vote": vote, "status": "active", **_provenance(page_id, region)},
                       entered_by=by, submission_id=submission_id)
    else:
        saved = insert_first(
            "contributions",
            {"kind": "vote", "status": "active", "workshop_id": workshop_id,
             "participant_id": participant_id, "idea_id": idea_id, "prompt_id": None,
             "vote": vote, "text": None, "language": None, "translation": None,
             "translation_language": None, **_provenance(page_id, region)},
            entered_by=by, submission_id=submission_id)
    contributions.record_exposure(workshop_id, participant_id, [idea_id], channel="paper",
                                  entered_by=by)
    return saved


def _late_workshop(run: _Import, sha: str) -> list[dict]:
    """A file imported again with a workshop: its pages that waited only for one go in."""
    out = []
    if not run.workshop_id:
        return out
    for row in get_db().query(
        "select id from scan_pages where file_sha256 = ? and state = 'attention'"
        " and reason_code = 'no_workshop' order by page_index", [sha],
    ):
        with contextlib.suppress(InvalidInput):
            assign_workshop(row["id"], run.workshop_id, by=run.imported_by,
                            may_use=run.may_use)
        page = _page(row["id"])
        out.append({"page_index": page["page_index"], "page_id": page["id"],
                    "status": page["state"], "reason_code": page["reason_code"],
                    "form_id": page["form_id"], "serial": page["serial"],
                    "page": page["page"], "areas_queued": _queued(page["id"])})
    return out


# -- needs attention -----------------------------------------------------------------------


def _open_page(page_id: str, workshop_id: str | None) -> dict:
    page = _page(page_id)
    if page["workshop_id"] != workshop_id:
        raise NotFound(page_id)
    return page


def attention_pages(workshop_id: str | None) -> list[dict]:
    """Pages a person must look at, oldest first: those in attention, and those waiting
    for their sheet's first page."""
    where = "p.workshop_id = ?" if workshop_id else "p.workshop_id is null"
    rows = list(get_db().query(
        "select p.*, f.original_name as file_name, s.consent as sheet_consent,"
        " (select count(*) from scan_pages o where o.sheet_id = p.sheet_id and o.id != p.id"
        "  and o.state = 'waiting') as waiting_with_it,"
        " (select c.id from scan_pages c where c.claims = 1 and c.form_id = p.form_id"
        "  and c.serial = p.serial and c.page = p.page and c.id != p.id) as first_page_id"
        " from scan_pages p join scan_files f on f.sha256 = p.file_sha256"
        " left join scan_sheets s on s.id = p.sheet_id"
        f" where {where} and (p.state = 'attention' or (p.state = 'waiting'"
        " and p.reason_code = 'consent_page_missing'))"
        " order by p.created_at, p.page_index",
        [workshop_id] if workshop_id else [],
    ))
    for row in rows:
        row["message"] = REASONS.get(row["reason_code"] or "", REASONS["error"])
        row["showable"] = can_show(row)
    return rows


def ignore_page(page_id: str, workshop_id: str | None, *, by: str | None) -> None:
    db = get_db()
    with db.atomic():
        page = _open_page(page_id, workshop_id)
        if page["state"] not in ("attention", "waiting"):
            raise InvalidInput(_l("This page has already been dealt with."))
        # Set aside, it no longer stands for its sheet's page: a rescan may take its place.
        _set_page(db, page_id, state="ignored", resolution="ignored", resolved_by=by,
                  resolved_at=utc_now(), claims=0)


def consent_marked(page_id: str, workshop_id: str | None, *, by: str | None) -> None:
    """A person looked at the paper: the consent box is marked after all."""
    db = get_db()
    with db.atomic():
        page = _open_page(page_id, workshop_id)
        if page["reason_code"] != "no_consent" or page["state"] != "attention":
            raise InvalidInput(_l("This page has already been dealt with."))
        sheet = next(db.query("select * from scan_sheets where id = ?", [page["sheet_id"]]))
        _give_consent(sheet, by)
        _set_page(db, page_id, resolution="consent_marked", resolved_by=by, resolved_at=utc_now())
        _advance_sheet(sheet["id"], by)


def assign_workshop(page_id: str, workshop_id: str, *, by: str | None, may_use=None) -> None:
    """A page of a form printed for a conversation only, imported without a workshop,
    goes into this one."""
    db = get_db()
    with db.atomic():
        page = _page(page_id)
        if page["workshop_id"] is not None:
            raise NotFound(page_id)
        if page["reason_code"] != "no_workshop" or page["state"] != "attention":
            raise InvalidInput(_l("This page has already been dealt with."))
        if not db.execute("select 1 from workshops where id = ?", [workshop_id]).fetchone():
            raise InvalidInput(_l("Choose one of the workshops."), "workshop_id")
        run = _Import(workshop_id, by, may_use, None, 0)
        form = run.forms.row(page["form_id"])
        sheet = _sheet(page["form_id"], page["serial"])
        workshop, why = _workshop_for(run, form, sheet["workshop_id"] if sheet else None)
        if why:
            raise InvalidInput(REASONS[why], "workshop_id")
        sheet = sheet or _new_sheet(page["form_id"], page["serial"], workshop)
        _set_page(db, page_id, workshop_id=workshop, sheet_id=sheet["id"], state="waiting",
                  reason_code=None, resolution="workshop", resolved_by=by,
                  resolved_at=utc_now())
        _advance_sheet(sheet["id"], by)


def _question_keys(page_layout) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for box in page_layout.boxes:
        key = (box.kind, box.idea_id if box.kind == "idea" else
               box.question_id if box.kind == "demographic" else "consent")
        if key not in keys:
            keys.append(key)
    return keys


def read_by_eye(page_id: str, workshop_id: str | None, *, by: str | None, form_id=None,
                serial=None, page_number=None, may_use=None) -> None:
    """A page the machine could not read, read by a person from its image.

    For a page without a readable code the person names its form, sheet and page (they
    are printed on it in words); then every question of that page is put to review and
    every writing area to transcription, each showing the whole page.
    """
    db = get_db()
    with db.atomic():
        page = _open_page(page_id, workshop_id)
        if page["state"] != "attention" or page["reason_code"] not in ("unidentified",
                                                                        "poor_fit"):
            raise InvalidInput(_l("This page has already been dealt with."))
        if not can_show(page):
            raise InvalidInput(REASONS["error"])
        if page["reason_code"] == "unidentified":
            form_id = (form_id or "").strip().upper()
            try:
                serial, page_number = int(serial), int(page_number)
            except (TypeError, ValueError):
                raise InvalidInput(_l("Enter the sheet and page as numbers, as printed at the "
                                      "top of the page."), "serial") from None
        else:
            form_id, serial, page_number = page["form_id"], page["serial"], page["page"]
        run = _Import(workshop_id, by, may_use, None, 0)
        form = run.forms.row(form_id)
        if form is None:
            raise InvalidInput(_l("No form %(form)s was printed on this laptop. Check the code "
                                  "printed at the top of the page.", form=form_id), "form_id")
        page_layout = _page_layout(run.forms, form_id, serial, page_number)
        if page_layout is None:
            raise InvalidInput(_l("Form %(form)s has no sheet %(serial)s page %(page)s.",
                                  form=form_id, serial=serial, page=page_number), "serial")
        if db.execute(
            "select 1 from scan_pages where claims = 1 and form_id = ? and serial = ?"
            " and page = ? and id != ?", [form_id, serial, page_number, page_id],
        ).fetchone():
            raise InvalidInput(_l("That sheet's page has already been imported. If this is "
                                  "a second copy of it, set this one aside."), "serial")
        sheet = _sheet(form_id, serial)
        workshop, why = _workshop_for(run, form, sheet["workshop_id"] if sheet else None)
        if why:
            raise InvalidInput(REASONS[why])
        read = json.loads(page["result"] or "{}")
        read.update(
            status="read", form_id=form_id, serial=serial, page=page_number, boxes=[],
            answers=[{"kind": kind, "key": key, "value": UNCERTAIN, "reason": "read by eye"}
                     for kind, key in _question_keys(page_layout)],
            areas=[{"prompt_id": a.prompt_id, "has_writing": True} for a in page_layout.areas],
            engage={"areas": [], "crops": {}},
        )
        sheet = sheet or _new_sheet(form_id, serial, workshop)
        _set_page(db, page_id, form_id=form_id, serial=serial, page=page_number,
                  workshop_id=workshop, sheet_id=sheet["id"], claims=1, by_eye=1,
                  state="waiting", reason_code=None,
                  result=json.dumps(read, ensure_ascii=False),
                  resolution="by_eye", resolved_by=by, resolved_at=utc_now())
        _advance_sheet(sheet["id"], by)


# -- review --------------------------------------------------------------------------------


def _queue_counts(table: str, still_open: str, workshop_id: str) -> dict:
    """How many items a queue has for this workshop, and how many are still to do."""
    row = get_db().execute(
        f"select count(*), sum({still_open}) from {table} where workshop_id = ?",  # noqa: S608
        [workshop_id],
    ).fetchone()
    return {"total": row[0], "open": row[1] or 0, "done": row[0] - (row[1] or 0)}


def review_counts(workshop_id: str) -> dict:
    return _queue_counts("review_items", "decided_at is null", workshop_id)


_REVIEW_ITEM = (
    "select r.*, p.form_id, p.serial, p.page, p.file_sha256, p.page_index"
    " from review_items r join scan_pages p on p.id = r.page_id"
)


def _next_after(rows: list[dict], after: str | None) -> dict | None:
    """The row after the one skipped, if there is one; otherwise the first."""
    if not rows:
        return None
    ids = [r["id"] for r in rows]
    if after in ids and ids.index(after) + 1 < len(ids):
        return rows[ids.index(after) + 1]
    return rows[0]


def next_review_item(workshop_id: str, after: str | None = None) -> dict | None:
    """The next undecided item (after the one skipped, if any, then from the start)."""
    rows = list(get_db().query(
        _REVIEW_ITEM + " where r.workshop_id = ? and r.decided_at is null"
        " order by r.created_at, r.id",
        [workshop_id],
    ))
    found = _next_after(rows, after)
    return _decorate_item(found) if found else None


def get_review_item(workshop_id: str, item_id: str) -> dict:
    rows = list(get_db().query(
        _REVIEW_ITEM + " where r.id = ? and r.workshop_id = ?", [item_id, workshop_id]))
    if not rows:
        raise NotFound(item_id)
    return _decorate_item(rows[0])


def _form_spec(form_id: str) -> dict:
    row = get_db().execute("select spec, language from forms where id = ?", [form_id]).fetchone()
    spec = json.loads(row[0]) if row else {}
    spec["_language"] = row[1] if row else "en"
    return spec


def _decorate_item(item: dict) -> dict:
    """The item with the question as printed (the form's language) and its options."""
    item["candidates"] = json.loads(item["candidates"])
    spec = _form_spec(item["form_id"])
    item["form_language"] = spec["_language"]
    states = {c["value"]: c["state"] for c in item["candidates"]}
    if item["kind"] == "idea":
        printed = {i["id"]: i["text"] for i in spec.get("ideas", [])}
        labels = spec.get("answer_labels") or {}
        item["printed"] = printed.get(item["key"], "")
        item["options"] = [{"value": v, "printed": labels.get(v, ""), "state": states.get(v)}
                           for v in vocab.VOTES]
    elif item["kind"] == "demographic":
        questions = {q["id"]: q for q in (spec.get("demographics") or {}).get("questions", [])}
        question = questions.get(item["key"], {})
        item["printed"] = question.get("text", "")
        options = [{"value": o["id"], "printed": o["label"]} for o in question.get("options", [])]
        options.append({"value": paper_forms.PREFER_NOT_TO_SAY,
                        "printed": question.get("prefer_not_to_say", "")})
        for option in options:
            option["state"] = states.get(option["value"])
        item["options"] = options
    else:
        item["printed"] = spec.get("consent", "")
        item["options"] = [{"value": GIVEN, "printed": "", "state": states.get(GIVEN)}]
    return item


def decide_review(workshop_id: str, item_id: str, decision: str, *, by: str | None) -> dict:
    """Apply a person's reading of an unclear box: an answer, 'none' or 'unclear'."""
    db = get_db()
    with db.atomic():
        item = get_review_item(workshop_id, item_id)
        if item["decided_at"]:
            raise InvalidInput(_l("Someone has already decided this one."))
        allowed = [o["value"] for o in item["options"]] + [NONE, UNCLEAR]
        decision = choice(decision, allowed, field="decision", required=True)
        contribution_id = None
        page = _page(item["page_id"])
        region = f"box:{item['kind']}:{item['key']}:{decision}"
        if item["kind"] == "consent":
            sheet = next(db.query("select * from scan_sheets where id = ?", [item["sheet_id"]]))
            if decision == GIVEN:
                _give_consent(sheet, by)
            else:
                db.execute("update scan_sheets set consent = 'not_given', updated_at = ?"
                           " where id = ?", [utc_now(), sheet["id"]])
        elif decision not in (NONE, UNCLEAR):
            sheet = next(db.query("select * from scan_sheets where id = ?", [item["sheet_id"]]))
            if item["kind"] == "idea":
                saved = _paper_vote(workshop_id, sheet["participant_id"], item["key"], decision,
                                    page_id=page["id"], region=region, by=by,
                                    submission_id=f"review:{item_id}")
                contribution_id = saved.get("id")
            else:
                value = _demographic_value(item["key"], decision)
                if value:
                    participants.record_demographics(
                        workshop_id, sheet["participant_id"], {item["key"]: value},
                        entered_by=by, keep_unanswered=True)
        db.execute(
            "update review_items set decision = ?1, decided_by = ?2, decided_at = ?3,"
            " updated_at = ?3, contribution_id = ?4 where id = ?5",
            [decision, by, utc_now(), contribution_id, item_id],
        )
        if item["kind"] == "consent":
            _advance_sheet(item["sheet_id"], by)
        return item


# -- transcription -------------------------------------------------------------------------


def transcription_counts(workshop_id: str) -> dict:
    return _queue_counts("transcriptions", "status = 'queued'", workshop_id)


_TRANSCRIPTION = (
    "select t.*, p.form_id, p.serial, p.page, p.file_sha256, p.page_index, f.language as"
    " form_language from transcriptions t join scan_pages p on p.id = t.page_id"
    " join forms f on f.id = p.form_id"
)


def next_transcription(workshop_id: str, after: str | None = None) -> dict | None:
    rows = list(get_db().query(
        _TRANSCRIPTION + " where t.workshop_id = ? and t.status = 'queued'"
        " order by t.created_at, t.area_index, t.id", [workshop_id]))
    found = _next_after(rows, after)
    return _decorate_transcription(found) if found else None


def get_transcription(workshop_id: str, transcription_id: str) -> dict:
    rows = list(get_db().query(_TRANSCRIPTION + " where t.id = ? and t.workshop_id = ?",
                               [transcription_id, workshop_id]))
    if not rows:
        raise NotFound(transcription_id)
    return _decorate_transcription(rows[0])


def _decorate_transcription(row: dict) -> dict:
    spec = _form_spec(row["form_id"])
    printed = {p["id"]: p["text"] for p in spec.get("prompts", [])}
    printed.update({i["id"]: i["text"] for i in spec.get("ideas", [])})
    row["printed"] = printed.get(row["prompt_id"], "")
    return row


def save_transcription(workshop_id: str, transcription_id: str, values: dict, *,
                       by: str | None) -> dict:
    """What a person read in a writing area becomes the participant's idea (or comment on
    an idea), naming its page and area, and who transcribed it."""
    db = get_db()
    with db.atomic():
        item = get_transcription(workshop_id, transcription_id)
        if item["status"] != "queued":
            raise InvalidInput(_l("Someone has already transcribed this one."))
        # Browsers send line ends as CR LF; the words are kept with plain new lines.
        words = text((values.get("text") or "").replace("\r\n", "\n"), field="text")
        language = choice(values.get("language") or item["form_language"], CONTENT_LANGUAGES,
                          field="language", required=True)
        translation = text((values.get("translation") or "").replace("\r\n", "\n"),
                           field="translation", required=False)
        translation_language = None
        if translation:
            translation_language = choice(values.get("translation_language") or "en",
                                          CONTENT_LANGUAGES, field="translation_language",
                                          required=True)
        is_idea = db.execute("select 1 from ideas where id = ?", [item["prompt_id"]]).fetchone()
        prompt = None if is_idea else db.execute(
            "select id from prompts where id = ?", [item["prompt_id"]]).fetchone()
        row = {
            "kind": "comment" if is_idea else "idea",
            "status": "active",
            "workshop_id": workshop_id,
            "participant_id": item["participant_id"],
            "idea_id": item["prompt_id"] if is_idea else None,
            "prompt_id": prompt[0] if prompt else None,
            "vote": None,
            "text": words,
            "language": language,
            "translation": translation,
            "translation_language": translation_language,
            **_provenance(item["page_id"], f"area:{item['area_index']}:{item['prompt_id']}",
                          by),
        }
        saved = insert_first("contributions", row, entered_by=by,
                             submission_id=f"transcription:{transcription_id}")
        now = utc_now()
        db.execute(
            "update transcriptions set status = 'done', text = ?, language = ?, translation = ?,"
            " translation_language = ?, transcribed_by = ?, transcribed_at = ?, updated_at = ?,"
            " contribution_id = ? where id = ?",
            [words, language, translation, translation_language, by, now, now,
             saved["id"], transcription_id],
        )
        return saved


def set_transcription_status(workshop_id: str, transcription_id: str, status: str, *,
                             by: str | None) -> None:
    """Illegible, or nothing written after all: noted, and no contribution made."""
    if status not in ("illegible", "empty"):
        raise ValueError(status)
    db = get_db()
    with db.atomic():
        item = get_transcription(workshop_id, transcription_id)
        if item["status"] != "queued":
            raise InvalidInput(_l("Someone has already transcribed this one."))
        db.execute(
            "update transcriptions set status = ?1, transcribed_by = ?2, transcribed_at = ?3,"
            " updated_at = ?3 where id = ?4", [status, by, utc_now(), transcription_id])


# -- overview and images -------------------------------------------------------------------


def workshop_summary(workshop_id: str) -> dict:
    db = get_db()
    states = dict(db.execute(
        "select state, count(*) from scan_pages where workshop_id = ? group by state",
        [workshop_id]).fetchall())
    missing = db.execute(
        "select count(*) from scan_pages where workshop_id = ? and state = 'waiting'"
        " and reason_code = 'consent_page_missing'", [workshop_id]).fetchone()[0]
    return {
        "files": db.execute(
            "select count(distinct file_sha256) from scan_pages where workshop_id = ?",
            [workshop_id]).fetchone()[0],
        "pages": sum(states.values()),
        "imported": states.get("imported", 0),
        "waiting": states.get("waiting", 0),
        "attention": states.get("attention", 0) + missing,
        "sheets": db.execute(
            "select count(*) from scan_sheets where workshop_id = ? and participant_id is not"
            " null", [workshop_id]).fetchone()[0],
        "review": review_counts(workshop_id),
        "transcription": transcription_counts(workshop_id),
    }


def image_workshops(sha256: str) -> set[str | None]:
    """The workshops whose scans show this image (None: a page with no workshop yet)."""
    db = get_db()
    found: set[str | None] = set()
    for sql in (
        "select workshop_id from scan_pages where image_sha256 = ?",
        "select workshop_id from review_items where crop_sha256 = ?",
        "select workshop_id from transcriptions where crop_sha256 = ?",
    ):
        found.update(r[0] for r in db.execute(sql, [sha256]))
    return found


# -- images made when first shown ------------------------------------------------------------


def get_page(page_id: str) -> dict:
    return _page(page_id)


def _original(page: dict) -> Path | None:
    """The kept original file a page came from, if it is on this instance (a hub has
    the records, not the scans)."""
    row = get_db().execute("select stored_path from scan_files where sha256 = ?",
                           [page["file_sha256"]]).fetchone()
    if row is None:
        return None
    path = instance_folder() / row[0]
    return path if path.is_file() else None


def can_show(page: dict) -> bool:
    """Whether a page's image can be shown: made already, or to be made from the kept
    original (never for a blank back, or a page that could not be decoded)."""
    if page["image_sha256"] and media_file(page["image_sha256"]).exists():
        return True
    return page["reading"] not in ("error", "blank") and _original(page) is not None


def _decoded(page: dict) -> Image.Image | None:
    """The page decoded again from its original, exactly as the reader had it."""
    path = _original(page)
    if path is None:
        return None
    try:
        return load_page(path, page["page_index"]).image
    except ScanFileError:
        log.warning("page %s of %s could not be decoded again", page["page_index"],
                    page["file_sha256"], exc_info=True)
        return None


def _consented(db, page: dict) -> bool:
    if not page["sheet_id"]:
        return False
    row = db.execute("select consent from scan_sheets where id = ?",
                     [page["sheet_id"]]).fetchone()
    return bool(row) and row[0] == "given"


def page_image(page_id: str) -> str | None:
    """The content hash of the page as people see it (upright, reduced, JPEG), made
    from the kept original the first time it is asked for; None if it cannot be.

    Made on demand rather than at import, where it was half of a page's time: most
    pages are read well and never looked at. Once made it is kept like any image (and
    sent to the hub once the sheet's consent is recorded)."""
    page = _page(page_id)
    sha = page["image_sha256"]
    if sha and media_file(sha).exists():
        return sha
    if page["reading"] == "blank":
        return None
    image = _decoded(page)
    if image is None:
        return None
    sha = _preview(image, page["rotation"])
    db = get_db()
    with db.atomic():
        _set_page(db, page_id, image_sha256=sha)
        if _consented(db, page):
            _register_media(db, [sha])
    return sha


def _review_crop(page: dict, item: dict) -> str | None:
    """The question's row of the page, cut from the original through the reader's fit."""
    page_layout = _page_layout(_Forms(), page["form_id"], page["serial"], page["page"])
    if page_layout is None:
        return None
    image = _decoded(page)
    if image is None:
        return None
    data = json.loads(page["result"] or "{}")
    found = SimpleNamespace(homography=data.get("homography"), form_id=page["form_id"],
                            serial=page["serial"], page=page["page"],
                            source=page["file_sha256"], page_index=page["page_index"])
    h = _homography(image, found, page_layout)
    if h is None:
        return None
    try:
        return _crop(image, h, page_layout, item["kind"], item["key"], item["candidates"])
    except Exception:  # noqa: BLE001 - the review then shows the whole page
        log.warning("no crop for %s %s", item["kind"], item["key"], exc_info=True)
        return None


def review_image(item: dict) -> dict:
    """The review item (as from next_review_item) with its image made if it was not yet:
    the question's crop, or failing that the whole page."""
    sha = item["crop_sha256"]
    if sha and media_file(sha).exists():
        return item
    page = _page(item["page_id"])
    crop = None if item["whole_page"] else _review_crop(page, item)
    whole = crop is None
    sha = crop or page_image(page["id"])
    if sha is None:
        return item
    db = get_db()
    with db.atomic():
        db.execute("update review_items set crop_sha256 = ?, whole_page = ?, updated_at = ?"
                   " where id = ?", [sha, int(whole), utc_now(), item["id"]])
        if _consented(db, page):
            _register_media(db, [sha])
    return {**item, "crop_sha256": sha, "whole_page": int(whole)}


def transcription_image(item: dict) -> dict:
    """The transcription item with its image: its crop, made at import, or the whole
    page (read by eye), made now if it was not yet."""
    sha = item["crop_sha256"]
    if sha and media_file(sha).exists():
        return item
    sha = page_image(item["page_id"])
    if sha is None:
        return item
    db = get_db()
    with db.atomic():
        db.execute("update transcriptions set crop_sha256 = ?, updated_at = ? where id = ?",
                   [sha, utc_now(), item["id"]])
    return {**item, "crop_sha256": sha}

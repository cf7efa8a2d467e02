"""Reading scanned paper forms: which page each image is, what is ticked, what is written.

A library, like the rest of paper_forms: it knows images, layouts and results, nothing
of Flask or the database.

    from paper_forms.scan import read_scans
    for result in read_scans(["scans/"], layouts=lookup, workers=2):
        result.status      # 'read', 'blank', 'unidentified', 'unknown_form', 'poor_fit', 'error'
        result.answers     # each question's answer, None, or 'uncertain'
        result.areas       # writing areas: has_writing and an upright PNG crop

`lookup(form_id)` returns the form's Layout, or None for a form this instance did not
print. See read.py for the pipeline and results.py for what comes back.
"""

from .load import (
    DamagedFile,
    EmptyFile,
    NotAScan,
    PageImage,
    ScanFileError,
    TooLarge,
    count_pages,
    file_sha256,
    iter_pages,
    scan_files,
)
from .read import SQLiteLayouts, read_file, read_image, read_pages, read_scans
from .results import (
    GIVEN,
    STATUSES,
    UNCERTAIN,
    AnswerResult,
    AreaResult,
    BoxResult,
    PageResult,
)

__all__ = [
    "GIVEN",
    "STATUSES",
    "UNCERTAIN",
    "AnswerResult",
    "AreaResult",
    "BoxResult",
    "DamagedFile",
    "EmptyFile",
    "NotAScan",
    "PageImage",
    "PageResult",
    "SQLiteLayouts",
    "ScanFileError",
    "TooLarge",
    "count_pages",
    "file_sha256",
    "iter_pages",
    "read_file",
    "read_image",
    "read_pages",
    "read_scans",
    "scan_files",
]

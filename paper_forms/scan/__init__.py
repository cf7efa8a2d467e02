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

import importlib

# Each name from its module when first asked for: importing the package imports neither
# the reader nor numpy, so a worker process can start (see worker.py) before they load.
_FROM = {
    "load": ("DamagedFile", "EmptyFile", "NotAScan", "PageImage", "ScanFileError",
             "TooLarge", "count_pages", "file_sha256", "iter_pages", "scan_files"),
    "read": ("SQLiteLayouts", "read_file", "read_image", "read_pages", "read_scans"),
    "results": ("GIVEN", "STATUSES", "UNCERTAIN", "AnswerResult", "AreaResult",
                "BoxResult", "PageResult"),
}
_MODULE = {name: module for module, names in _FROM.items() for name in names}


def __getattr__(name: str):
    module = _MODULE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = sorted(_MODULE)

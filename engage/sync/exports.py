"""The hub's merged dataset as CSV, JSON Lines and XLSX, streamed.

Each row of the laptops' tables carries, besides its own provenance (device, entered
by, channel, created at), the batch that brought it to the hub, how (network or USB
file), when, and from which enrolled laptop (participants and contributions have it on
the row, see migration 0008). Rows are read from a cursor in chunks and written as they
come, so a million rows never sit in memory; an XLSX goes through openpyxl's write-only
mode into a temporary file and is sent from there.

A CSV is made by SQLite one row at a time, each row one value (``export.line_sql``), and
quoted by Python a run of rows at a time (:func:`csv_lines`): the same bytes as
``csv.writer``, from this process or from the sqlite3 shell where one is installed.

Demographic answers are exported for coordinators only: row by row in participants,
or as counts in ``demographics``, where any count under the threshold is suppressed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .. import vocab
from ..data import export
from ..data.export import LINE_END, VALUE_END
from ..data.revisions import current_where
from ..db import connect
from .tables import RECEIPT_COLUMNS, REGISTRY

FORMATS = ("csv", "jsonl", "xlsx")
LAPTOP_TABLES = ("contributions", "participants", "ideas", "exposures", "workshops")
TABLES = LAPTOP_TABLES + ("batches", "devices", "conflicts", "online_ideas", "demographics")
DEMOGRAPHIC_TABLES = ("participants", "demographics")
DEFAULT_THRESHOLD = 5
XLSX_MAX_ROWS = 1_048_576  # a worksheet's limit, header included
_CHUNK = 2000
#: Rows of CSV quoted at a time: about 200 KB, which stay in the processor's cache
#: through the few passes over them.
_LINES = 500
#: Page cache for one export's connection: the joins for provenance look up indexes
#: all over the file, and a large cache keeps them from being read again and again.
CACHE_KIB = 128 * 1024
#: And the file mapped into memory, so pages are read without a copy each (a tenth of
#: the CSV export's time). Only an export's own read-only connection maps it.
MMAP_BYTES = 256 * 1024 * 1024
_KEYS = {"contributions": "revision_id", "participants": "revision_id"}

#: Each row's batch, how and when it came and from which laptop: columns and joins added
#: to the laptop export's own query (not wrapped around it, which would lose its order).
#: Participants and contributions carry them on the row (migration 0008).
_PROVENANCE_COLUMNS = ("sync_r.batch_id as sync_batch_id", "sync_b.via as sync_via",
                       "sync_b.received_at as sync_received_at", "sync_d.name as sync_laptop")
_PROVENANCE_JOINS = (
    " left join received sync_r on sync_r.tbl = '{table}' and sync_r.key = {alias}.{key}"
    " left join batches sync_b on sync_b.batch_id = sync_r.batch_id"
    " left join devices sync_d on sync_d.id = sync_b.device_id"
)
_OWN = {
    "batches": (
        "select b.batch_id, b.device_id, d.name as laptop, b.bundle_id, b.via, b.seq_from,"
        " b.seq_to, b.held_before, b.held_after, b.made_at, b.received_at, b.counts, b.sent,"
        " b.workshops, b.conflicts, b.manifest_sha256, b.frame_sha256, b.received_by"
        " from batches b join devices d on d.id = b.device_id order by b.received_at"
    ),
    "devices": (
        "select id, name, record_device_id, held_seq, enrolled_at, enrolled_by, via,"
        " last_heard_at, revoked_at from devices order by enrolled_at"
    ),
    "conflicts": (
        "select id, tbl, key, record_id, kind, batch_id, device_id, existing, incoming,"
        " detected_at, resolved_at, resolved_by, note from conflicts order by detected_at"
    ),
    "online_ideas": (
        "select o.id, o.conversation_id, o.external_id, o.text, o.language, o.agree,"
        " o.disagree, o.unsure, o.idea_id, o.import_id, i.filename as import_file,"
        " i.imported_at, o.updated_at from online_ideas o"
        " join online_imports i on i.id = o.import_id order by o.conversation_id, o.external_id"
    ),
}


def _provenance(table: str) -> tuple[tuple[str, ...], str]:
    """The provenance columns of a laptop table's export, and the joins they need."""
    alias = export.ALIASES[table]
    if table in REGISTRY and REGISTRY[table].receipt:
        return tuple(f"{alias}.{c}" for c in RECEIPT_COLUMNS), ""
    return _PROVENANCE_COLUMNS, _PROVENANCE_JOINS.format(table=table, alias=alias,
                                                         key=_KEYS.get(table, "id"))


def select(table: str, *, all_revisions: bool = False, demographics: bool = True,
           threshold: int = DEFAULT_THRESHOLD, group: str = "conversation",
           as_line: bool = False) -> tuple[str, list]:
    """One export's SQL and its parameters; ``as_line`` as in ``export.select_sql``
    (for a laptop table)."""
    if table in _OWN:
        return _OWN[table], []
    if table == "demographics":
        return _demographics_sql(threshold, group)
    if table not in LAPTOP_TABLES:
        raise ValueError(table)
    columns, joins = _provenance(table)
    return export.select_sql(table, all_revisions=all_revisions, demographics=demographics,
                             columns=columns, joins=joins, as_line=as_line), []


def _line_select(db, table: str, **options) -> tuple[list[str], str, list]:
    """One CSV export's header, and its SQL selecting each row as one line
    (``export.line_sql``), with its parameters."""
    if table in LAPTOP_TABLES:
        columns, _ = _provenance(table)
        names = export.names(table, demographics=options.get("demographics", True),
                             columns=columns)
        return names, select(table, as_line=True, **options)[0], []
    sql, params = select(table, **options)
    # Selected from whole, so its rows come in its own order (SQLite runs it as a
    # co-routine, or takes its ORDER BY up when it flattens it).
    names = [d[0] for d in db.execute(f"select * from ({sql}) limit 0", params).description]
    if len(set(names)) != len(names):
        raise ValueError(f"{table}: a column name comes twice")
    quoted = ['"' + name.replace('"', '""') + '"' for name in names]
    return names, export.line_sql(quoted, f"from ({sql})"), params


def _demographics_sql(threshold: int, group: str) -> tuple[str, list]:
    """Counts of participants (latest revision, consent given) by answer, per
    conversation or workshop; a count from 1 to threshold-1 is left out and flagged."""
    scope = {"conversation": ("w.conversation_id", "(select json_extract(c.title, '$.en')"
                              " from conversations c where c.id = w.conversation_id)"),
             "workshop": ("w.id", "w.title")}.get(group)
    if scope is None:
        raise ValueError(group)
    parts, params = [], []
    for question in vocab.DEMOGRAPHIC_FIELDS:
        parts.append(
            f"select {scope[0]} as scope_id, {scope[1]} as scope, ? as question,"
            f" coalesce(p.{question}, 'not_answered') as answer, count(*) as n"
            " from participants p join workshops w on w.id = p.workshop_id"
            f" where p.consent = 1 and {current_where('p', 'participants')}"
            " group by 1, 2, 3, 4"
        )
        params.append(question)
    threshold = max(0, int(threshold))
    sql = (
        "select ? as grouped_by, scope_id, scope, question, answer,"
        " case when n < ? then null else n end as count,"
        " case when n < ? then 1 else 0 end as suppressed, ? as threshold"
        f" from ({' union all '.join(parts)}) order by scope, question, answer"
    )
    return sql, [group, threshold, threshold, threshold, *params]


def cursor_for(db, table: str, **options):
    sql, params = select(table, **options)
    return db.execute(sql, params)


def csv_lines(pieces: Iterator[tuple[bytes, int | None]], width: int) -> Iterator[bytes]:
    """CSV as ``csv.writer`` writes it (a value quoted only when it holds a comma, a
    quote or a line break; CRLF line ends), from runs of whole rows as
    ``export.line_sql`` selects them, each with its number of rows where known.

    Python touches each run a few times in C (a count, a search for the four characters
    that need quoting, two byte replacements), and each value that needs quoting once.
    A run whose separators do not add up (a value held bytes that are not UTF-8 text)
    is refused rather than written wrong.
    """
    for text, rows in pieces:
        values = text.count(VALUE_END)
        if b"," in text or b'"' in text or b"\r" in text or b"\n" in text:
            text = _quoted(text)
        if width == 1 and (text[:1] == LINE_END or LINE_END * 2 in text):
            # csv.writer writes a lone empty value "", so the row is not read as none
            pair, empty = LINE_END * 2, LINE_END + b'""' + LINE_END
            text = (LINE_END + text).replace(pair, empty).replace(pair, empty)[1:]
        text = text.replace(VALUE_END, b",")
        lines = text.replace(LINE_END, b"\r\n")
        ends = len(lines) - len(text)
        if values != (width - 1) * ends or ends != (ends if rows is None else rows):
            raise ValueError("the export met a value that is not UTF-8 text")
        yield lines


def _quoted(text: bytes) -> bytes:
    """Rows with each value that holds a comma, a quote or a line break quoted. Each
    such value is found from one of its special characters, so clean values cost
    nothing; the rows are joined again from views, copied once."""
    find, rfind = text.find, text.rfind
    size = len(text)
    spans = []
    for special in (b",", b'"', b"\r", b"\n"):
        at = find(special)
        while at >= 0:
            start = rfind(VALUE_END, 0, at) + 1
            line = rfind(LINE_END, start, at) + 1
            if line:
                start = line
            end = find(VALUE_END, at)
            if end < 0:
                end = size
            line = find(LINE_END, at, end)
            if line >= 0:
                end = line
            spans.append((start, end))
            at = find(special, end)
    spans.sort()
    view = memoryview(text)
    parts, done = [], 0
    for start, end in spans:
        if start < done:  # found again from another of its characters
            continue
        value = view[start:end]
        if find(b'"', start, end) >= 0:
            value = text[start:end].replace(b'"', b'""')
        parts += (view[done:start], b'"', value, b'"')
        done = end
    parts.append(view[done:])
    return b"".join(parts)


def header(names: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(names)
    return buffer.getvalue().encode("utf-8")


def python_lines(db, sql: str, params=()) -> Iterator[tuple[bytes, int]]:
    """Runs of whole rows of ``sql`` (an ``export.line_sql``) read from ``db``, each
    with its number of rows."""
    factory = db.conn.text_factory
    db.conn.text_factory = bytes  # the rows as SQLite holds them: no decoding
    try:
        cursor = db.execute(sql, params)
        while rows := cursor.fetchmany(_LINES):
            yield b"".join([row[0] for row in rows]), len(rows)
    finally:
        db.conn.text_factory = factory


_STRUCTURED = ("text", "easy_read", "tags", "languages", "counts", "sent", "workshops",
               "existing", "incoming", "title", "description")


def jsonl_chunks(cursor) -> Iterator[str]:
    columns = [d[0] for d in cursor.description]
    structured = [i for i, c in enumerate(columns) if c in _STRUCTURED]
    while True:
        rows = cursor.fetchmany(_CHUNK)
        if not rows:
            break
        lines = []
        for row in rows:
            record = dict(zip(columns, row, strict=True))
            for i in structured:
                value = row[i]
                if isinstance(value, str) and value[:1] in "[{":
                    with contextlib.suppress(ValueError):
                        record[columns[i]] = json.loads(value)
            lines.append(json.dumps(record, ensure_ascii=False))
        yield "\n".join(lines) + "\n"


def write_xlsx(cursor, target, title: str) -> None:
    """An XLSX in openpyxl's write-only mode: rows go to disk as they are appended.
    Past a worksheet's million rows the table goes on in a second sheet."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    header = [d[0] for d in cursor.description]
    sheet, used, number = None, XLSX_MAX_ROWS, 0
    while True:
        rows = cursor.fetchmany(_CHUNK)
        if not rows:
            break
        for row in rows:
            if used >= XLSX_MAX_ROWS:
                number += 1
                name = title[:28] if number == 1 else f"{title[:24]} ({number})"
                sheet = workbook.create_sheet(name)
                sheet.append(header)
                used = 1
            sheet.append([_cell(v) for v in row])
            used += 1
    if sheet is None:
        workbook.create_sheet(title[:28]).append(header)
    workbook.save(target)


def _cell(value):
    # A text starting with = would be read as a formula by a spreadsheet: keep it text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and len(value) > 1:
        return "'" + value
    return value


def sqlite3_shell() -> str | None:
    """The sqlite3 command-line shell, if installed: it runs an export's query in a
    process of its own, so the query and the quoting of its rows run side by side.
    ENGAGE_EXPORT_SHELL=0 turns it off; it is not used on Windows, whose shell writes
    a line break in a value as CRLF."""
    if os.environ.get("ENGAGE_EXPORT_SHELL", "1") == "0" or os.name == "nt":
        return None
    return shutil.which("sqlite3")


def shell_lines(shell: str, database_path: str, sql: str) -> Iterator[tuple[bytes, None]]:
    """Runs of whole rows of ``sql`` (an ``export.line_sql``) from the sqlite3 shell,
    read from its output as it comes. How many rows each holds is not known, so a value
    that is not UTF-8 text is found only where it upsets the count of separators."""
    proc = subprocess.Popen(
        [shell, "-bail", "-readonly", "-list", "-noheader", "-newline", "",
         "-mmap", str(MMAP_BYTES), "-cmd", ".timeout 30000",
         "-cmd", f"pragma cache_size=-{CACHE_KIB}", str(database_path), sql],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        rest = b""
        while chunk := proc.stdout.read(200 * 1024):
            chunk = rest + chunk
            cut = chunk.rfind(LINE_END) + 1
            rest = chunk[cut:]
            if cut:
                yield chunk[:cut], None
        error = proc.stderr.read()
        if proc.wait() != 0 or rest:
            raise RuntimeError(f"sqlite3 export failed: {error.decode(errors='replace')}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def stream(database_path: str, table: str, fmt: str, **options) -> Iterator[bytes | str]:
    """Chunks of one export on a connection of its own, for a streamed download."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    db = connect(database_path)
    try:
        db.execute(f"pragma cache_size=-{CACHE_KIB}")
        db.execute(f"pragma mmap_size={MMAP_BYTES}")
        if fmt == "csv":
            names, sql, params = _line_select(db, table, **options)
            shell = sqlite3_shell() if not params else None
            yield header(names)
            if shell:
                db, _ = None, db.close()
                pieces = shell_lines(shell, database_path, sql)
            else:
                pieces = python_lines(db, sql, params)
            yield from csv_lines(pieces, len(names))
            return
        cursor = db.execute(*select(table, **options))
        if fmt == "jsonl":
            yield from jsonl_chunks(cursor)
        else:
            fd, name = tempfile.mkstemp(suffix=".xlsx")
            os.close(fd)
            try:
                write_xlsx(cursor, name, table)
                with open(name, "rb") as handle:
                    while chunk := handle.read(256 * 1024):
                        yield chunk
            finally:
                os.unlink(name)
    finally:
        if db is not None:
            db.close()


def write_file(database_path: str, table: str, fmt: str, target: Path, **options) -> Path:
    """Write one export to ``target`` whole (through a partial file renamed at the end)."""
    target = Path(target)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as handle:
        for chunk in stream(database_path, table, fmt, **options):
            handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
    partial.replace(target)
    return target

"""The hub's merged dataset as CSV, JSON Lines and XLSX, streamed.

Each row of the laptops' tables carries, besides its own provenance (device, entered
by, channel, created at), the batch that brought it to the hub, how (network or USB
file), when, and from which enrolled laptop. Rows are read from a cursor in chunks and
written as they come, so a million rows never sit in memory; an XLSX goes through
openpyxl's write-only mode into a temporary file and is sent from there.

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
from ..data.revisions import current_where
from ..db import connect

FORMATS = ("csv", "jsonl", "xlsx")
LAPTOP_TABLES = ("contributions", "participants", "ideas", "exposures", "workshops")
TABLES = LAPTOP_TABLES + ("batches", "devices", "conflicts", "online_ideas", "demographics")
DEMOGRAPHIC_TABLES = ("participants", "demographics")
DEFAULT_THRESHOLD = 5
XLSX_MAX_ROWS = 1_048_576  # a worksheet's limit, header included
_CHUNK = 2000
#: Page cache for one export's connection: the joins for provenance look up indexes
#: all over the file, and a large cache keeps them from being read again and again.
CACHE_KIB = 128 * 1024
_KEYS = {"contributions": "revision_id", "participants": "revision_id"}

#: Each row's batch, how and when it came and from which laptop: columns and joins added
#: to the laptop export's own query (not wrapped around it, which would lose its order).
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


def select(table: str, *, all_revisions: bool = False, demographics: bool = True,
           threshold: int = DEFAULT_THRESHOLD, group: str = "conversation",
           as_text: bool = False) -> tuple[str, list]:
    """One export's SQL and its parameters; ``as_text`` as in ``export.select_sql``."""
    if table in _OWN:
        return _OWN[table], []
    if table == "demographics":
        return _demographics_sql(threshold, group)
    if table not in LAPTOP_TABLES:
        raise ValueError(table)
    joins = _PROVENANCE_JOINS.format(table=table, alias=export.ALIASES[table],
                                     key=_KEYS.get(table, "id"))
    return export.select_sql(table, all_revisions=all_revisions, demographics=demographics,
                             columns=_PROVENANCE_COLUMNS, joins=joins, as_text=as_text), []


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


def csv_chunks(cursor) -> Iterator[str]:
    """Header, then rows from the cursor in chunks, as ``csv.writer`` writes them (quoted
    only where needed, CRLF line ends).

    The csv module copies every character through its quoting check, which made it most
    of an export's time. Most values need no quoting, so rows of text are joined with
    commas in C, and only a line with a quote, a line break or a comma too many (a value
    that needed quoting) is made again, quoting the values that need it as csv.writer
    does. A chunk with a value that is not text goes through csv.writer whole, so any
    cursor gives the same CSV; one whose values are all text (``select(as_text=True)``,
    :func:`text_select`) is the fast one.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([d[0] for d in cursor.description])
    yield _flush(buffer)
    commas = len(cursor.description) - 1
    while rows := cursor.fetchmany(_CHUNK):
        text = _joined(rows, commas) if commas else None  # a lone '' is written ""
        if text is None:
            writer.writerows(rows)
            text = _flush(buffer)
        yield text


def _joined(rows: list, commas: int) -> str | None:
    """Rows of text as CSV lines, or None when a value is not text."""
    try:
        lines = [",".join(row) for row in rows]
    except TypeError:
        return None
    text = "\r\n".join(lines)
    n = len(lines)
    if '"' in text or text.count("\n") != n - 1 or text.count("\r") != n - 1:
        quoted = [i for i, line in enumerate(lines)
                  if '"' in line or "\n" in line or "\r" in line or line.count(",") != commas]
    elif text.count(",") != commas * n:
        quoted = [i for i, line in enumerate(lines) if line.count(",") != commas]
    else:
        return text + "\r\n"
    for i in quoted:  # csv.writer's minimal quoting, value by value
        lines[i] = ",".join([
            '"' + v.replace('"', '""') + '"' if "," in v or '"' in v or "\n" in v or "\r" in v
            else v
            for v in rows[i]
        ])
    return "\r\n".join(lines) + "\r\n"


def _flush(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def text_select(db, sql: str, params=()) -> str:
    """``sql`` with every value as text and a NULL as '', as ``select(as_text=True)``
    gives the laptops' tables, for the hub's own small ones. It is selected from whole
    (SQLite runs it as a co-routine), so its rows come in its own order."""
    names = [d[0] for d in db.execute(f"select * from ({sql}) limit 0", params).description]
    if len(set(names)) != len(names):
        return sql
    quoted = ['"' + name.replace('"', '""') + '"' for name in names]
    columns = ", ".join(f"ifnull(cast({name} as text), '') as {name}" for name in quoted)
    return f"select {columns} from ({sql})"


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
    """The sqlite3 command-line shell, if installed: it writes CSV several times faster
    than Python can, from the same query, with the same quoting (only where needed) and
    line ends. ENGAGE_EXPORT_SHELL=0 turns it off."""
    if os.environ.get("ENGAGE_EXPORT_SHELL", "1") == "0":
        return None
    return shutil.which("sqlite3")


def shell_csv_chunks(shell: str, database_path: str, sql: str) -> Iterator[bytes]:
    """CSV straight from the sqlite3 shell's output, read in chunks as it comes."""
    proc = subprocess.Popen(
        [shell, "-bail", "-readonly", "-csv", "-header", "-newline", "\r\n",
         "-cmd", ".timeout 30000", "-cmd", f"pragma cache_size=-{CACHE_KIB}",
         str(database_path), sql],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        while chunk := proc.stdout.read(256 * 1024):
            yield chunk
        error = proc.stderr.read()
        if proc.wait() != 0:
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
    sql, params = select(table, **options)
    shell = sqlite3_shell() if fmt == "csv" and not params else None
    if shell:
        yield from shell_csv_chunks(shell, database_path, sql)
        return
    db = connect(database_path)
    try:
        db.execute(f"pragma cache_size=-{CACHE_KIB}")
        if fmt == "csv":
            if table in LAPTOP_TABLES:
                sql, params = select(table, as_text=True, **options)
            else:
                sql = text_select(db, sql, params)
            yield from csv_chunks(db.execute(sql, params))
            return
        cursor = db.execute(sql, params)
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

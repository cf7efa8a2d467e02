"""The export: every row with its UUID, device, revision and provenance, streamed."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

from ..db import connect, get_db

TABLES = ("contributions", "participants", "ideas", "workshops", "exposures")
FORMATS = ("csv", "jsonl")


def _latest(alias: str, table: str) -> str:
    """SQL: the row aliased ``alias`` is the latest revision of its record, i.e. no row
    replaces it. The same test as ``revisions.current_where``, but the replaced revisions
    are listed once per query (from the small partial index of corrections) instead of
    looked up by a subquery run for every row."""
    return f"{alias}.revision_id not in (select replaces from {table} where replaces is not null)"


#: Each table's columns (SQL expressions, with ``as`` where the name is not the column's
#: own) and the rest of its query.
_QUERIES = {
    "contributions": (
        ("c.id", "c.revision_id", "c.revision", "c.replaces", "c.status", "c.kind",
         "c.workshop_id", "w.conversation_id", "c.participant_id", "p.code as participant_code",
         "c.idea_id", "c.prompt_id", "c.text", "c.language", "c.translation",
         "c.translation_language", "c.vote", "c.channel", "c.entered_by",
         "u.username as entered_by_name", "c.kiosk_id", "c.device_id", "c.created_at",
         "w.sample", "c.scan_page_id", "s.file_sha256 as scan_file_sha256",
         "s.page_index + 1 as scan_file_page", "s.form_id as scan_form_id",
         "s.serial as scan_sheet", "s.page as scan_sheet_page", "c.scan_region",
         "c.transcribed_by"),
        "from contributions c join workshops w on w.id = c.workshop_id"
        " left join users u on u.id = c.entered_by"
        " left join scan_pages s on s.id = c.scan_page_id"
        " left join participants p on p.id = c.participant_id"
        f" and {_latest('p', 'participants')}"
        "{joins} {where} order by c.created_at, c.revision",
    ),
    "participants": (
        ("p.id", "p.revision_id", "p.revision", "p.replaces", "p.workshop_id", "p.code",
         "p.channel", "p.language", "p.consent", "p.consent_at", "p.age_band",
         "p.ethnic_group", "p.disability", "p.sex", "p.gender_identity",
         "p.sexual_orientation", "p.postcode_district", "p.role", "p.entered_by",
         "u.username as entered_by_name", "p.kiosk_id", "p.device_id", "p.created_at",
         "s.form_id as paper_form_id", "s.serial as paper_sheet"),
        "from participants p left join users u on u.id = p.entered_by"
        " left join scan_sheets s on s.participant_id = p.id"
        "{joins} {where} order by p.created_at, p.revision",
    ),
    "ideas": (
        ("i.id", "i.conversation_id", "c.slug as conversation_slug", "i.position", "i.source",
         "i.text", "i.easy_read", "i.device_id", "i.created_at"),
        "from ideas i join conversations c on c.id = i.conversation_id"
        "{joins} order by c.created_at, i.position",
    ),
    "workshops": (
        ("w.id", "w.conversation_id", "w.title", "w.date", "w.postcode_district", "w.tags",
         "w.languages", "w.sample", "w.device_id", "w.created_at", "w.created_by",
         "(select group_concat(u.username, ';') from workshop_facilitators f"
         " join users u on u.id = f.user_id where f.workshop_id = w.id) as facilitators"),
        "from workshops w{joins} order by w.date, w.created_at",
    ),
    "exposures": (
        ("e.id", "e.participant_id", "e.idea_id", "e.workshop_id", "e.channel", "e.entered_by",
         "e.device_id", "e.created_at"),
        "from exposures e{joins} order by e.created_at",
    ),
}
#: Columns only for readers who may see demographic answers.
_DEMOGRAPHICS = ("p.age_band", "p.ethnic_group", "p.disability", "p.sex", "p.gender_identity",
                 "p.sexual_orientation", "p.postcode_district", "p.role")

#: The alias each table's query gives the table it exports, for joins added to it.
ALIASES = {"contributions": "c", "participants": "p", "ideas": "i", "workshops": "w",
           "exposures": "e"}


def select_sql(table: str, *, all_revisions: bool = False, demographics: bool = True,
               columns: tuple[str, ...] = (), joins: str = "", as_line: bool = False) -> str:
    """The SELECT behind one export table.

    An export that adds columns of its own gives them (``x.a as b``) and the joins they
    need (`` left join x on x.k = c.id``, with the table's alias from ``ALIASES``): they
    go into this query rather than around it, so its ORDER BY stays at the top, where
    SQLite can take the order from an index. (SQLite 3.40 drops the ORDER BY of a
    subquery that is joined to anything.) ``as_line`` selects each row as one value:
    see :func:`line_sql`.
    """
    if table not in TABLES:
        raise ValueError(table)
    where = ""
    if table in ("contributions", "participants") and not all_revisions:
        where = "where " + _latest(ALIASES[table], table)
    own, rest = _QUERIES[table]
    selected = [c for c in own if demographics or c not in _DEMOGRAPHICS] + list(columns)
    rest = rest.format(where=where, joins=joins)
    if as_line:
        return line_sql([c.rpartition(" as ")[0] or c for c in selected], rest)
    return f"select {', '.join(selected)} " + rest


def column_names(columns: list[str]) -> list[str]:
    """The names SQLite gives the columns ``x.a``, ``x.a as b``, ``expr as b``."""
    return [c.rpartition(" as ")[2] if " as " in c else c.rpartition(".")[2] for c in columns]


def names(table: str, *, demographics: bool = True, columns: tuple[str, ...] = ()) -> list[str]:
    """The header of one export table, as ``select_sql`` names its columns."""
    own, _ = _QUERIES[table]
    return column_names([c for c in own if demographics or c not in _DEMOGRAPHICS]
                        + list(columns))


#: A row selected by ``line_sql`` holds its values with VALUE_END between them and
#: LINE_END after the last. Neither byte occurs in UTF-8 text, which is all a column
#: here holds (SQLite stores text as given, and engage writes only Python strings).
VALUE_END = b"\xfe"
LINE_END = b"\xff"


def line_sql(expressions: list[str], rest: str) -> str:
    """``select <expressions> <rest>`` with each row as one value: its values as text (a
    NULL as nothing), separated by VALUE_END and ended by LINE_END, made in one printf.

    Writing CSV from that costs a program one value a row, not one per column: see
    :func:`engage.sync.exports.csv_lines` for the quoting. (The format is a blob cast to
    text: the SQL text itself must be UTF-8.)
    """
    layout = VALUE_END.join([b"%s"] * len(expressions)) + LINE_END
    return f"select printf(cast(x'{layout.hex()}' as text), {', '.join(expressions)}) {rest}"


def rows(
    table: str, *, all_revisions: bool = False, demographics: bool = True, db=None
) -> tuple[list[str], Iterator[dict]]:
    """The columns of one export table and its rows, read one at a time from a cursor.

    Only the latest revision of each record unless ``all_revisions``; demographic
    columns only when the reader may see them.
    """
    sql = select_sql(table, all_revisions=all_revisions, demographics=demographics)
    cursor = (db or get_db()).execute(sql)
    columns = [d[0] for d in cursor.description]
    return columns, (dict(zip(columns, values, strict=False)) for values in cursor)


def csv_chunks(columns: list[str], records: Iterator[dict]) -> Iterator[str]:
    """CSV text in chunks, header first, so a download starts at once."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for n, record in enumerate(records):
        writer.writerow(record)
        if n % 500 == 499:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def jsonl_chunks(records: Iterator[dict]) -> Iterator[str]:
    """JSON Lines; JSON-valued columns (texts per language, tags) stay structured."""
    batch = []
    for record in records:
        for key in ("text", "easy_read", "tags", "languages"):
            value = record.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    record[key] = json.loads(value)
        batch.append(json.dumps(record, ensure_ascii=False))
        if len(batch) >= 500:
            yield "\n".join(batch) + "\n"
            batch = []
    if batch:
        yield "\n".join(batch) + "\n"


def chunks(table: str, fmt: str, **options) -> Iterator[str]:
    if fmt not in FORMATS:
        raise ValueError(fmt)
    columns, records = rows(table, **options)
    return csv_chunks(columns, records) if fmt == "csv" else jsonl_chunks(records)


def stream(database_path: str, table: str, fmt: str, **options) -> Iterator[str]:
    """Chunks read on a connection of their own, so a long download outlives the request."""
    db = connect(database_path)
    try:
        yield from chunks(table, fmt, db=db, **options)
    finally:
        db.close()


def write_all(out_dir: Path, fmt: str, **options) -> list[Path]:
    """Write every export table into ``out_dir``; each file appears whole or not at all."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for table in TABLES:
        target = out_dir / f"{table}.{fmt}"
        partial = target.with_name(target.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as handle:
            for chunk in chunks(table, fmt, **options):
                handle.write(chunk)
        partial.replace(target)
        written.append(target)
    return written

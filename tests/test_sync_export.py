"""The hub's merged exports: rows in created order from an index, latest revisions only,
the same CSV from the sqlite3 shell and from Python, and the schema that makes them fast."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess

import pytest
from sync_support import (
    capture,
    context,
    enrol_laptop,
    make_hub,
    require_sqlite3_shell,
    transport,
)

from engage.data import export
from engage.db import connect, migrate
from engage.migrations import migrations
from engage.sync import exports, laptop


def export_rows(database: str, table: str, monkeypatch, shell: str, **options) -> list[dict]:
    if shell == "1":
        require_sqlite3_shell()
    monkeypatch.setenv("ENGAGE_EXPORT_SHELL", shell)
    text = b"".join(c if isinstance(c, bytes) else c.encode() for c in
                    exports.stream(database, table, "csv", **options)).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


#: Python's own CSV writer, and the sqlite3 shell's (where it is installed).
PATHS = ["0", "1"]


@pytest.fixture(scope="module")
def hub_of_two(tmp_path_factory):
    """A hub that received the later laptop's rows first: the order rows were stored in
    is not the order they were made in."""
    tmp = tmp_path_factory.mktemp("two")
    hub_app = make_hub(tmp / "hub")
    first = enrol_laptop(tmp / "first", hub_app, "First laptop")
    second = enrol_laptop(tmp / "second", hub_app, "Second laptop")
    capture(first, participants=2, seed=1)
    capture(second, participants=2, seed=2)
    for lap in (second, first):
        with context(lap):
            laptop.push(transport=transport(hub_app))
    return hub_app, first, second


@pytest.mark.parametrize("shell", PATHS)
def test_hub_exports_rows_in_the_order_they_were_made(hub_of_two, monkeypatch, shell):
    hub_app, first, second = hub_of_two
    database = hub_app.config["DATABASE"]
    for table in ("contributions", "participants"):
        rows = export_rows(database, table, monkeypatch, shell)
        made = [(r["created_at"], int(r["revision"])) for r in rows]
        assert made == sorted(made), table
        laptops = [r["sync_laptop"] for r in rows]
        assert laptops == sorted(laptops, key=["First laptop", "Second laptop"].index), table
    with sqlite3.connect(database) as db:
        stored = [r[0] for r in db.execute(
            "select d.name from contributions c join received r on r.key = c.revision_id"
            " join batches b on b.batch_id = r.batch_id join devices d on d.id = b.device_id"
            " order by c.rowid")]
    assert stored[0] == "Second laptop"  # stored in the other order


def test_exports_stream_from_the_index_without_sorting(hub_of_two):
    hub_app, _, _ = hub_of_two
    db = connect(hub_app.config["DATABASE"])
    try:
        for table in ("contributions", "participants", "exposures"):
            for as_line in (False, True):
                sql, params = exports.select(table, as_line=as_line)
                plan = " | ".join(r[3] for r in db.execute(f"explain query plan {sql}", params))
                assert "TEMP B-TREE" not in plan, (table, plan)
                assert "USING INDEX" in plan.split(" | ")[0], (table, plan)
    finally:
        db.close()


@pytest.mark.parametrize("shell", PATHS)
def test_hub_exports_latest_revisions_unless_all_are_asked_for(hub_of_two, monkeypatch, shell):
    hub_app, first, second = hub_of_two
    database = hub_app.config["DATABASE"]
    latest = export_rows(database, "contributions", monkeypatch, shell)
    every = export_rows(database, "contributions", monkeypatch, shell, all_revisions=True)
    ideas = [r for r in latest if r["kind"] == "idea"]
    assert len(ideas) == 4 and all(", " in r["text"] and r["revision"] == "2" for r in ideas)
    assert len(every) == len(latest) + 4
    # The participant's code comes from their latest revision (consent made a second).
    assert all(r["participant_code"] for r in latest)
    assert all(r["sync_batch_id"] and r["sync_via"] == "network" and r["sync_received_at"]
               for r in every)
    people = export_rows(database, "participants", monkeypatch, shell)
    assert len(people) == 4 and all(r["consent"] == "1" for r in people)


def export_bytes(database: str, table: str, monkeypatch, shell: str, **options) -> bytes:
    if shell == "1":
        require_sqlite3_shell()
    monkeypatch.setenv("ENGAGE_EXPORT_SHELL", shell)
    return b"".join(c if isinstance(c, bytes) else c.encode() for c in
                    exports.stream(database, table, "csv", **options))


def test_shell_and_python_write_the_same_bytes_as_the_csv_module(hub_of_two, monkeypatch):
    hub_app, _, _ = hub_of_two
    database = hub_app.config["DATABASE"]
    db = connect(database)
    try:
        for table in exports.TABLES:
            for options in ({}, {"all_revisions": True}, {"demographics": False}):
                if table in exports.LAPTOP_TABLES or not options:
                    cursor = exports.cursor_for(db, table, **options)
                    expected = reference_csv(cursor.fetchall(), [d[0] for d in cursor.description])
                    for shell in PATHS:
                        assert export_bytes(database, table, monkeypatch, shell, **options) == (
                            expected), (table, options, shell)
    finally:
        db.close()


AWKWARD = ["plain", "", None, "a, b", 'say "hi"', "two\nlines", "cr\ronly", "crlf\r\nend",
           '"', ",", "  spaced  ", "Chciałabym wizytę", "None", 7, 0, -3, 2.5,
           "لا أستطيع الوصول إلى العيادة، الحافلة لا تأتي", "שלום, \"עולם\"", "\u200f,\u200e",
           "ਮੈਨੂੰ\r\n", "\t tab", "'single'", "\ufeffbom", "emoji 🚌,"]


def reference_csv(rows: list[tuple], header: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    """A database with one table of awkward values, in every column position."""
    path = tmp_path_factory.mktemp("awkward") / "awkward.db"
    db = sqlite3.connect(path)
    names = [f"c{n}" for n in range(5)]
    db.execute(f"create table t ({', '.join(names)})")
    rows = [tuple(AWKWARD[(i * 7 + k) % len(AWKWARD)] for k in range(5)) for i in range(5000)]
    rows += [tuple("x" for _ in range(5))] * 3000  # whole runs needing no quotes
    rows += [tuple(AWKWARD[(i + k) % len(AWKWARD)] for k in range(5))
             for i in range(len(AWKWARD))]
    db.executemany("insert into t values (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()
    return path


@pytest.mark.parametrize("columns", [1, 2, 5])
@pytest.mark.parametrize("shell", PATHS)
def test_csv_is_byte_for_byte_what_the_csv_module_writes(awkward, monkeypatch, columns,
                                                         shell):
    monkeypatch.setenv("ENGAGE_EXPORT_SHELL", shell)
    names = [f"c{n}" for n in range(columns)]
    sql = f"select {', '.join(names)} from t order by rowid"
    db = connect(awkward)
    try:
        expected = reference_csv(db.execute(sql).fetchall(), names)
        line = export.line_sql(names, "from t order by rowid")
        if shell == "1":
            pieces = exports.shell_lines(require_sqlite3_shell(), str(awkward), line)
        else:
            pieces = exports.python_lines(db, line)
        written = exports.header(names) + b"".join(exports.csv_lines(pieces, columns))
    finally:
        db.close()
    assert written == expected


def test_csv_reads_back_as_the_sqlite3_shell_writes_it(awkward, monkeypatch):
    """The shell quotes more (spaces, any non-ASCII), but the values read back the same."""
    sqlite3_shell = require_sqlite3_shell()
    monkeypatch.setenv("ENGAGE_EXPORT_SHELL", "0")
    names = [f"c{n}" for n in range(5)]
    db = connect(awkward)
    try:
        ours = exports.header(names) + b"".join(exports.csv_lines(
            exports.python_lines(db, export.line_sql(names, "from t order by rowid")), 5))
    finally:
        db.close()
    shell = subprocess.run([sqlite3_shell, "-csv", "-header", str(awkward),
                            "select * from t order by rowid"], capture_output=True,
                           check=True).stdout
    assert ours != shell
    read = lambda data: list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))  # noqa: E731
    assert read(ours) == read(shell)


@pytest.mark.parametrize("value", [b"\xfe", b"\xff", b"\xfe\xff", b"a\xff\xfe"])
def test_a_value_that_is_not_utf8_text_is_refused_not_written_wrong(tmp_path, value):
    db = connect(tmp_path / "blob.db")
    try:
        db.execute("create table t (a, b)")
        db.execute("insert into t values ('fine', ?)", [value])
        with pytest.raises(ValueError, match="not UTF-8"):
            list(exports.csv_lines(exports.python_lines(
                db, export.line_sql(["a", "b"], "from t")), 2))
    finally:
        db.close()


def test_migration_0007_keys_received_by_row_and_keeps_every_row(tmp_path):
    db = connect(tmp_path / "old.db")
    migrations.apply(db, stop_before="0007_export_indexes")
    db.execute("insert into received (tbl, key, batch_id) values ('contributions', 'k1', 'b1'),"
               " ('participants', 'k1', 'b1'), ('contributions', 'k2', 'b2')")
    db.conn.commit()
    migrate(db)
    assert sorted(db.execute("select tbl, key, batch_id from received").fetchall()) == [
        ("contributions", "k1", "b1"), ("contributions", "k2", "b2"),
        ("participants", "k1", "b1")]
    assert [r[0] for r in db.execute("select name from pragma_index_info("
                                     "(select name from pragma_index_list('received')"
                                     " where origin = 'pk'))")] == ["key", "tbl"]
    indexes = {r[0]: r[1] for r in db.execute(
        "select name, sql from sqlite_master where type = 'index' and sql is not null")}
    assert "contributions(created_at, revision)" in indexes["contributions_created"]
    assert "participants(created_at, revision)" in indexes["participants_created"]
    for table in ("contributions", "participants"):
        assert "where replaces is not null" in indexes[f"{table}_replaces"]
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("insert into received (tbl, key, batch_id) values ('contributions', 'k1', 'b9')")

"""Read-only access to the published database: opening it, and ad-hoc SQL shown for the
terminal or exported as CSV, JSON, Parquet or Markdown."""

from __future__ import annotations

import contextlib
import io
import os
import threading
from pathlib import Path
from typing import BinaryIO

import duckdb

from cjm.db import connect, quote_ident, sql_literal


class QueryError(RuntimeError):
    """A query that cannot run: missing file, a write attempt, or bad SQL."""


def open_published(
    db_path: Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the published file read-only, with a clear error if it is not there."""
    if not db_path.exists():
        raise QueryError(f"{db_path}: no published database here; run `cjm run` first")
    try:
        return connect(
            db_path,
            read_only=True,
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
        )
    except duckdb.Error as exc:
        raise QueryError(f"{db_path}: cannot open read-only: {exc}") from None


def _query_message(exc: duckdb.Error) -> str:
    message = str(exc).strip().splitlines()[0]
    if "read-only" in message.lower() or "read only" in message.lower():
        message += " (cjm query is read-only; the pipeline is the only writer)"
    return message


EXPORT_FORMATS = ("csv", "json", "parquet", "markdown")
# How DuckDB's COPY writes each format; json is one array of objects, as `--format json` always was.
COPY_OPTIONS = {
    "csv": "format csv, header true",
    "json": "format json, array true",
    "parquet": "format parquet",
}
MARKDOWN_BATCH = 10_000


def _relation(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
    # DuckDB draws its progress bar on stdout, where a csv or json export may be going.
    con.execute("set enable_progress_bar = false")
    try:
        relation = con.sql(sql)
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None
    if relation is None:
        raise QueryError("cjm query shows the rows of one query (select, with, from, show, ...)")
    return relation


def _clip_text(relation: duckdb.DuckDBPyRelation, width: int) -> duckdb.DuckDBPyRelation:
    """The relation with its text cells cut to `width` characters (an ellipsis marks a cut)."""
    columns = []
    for name, column_type in zip(relation.columns, relation.types, strict=True):
        ident = quote_ident(name)
        if str(column_type).upper() == "VARCHAR":
            columns.append(
                f"case when length({ident}) > {width} "
                f"then left({ident}, {width - 1}) || '\u2026' else {ident} end as {ident}"
            )
        else:
            columns.append(ident)
    return relation.project(", ".join(columns))


def show_query(
    db_path: Path,
    sql: str,
    *,
    max_rows: int,
    max_col_width: int,
    max_width: int | None = None,
) -> str:
    """The first `max_rows` rows of a read-only query drawn by DuckDB, and how many more exist."""
    con = open_published(db_path)
    try:
        return show_rows(
            con, sql, max_rows=max_rows, max_col_width=max_col_width, max_width=max_width
        )
    finally:
        con.close()


def show_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    max_rows: int,
    max_col_width: int,
    max_width: int | None = None,
) -> str:
    """show_query on an open connection (whose variables the SQL may read)."""
    if max_rows < 1 or max_col_width < 2:
        raise QueryError("--max-rows must be at least 1 and --max-col-width at least 2")
    relation = _relation(con, sql)
    shown = _clip_text(relation.limit(max_rows), max_col_width)
    try:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            shown.show(max_rows=max_rows, max_width=max_width)
        # Only the head is drawn; the rest is counted, never fetched.
        total = relation.aggregate("count(*)").fetchall()[0][0]
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None
    text = buffer.getvalue().rstrip("\n")
    if total > max_rows:
        text += (
            f"\n{total - max_rows:,} more rows ({total:,} in all; --max-rows N shows more, "
            "--format csv|json|parquet|markdown writes all)"
        )
    return text


def export_query(db_path: Path, sql: str, fmt: str, out: Path | None, stream: BinaryIO) -> None:
    """Write every row of a read-only query as csv, json, parquet or markdown, to `out` or, for
    the text formats, to `stream`, without holding the result in memory."""
    _check_export(fmt, out)
    con = open_published(db_path)
    try:
        export_rows(con, sql, fmt, out, stream)
    finally:
        con.close()


def _check_export(fmt: str, out: Path | None) -> None:
    if fmt not in EXPORT_FORMATS:
        raise QueryError(f"unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    if out is None and fmt == "parquet":
        raise QueryError("--format parquet writes a file: give --out FILE.parquet")


def export_rows(
    con: duckdb.DuckDBPyConnection, sql: str, fmt: str, out: Path | None, stream: BinaryIO
) -> None:
    """export_query on an open connection (whose variables the SQL may read)."""
    _check_export(fmt, out)
    relation = _relation(con, sql)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    try:
        if fmt == "markdown":
            if out is None:
                _write_markdown(con, relation, stream)
            else:
                with out.open("wb") as handle:
                    _write_markdown(con, relation, handle)
        elif out is not None:
            _copy(con, relation, fmt, str(out))
        else:
            _copy_to_stream(con, relation, fmt, stream)
    except duckdb.Error as exc:
        raise QueryError(_query_message(exc)) from None


def _copy(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, fmt: str, path: str
) -> None:
    # COPY of the relation's own SQL: DuckDB's writers, streaming, in the query's row order.
    query = _statement(relation)
    con.execute(f"copy (\n{query}\n) to {sql_literal(path)} ({COPY_OPTIONS[fmt]})")


def _statement(relation: duckdb.DuckDBPyRelation) -> str:
    # The relation's SQL wrapped as a subquery: DuckDB drops the user's trailing `;` and comments.
    return relation.project("*").sql_query()


def _copy_to_stream(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, fmt: str, stream: BinaryIO
) -> None:
    """COPY into a pipe that a thread drains into `stream`, so stdout gets DuckDB's own output
    as it is written (COPY to /dev/stdout would seek and overwrite when stdout is a file)."""
    read_end, write_end = os.pipe()
    failure: list[BaseException] = []

    def pump() -> None:
        with os.fdopen(read_end, "rb") as source:
            while chunk := source.read(1 << 16):
                try:
                    stream.write(chunk)
                except BrokenPipeError as exc:
                    # The reader (head, less) has gone: closing our end stops DuckDB's writes too.
                    failure.append(exc)
                    return

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    try:
        _copy(con, relation, fmt, f"/dev/fd/{write_end}")
    except duckdb.Error:
        if not failure:
            raise
    finally:
        os.close(write_end)
        thread.join()
    if failure:
        raise failure[0]
    stream.flush()


def _markdown_cell(value: object) -> str:
    text = "NULL" if value is None else str(value)
    return (
        text.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", "<br>").replace("\n", "<br>")
    )


def _write_markdown(
    con: duckdb.DuckDBPyConnection, relation: duckdb.DuckDBPyRelation, handle: BinaryIO
) -> None:
    """A GitHub-flavoured Markdown table of every row, fetched in batches."""
    numeric = [
        t.upper() in NUMERIC_TYPES or t.upper().startswith("DECIMAL")
        for t in map(str, relation.types)
    ]
    header = "| " + " | ".join(_markdown_cell(c) for c in relation.columns) + " |\n"
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|\n"
    handle.write((header + rule).encode("utf-8"))
    result = con.execute(_statement(relation))
    while rows := result.fetchmany(MARKDOWN_BATCH):
        lines = ["| " + " | ".join(_markdown_cell(v) for v in row) + " |\n" for row in rows]
        handle.write("".join(lines).encode("utf-8"))
    handle.flush()


NUMERIC_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
}

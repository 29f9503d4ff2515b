"""DuckDB connection and table helpers shared by the pipeline steps."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # only typed here: the checks before a run must not wait for pandas to import
    import pandas as pd


def connect(
    path: Path | str = ":memory:",
    *,
    read_only: bool = False,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | str | None = None,
    storage_version: str | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the session settings every cjm step relies on (UTC timestamps, the exact
    aggregate macros); `storage_version` is the format a file created by this connection is
    written in."""
    # Only a new file takes it: an existing file keeps the format it was created with.
    options = {"storage_compatibility_version": storage_version} if storage_version else {}
    con = duckdb.connect(str(path), read_only=read_only, config=options)
    con.execute("set TimeZone = 'UTC'")
    create_exact_aggregates(con)
    if threads:
        con.execute("set threads = ?", [int(threads)])
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
    if temp_directory:
        con.execute("set temp_directory = ?", [str(temp_directory)])
    return con


# Exact sums and means for published doubles: DECIMAL addition is exact, so the result does not
# depend on how threads split and combine the rows, and two runs over the same files agree to the
# bit. Groups holding a value DECIMAL(27, 12) cannot (NaN, infinities, beyond 1e14) keep the
# double aggregate; the try_cast keeps such values from failing the exact aggregate that is not
# used. A macro's aggregates are those of the grouped query it is used in; for only some rows,
# pass `case when condition then x end` (the same values as `filter (where condition)`).
EXACT_AGGREGATES = (
    """
    create or replace temp macro cjm_exact_sum(x) as
        case
            when max(abs(x)) < 1e14 then cast(sum(try_cast(x as decimal(27, 12))) as double)
            else sum(x)
        end
    """,
    """
    create or replace temp macro cjm_exact_avg(x) as
        case
            when max(abs(x)) < 1e14 then avg(try_cast(x as decimal(27, 12)))
            else avg(x)
        end
    """,
)


def create_exact_aggregates(con: duckdb.DuckDBPyConnection) -> None:
    """Define cjm_exact_sum and cjm_exact_avg (EXACT_AGGREGATES) on `con`.

    Temp macros belong to one connection (not its cursors) and work on a read-only one. They are
    created where the queries that use them get their connection: by connect, which opens every
    connection of the pipeline (the models, personas, churn and readers of a published file), and
    by cjm.build.parameters.set_parameters, which readies any connection, even a plain
    duckdb.connect(), to run the SQL models."""
    for statement in EXACT_AGGREGATES:
        con.execute(statement)


def open_if_exists(path: Path, *, unreadable_ok: bool = False) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to `path`; None when there is no file (or, with `unreadable_ok`,
    when it cannot be opened), for readers of the previously published file."""
    if not path.exists():
        return None
    try:
        return connect(path, read_only=True)
    except duckdb.Error:
        if unreadable_ok:
            return None
        raise


def storage_version(con: duckdb.DuckDBPyConnection, database: str | None = None) -> str:
    """The storage format of an attached database (default: the connection's own), e.g. v1.4.0."""
    row = con.execute(
        "select tags['storage_version'] from duckdb_databases() "
        "where database_name = coalesce(?, current_database())",
        [database],
    ).fetchone()
    return (row[0] or "").rstrip("+") if row else ""


def copy_database(source: Path, target: Path, version: str) -> None:
    """Copy a DuckDB file to `target` (replaced) written in storage format `version`: a byte copy
    when the source already has that format (or `version` is "latest", which any file meets),
    else every object copied into a new file."""
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute("set enable_progress_bar = false")  # it would draw on the run's stdout
        con.execute(f"attach {sql_literal(str(source))} as cjm_source (read_only)")
        current = storage_version(con, "cjm_source")
        if version in (current, "latest"):
            con.close()
            shutil.copyfile(source, target)
            return
        con.execute(
            f"attach {sql_literal(str(target))} as cjm_target "
            f"(storage_version {sql_literal(version)})"
        )
        con.execute("copy from database cjm_source to cjm_target")
        con.execute("detach cjm_target")
    finally:
        con.close()


def sql_literal(value: str) -> str:
    """Quote a string as a SQL literal, for the few places DuckDB takes no parameter."""
    return "'" + value.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB so any column name from a file or config is safe."""
    return '"' + name.replace('"', '""') + '"'


def write_table(con: duckdb.DuckDBPyConnection, name: str, df: pd.DataFrame) -> None:
    """Create or replace table `name` from a DataFrame."""
    # A cursor of its own: registering on `con` fails while it holds a half-read result.
    cursor = con.cursor()
    try:
        cursor.register("_cjm_frame", df)
        cursor.execute(f"create or replace table {quote_ident(name)} as select * from _cjm_frame")
        cursor.unregister("_cjm_frame")
    finally:
        cursor.close()


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether a table or view of that name exists in the main schema."""
    row = con.execute(
        "select count(*) from information_schema.tables where table_name = ?", [name]
    ).fetchone()
    return bool(row and row[0])

"""DuckDB connection and table helpers shared by the pipeline steps."""

from __future__ import annotations

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
) -> duckdb.DuckDBPyConnection:
    """Open DuckDB with the session settings every cjm step relies on (UTC timestamps)."""
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("set TimeZone = 'UTC'")
    if threads:
        con.execute("set threads = ?", [int(threads)])
    if memory_limit:
        con.execute("set memory_limit = ?", [memory_limit])
    if temp_directory:
        con.execute("set temp_directory = ?", [str(temp_directory)])
    return con


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

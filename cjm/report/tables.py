"""Which published tables and columns the report can use: every section checks before it reads,
so a database from an older run, or a log without optional columns, still gets a report."""

from __future__ import annotations

import duckdb

from cjm.db import quote_ident


def table_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Each table of the main schema and its columns."""
    rows = con.execute(
        "select table_name, column_name from information_schema.columns where table_schema = 'main'"
    ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def has_columns(columns: dict[str, set[str]], table: str, *needed: str) -> bool:
    """Whether `table` exists with every one of the `needed` columns."""
    return table in columns and set(needed) <= columns[table]


def count_rows(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The number of rows of `table`."""
    return int(con.execute(f"select count(*) from {quote_ident(table)}").fetchone()[0])

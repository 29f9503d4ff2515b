"""Compare published databases table by table, as multisets of row hashes."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd

# Tables about runs rather than about the data: they name run ids and wall-clock times, or (the
# transition and persona ones) keep each run's history or compare a run with the run before it,
# so a sequence of runs and a single rebuild differ in them by design.
RUN_METADATA_TABLES = {
    "pipeline_runs",
    "loaded_files",
    "transition_history",
    "transition_changes",
    "persona_history",
    "persona_migrations",
    "persona_centroids",
}


def _cell(value) -> str:
    """A value as text; doubles to 12 significant digits and 12 decimals, so the order of a
    floating-point sum cannot matter (a mean of values that cancel is 6e-18 one way, 2e-17 the
    other)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "<null>"
    if isinstance(value, float):
        return f"{round(value, 12) + 0.0:.12g}"
    return str(value)


def table_hashes(db: Path) -> dict[str, Counter]:
    """Every table as a multiset of row hashes (row order is not part of a table's content)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        result = {}
        for table in tables:
            frame = con.execute(f'select * from "{table}"').df()
            rows = frame.astype(object).itertuples(index=False, name=None)
            result[table] = Counter(
                hashlib.sha256("\x1f".join(map(_cell, row)).encode()).hexdigest() for row in rows
            )
        return result
    finally:
        con.close()


def _rows(db: Path, table: str) -> Counter:
    con = duckdb.connect(str(db), read_only=True)
    try:
        frame = con.execute(f'select * from "{table}"').df()
    finally:
        con.close()
    return Counter(tuple(map(_cell, row)) for row in frame.astype(object).itertuples(index=False))


def differing_rows(first: Path, second: Path, table: str) -> tuple[list, list]:
    """The rows of `table` only in the first database, and only in the second."""
    a, b = _rows(first, table), _rows(second, table)
    return list((a - b).elements()), list((b - a).elements())


def data_table_differences(first: Path, second: Path) -> tuple[list[str], dict[str, tuple]]:
    """The data tables two databases both hold (all but RUN_METADATA_TABLES), and for each that
    differs the first few rows only in the first and only in the second."""
    a, b = table_hashes(first), table_hashes(second)
    assert set(a) == set(b), f"different tables: {sorted(set(a) ^ set(b))}"
    compared = sorted(set(a) - RUN_METADATA_TABLES)
    differing = {}
    for table in compared:
        if a[table] != b[table]:
            only_first, only_second = differing_rows(first, second, table)
            differing[table] = (only_first[:3], only_second[:3])
    return compared, differing

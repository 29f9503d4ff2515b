"""Read-only access to the published database: ad-hoc SQL and the churn-risk list."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pandas as pd

from cjm.db import connect

# Spreadsheet apps run a cell that starts with one of these as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class QueryError(RuntimeError):
    """A query that cannot run: missing file, a write attempt, or bad SQL."""


def open_published(db_path: Path) -> duckdb.DuckDBPyConnection:
    """Open the published file read-only, with a clear error if it is not there."""
    if not db_path.exists():
        raise QueryError(f"{db_path}: no published database here; run `cjm run` first")
    try:
        return connect(db_path, read_only=True)
    except duckdb.Error as exc:
        raise QueryError(f"{db_path}: cannot open read-only: {exc}") from None


def run_query(db_path: Path, sql: str) -> pd.DataFrame:
    """Run one SQL statement read-only and return its rows."""
    con = open_published(db_path)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()[0]
        if "read-only" in message.lower() or "read only" in message.lower():
            message += " (cjm query is read-only; the pipeline is the only writer)"
        raise QueryError(message) from None
    finally:
        con.close()


def write_churn_list(
    db_path: Path, out: Path, top: int | None = None, tiers: list[str] | None = None
) -> int:
    """Write churn_risk, riskiest first, to CSV or Parquet by the file extension."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise QueryError(f"{out}: use a .csv or .parquet file name")
    con = open_published(db_path)
    try:
        sql = "select * from churn_risk"
        params: list = []
        if tiers:
            sql += " where risk_tier in (select unnest(?::varchar[]))"
            params.append(list(tiers))
        sql += " order by risk_score desc, customer_id"
        if top is not None:
            sql += " limit ?"
            params.append(int(top))
        try:
            frame = con.execute(sql, params).df()
        except duckdb.CatalogException:
            raise QueryError(f"{db_path}: has no churn_risk table; re-run `cjm run`") from None
    finally:
        con.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        # Text always quoted: a bare carriage return in a value would otherwise split the row.
        escape_formulas(frame).to_csv(out, index=False, quoting=csv.QUOTE_NONNUMERIC)
    else:
        frame.to_parquet(out, index=False)
    return len(frame)


def escape_formula(value: object) -> object:
    """Prefix text a spreadsheet would run as a formula with a quote, so it shows as text."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells cannot run as formulas when opened as CSV."""
    frame = frame.copy()
    for column in frame.columns:
        if not (pd.api.types.is_numeric_dtype(frame[column]) or _is_time(frame[column])):
            frame[column] = frame[column].map(escape_formula)
    return frame


def _is_time(series: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(series) or isinstance(
        series.dtype, pd.DatetimeTZDtype
    )

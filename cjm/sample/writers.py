"""Writing the event files: CSV, JSON Lines and Parquet, byte-identical on every platform."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

OUT_COLUMNS = (
    "event_id",
    "customer_id",
    "anonymous_id",
    "event_time",
    "touchpoint",
    "channel",
    "revenue",
    "sentiment",
    "device",
    "page",
)
CSV_FILE = "events_web.csv"
JSONL_FILE = "events_app.jsonl"
PARQUET_FILE = "events_store.parquet"
# Sorted by name, which is the order the ingestion reads them: a duplicate always comes after its
# original in this order, so "first occurrence wins" gives exactly the planted counts.
EVENT_FILES = (JSONL_FILE, PARQUET_FILE, CSV_FILE)
FILE_SHARES = (0.28, 0.36, 0.36)


def objects(values: list | np.ndarray) -> pd.Series:
    """An object column, so that None stays None (pandas would turn a str column's None to NaN)."""
    return pd.Series(list(values), dtype=object)


def csv_lines(rows: pd.DataFrame) -> list[str]:
    """Rows as CSV lines without a header (None empty, floats with 2 decimals)."""
    text = pd.DataFrame({c: rows[c].map(_csv_cell) for c in OUT_COLUMNS}).to_csv(
        index=False, header=False, lineterminator="\n"
    )
    return text.splitlines()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def json_line(values: tuple) -> str:
    """One row as a compact JSON object, without its None fields."""
    record = {c: v for c, v in zip(OUT_COLUMNS, values, strict=True) if v is not None}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _write_csv(rows: pd.DataFrame, path: Path) -> None:
    """The CSV file: a header, then each row (or its raw broken line)."""
    raw = rows["_raw"].notna().to_numpy()
    lines = np.empty(len(rows), dtype=object)
    lines[~raw] = csv_lines(rows[~raw])
    lines[raw] = rows.loc[raw, "_raw"].to_numpy()
    write_lines(path, [",".join(OUT_COLUMNS), *lines])


def _write_jsonl(rows: pd.DataFrame, path: Path) -> None:
    """The JSON Lines file: each row (or its raw broken line)."""
    lines = [
        raw if raw is not None else json_line(values)
        for raw, values in zip(
            rows["_raw"], rows[list(OUT_COLUMNS)].itertuples(index=False), strict=True
        )
    ]
    write_lines(path, lines)


def write_lines(path: Path, lines: list[str]) -> None:
    """Write text lines, each ending in a newline."""
    # "\n" on every platform, so the committed sample is byte-identical wherever it is rebuilt.
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{line}\n" for line in lines)


PARQUET_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("touchpoint", pa.string()),
        ("channel", pa.string()),
        ("revenue", pa.float64()),
        ("sentiment", pa.float64()),
        ("device", pa.string()),
        ("page", pa.string()),
    ]
)


def _write_parquet(rows: pd.DataFrame, path: Path) -> None:
    """The Parquet file, typed by PARQUET_SCHEMA (times in UTC)."""
    columns = {}
    for field in PARQUET_SCHEMA:
        values = rows[field.name].tolist()
        if field.name == "event_time":
            micros = pa.array([None if v is None else v * 1_000_000 for v in values], pa.int64())
            columns[field.name] = micros.cast(field.type)
        else:
            columns[field.name] = pa.array(values, field.type)
    pq.write_table(pa.table(columns, schema=PARQUET_SCHEMA), path, compression="zstd")


def write_event_file(rows: pd.DataFrame, path: Path) -> None:
    """Write an event file in the format its name says (one of EVENT_FILES)."""
    {CSV_FILE: _write_csv, JSONL_FILE: _write_jsonl, PARQUET_FILE: _write_parquet}[path.name](
        rows, path
    )

"""The messy rows planted in the files: duplicates, and broken rows with exactly one defect."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.rows import clean_rows
from cjm.sample.writers import (
    CSV_FILE,
    JSONL_FILE,
    OUT_COLUMNS,
    PARQUET_FILE,
    csv_lines,
    json_line,
    objects,
)

DUPLICATE_RATE = 0.006
CROSS_FILE_DUPLICATES = 0.3
REJECT_RATE = 0.0018  # per kind of broken field
BAD_TIMES = ("not a date", "2026-13-45T25:00:00", "2026-02-30T10:00:00Z")
BAD_SENTIMENTS = (4.5, -3.0, 7.0, 1.5)
REJECT_KINDS = {
    CSV_FILE: (
        "bad_time",
        "missing_ids",
        "blank_touchpoint",
        "bad_revenue",
        "bad_sentiment",
        "broken_line",
    ),
    JSONL_FILE: (
        "bad_time",
        "missing_ids",
        "blank_touchpoint",
        "bad_revenue",
        "bad_sentiment",
        "invalid_json",
    ),
    # A typed file cannot hold a text timestamp or text revenue; a null time is its broken time.
    PARQUET_FILE: ("missing_time", "missing_ids", "blank_touchpoint", "bad_sentiment"),
}
RAW_KINDS = ("broken_line", "invalid_json")


def rejected(kinds: dict[str, int]) -> int:
    """Broken rows among the planted counts of a file (every kind but duplicates)."""
    return sum(n for kind, n in kinds.items() if kind != "duplicate")


def duplicate_rows(
    rows: pd.DataFrame, earlier: pd.DataFrame, text: bool, rng: np.random.Generator
) -> list[pd.DataFrame]:
    """Copies of this file's rows, and of events written to the files read before it."""
    n = len(rows)
    n_dup = max(2, round(DUPLICATE_RATE * n))
    n_cross = min(round(CROSS_FILE_DUPLICATES * n_dup), len(earlier))
    pick = rng.choice(n, min(n, n_dup - n_cross), replace=False)
    dup = rows.iloc[pick].copy()
    # After its original, so that keeping the first occurrence keeps the original.
    key = rows["_key"].to_numpy()[pick]
    dup["_key"] = key + 0.5 + rng.random(len(pick)) * (n - key - 0.5)
    cross = clean_rows(earlier.iloc[rng.choice(len(earlier), n_cross, replace=False)], text, rng)
    cross["_key"] = rng.random(n_cross) * n
    return [dup, cross]


def broken_rows(
    name: str, rows: pd.DataFrame, used_ids: set[str], rng: np.random.Generator
) -> dict[str, pd.DataFrame]:
    """Broken rows of every kind the file `name` can hold, placed anywhere in it, by kind."""
    n = len(rows)
    broken = {}
    for kind in REJECT_KINDS[name]:
        count = (3 if n >= 5000 else 2) if kind in RAW_KINDS else max(1, round(REJECT_RATE * n))
        bad = _corrupt(kind, rows, count, used_ids, rng)
        bad["_key"] = rng.random(len(bad)) * n
        broken[kind] = bad
    return broken


def _fresh_ids(count: int, used: set[str], rng: np.random.Generator) -> list[str]:
    """Event ids never used before, so a broken row is never also a duplicate."""
    fresh: list[str] = []
    while len(fresh) < count:
        candidate = f"ev{rng.integers(0, 16**10):010x}"
        if candidate not in used:
            used.add(candidate)
            fresh.append(candidate)
    return fresh


def _corrupt(
    kind: str, rows: pd.DataFrame, count: int, used: set[str], rng: np.random.Generator
) -> pd.DataFrame:
    """`count` copies of clean rows, each with a new event id and exactly one defect."""
    bad = rows.iloc[_rows_to_break(kind, rows, count, rng)].copy()
    bad = bad.reset_index(drop=True)
    bad["event_id"] = objects(_fresh_ids(count, used, rng))
    alternate = np.arange(count) % 2 == 0
    if kind == "bad_time":
        bad["event_time"] = objects([str(v) for v in rng.choice(BAD_TIMES, count)])
    elif kind == "missing_time":
        bad["event_time"] = None
    elif kind == "missing_ids":
        bad["customer_id"] = objects(np.where(alternate, "", None))
        bad["anonymous_id"] = objects(np.where(alternate, None, ""))
    elif kind == "blank_touchpoint":
        bad["touchpoint"] = objects(np.where(alternate, "", "   "))
    elif kind == "bad_revenue":
        amounts = [v if v is not None else 12.5 for v in bad["revenue"]]
        bad["revenue"] = objects([f"{v:.2f}".replace(".", ",") + " EUR" for v in amounts])
    elif kind == "bad_sentiment":
        bad["sentiment"] = objects([float(v) for v in rng.choice(BAD_SENTIMENTS, count)])
    elif kind == "broken_line":
        bad["_raw"] = objects(_broken_lines(bad, alternate))
    elif kind == "invalid_json":
        bad["_raw"] = objects(_invalid_json(bad, alternate))
    else:
        raise ValueError(f"unknown defect {kind!r}")
    return bad


def _rows_to_break(
    kind: str, rows: pd.DataFrame, count: int, rng: np.random.Generator
) -> np.ndarray:
    """Positions of the rows to copy: rows that have the field a defect spoils, where any do."""
    pool = np.arange(len(rows))
    if kind == "bad_revenue":
        pool = (
            np.flatnonzero(rows["revenue"].notna().to_numpy())
            if rows["revenue"].notna().any()
            else pool
        )
    if kind == "bad_sentiment":
        has = rows["sentiment"].notna().to_numpy()
        pool = np.flatnonzero(has) if has.any() else pool
    return rng.choice(pool, count, replace=count > len(pool))


def _broken_lines(bad: pd.DataFrame, alternate: np.ndarray) -> list[str]:
    """CSV lines with too many fields: an unquoted comma inside a value, or a trailing field."""
    return [
        line.replace(",/", ",/search?q=red,shoes&x=/", 1) if a and ",/" in line else line + ",?"
        for line, a in zip(csv_lines(bad), alternate, strict=True)
    ]


def _invalid_json(bad: pd.DataFrame, alternate: np.ndarray) -> list[str]:
    """JSON lines cut in half, or written with single quotes."""
    lines = [json_line(r) for r in bad[list(OUT_COLUMNS)].itertuples(index=False)]
    return [
        line[: len(line) // 2] if a else line.replace('"', "'")
        for line, a in zip(lines, alternate, strict=True)
    ]

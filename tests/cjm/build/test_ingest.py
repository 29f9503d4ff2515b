"""Reading CSV, JSON Lines and Parquet into the build database without losing a row."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cjm.build.files import IngestError, discover_files
from cjm.config import parse_config
from tests.conftest import build, write_csv


def _mixed_files(tmp_path: Path) -> list[Path]:
    csv_path = tmp_path / "a.csv"
    csv_path.write_text(
        "customer_id,event_time,touchpoint,page\n"
        "c1,2026-01-01T10:00:00Z,view,/home\n"
        "c1,2026-01-01T10:00:00Z,view,/home,extra\n"  # too many fields
        "c2,2026-01-01T11:00:00Z,view,/p\n",
        encoding="utf-8",
    )
    jsonl_path = tmp_path / "b.jsonl"
    jsonl_path.write_text(
        json.dumps({"customer_id": "c1", "event_time": 1767262200, "touchpoint": "cart"})
        + "\n{broken\n\n"
        + json.dumps({"customer_id": "c2", "event_time": "2026-01-01T11:05:00Z", "tp": "x"})
        + "\n",
        encoding="utf-8",
    )
    parquet_path = tmp_path / "c.parquet"
    pd.DataFrame(
        {
            "customer_id": ["c1", "c3"],
            "event_time": pd.to_datetime(["2026-01-01T10:20:00Z", "2026-01-01T12:00:00Z"]),
            "touchpoint": ["purchase", "view"],
            "revenue": [19.5, None],
        }
    ).to_parquet(parquet_path)
    return [csv_path, jsonl_path, parquet_path]


def test_mixed_formats_in_one_run_reconcile_per_file(tmp_path):
    con = build(_mixed_files(tmp_path))
    loads = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), rows_read, rows_accepted, rows_duplicate, "
        "rows_rejected, is_reconciled from file_loads order by 1"
    ).fetchall()
    assert loads == [
        ("a.csv", 3, 2, 0, 1, True),
        ("b.jsonl", 3, 1, 0, 2, True),  # the blank line is not a row
        ("c.parquet", 2, 2, 0, 0, True),
    ]
    path = con.execute("select path from journeys where customer_id = 'c1'").fetchone()[0]
    assert path == "view > cart > purchase"
    reasons = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), source_row, reason from rejected_events "
        "order by 1, 2"
    ).fetchall()
    assert reasons == [
        ("a.csv", 3, "unparseable_row: too many columns"),
        ("b.jsonl", 2, "unparseable_row: invalid json"),
        ("b.jsonl", 4, "missing_touchpoint"),
    ]
    revenue = con.execute("select sum(revenue) from events").fetchone()[0]
    assert revenue == 19.5


def test_other_columns_are_kept_as_properties(tmp_path):
    con = build(_mixed_files(tmp_path)[:1])
    pages = con.execute("select properties ->> 'page' from events order by source_row").fetchall()
    assert pages == [("/home",), ("/p",)]


def test_column_mapping_and_touchpoint_expression(tmp_path):
    path = write_csv(
        tmp_path / "orders.csv",
        [
            {"Cust": "7", "When": "2026-01-01 10:00", "Invoice": "A1", "Qty": "2", "Price": "3"},
            {"Cust": "7", "When": "2026-01-02 10:00", "Invoice": "C2", "Qty": "-1", "Price": "3"},
        ],
    )
    config = {
        "columns": {"customer_id": "Cust", "event_time": "When"},
        "expressions": {
            "touchpoint": "case when \"Invoice\" like 'C%' then 'cancel' else 'purchase' end",
            "revenue": 'try_cast("Qty" as double) * try_cast("Price" as double)',
        },
        "timezone": "Europe/London",
    }
    con = build([path], config)
    got = con.execute("select touchpoint, revenue, stage from events order by event_index")
    assert got.fetchall() == [("purchase", 6.0, "purchase"), ("cancel", -3.0, "exit")]


def test_missing_required_column_names_file_and_column(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [{"customer_id": "c1", "touchpoint": "view"}])
    with pytest.raises(IngestError) as err:
        build([path])
    message = str(err.value)
    assert "bad.csv" in message and "'event_time'" in message and "columns:" in message


def test_mapped_column_missing_names_the_source_column(tmp_path):
    path = write_csv(
        tmp_path / "x.csv", [{"customer_id": "c1", "event_time": "2026-01-01", "tp": "v"}]
    )
    with pytest.raises(IngestError, match=r"x\.csv.*'touchpoint'.*'activity'"):
        build([path], parse_config({"columns": {"touchpoint": "activity"}}))


def test_unreadable_file_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(IngestError, match=r"broken\.parquet: cannot read as parquet"):
        build([path])


def test_discover_files_from_directory_glob_and_errors(tmp_path):
    files = _mixed_files(tmp_path)
    assert discover_files(tmp_path) == sorted(p.resolve() for p in files)
    assert discover_files(str(tmp_path / "*.csv")) == [files[0].resolve()]
    with pytest.raises(IngestError, match="no such file"):
        discover_files(tmp_path / "nothing-*.csv")
    (tmp_path / "notes.xlsx").write_bytes(b"")
    with pytest.raises(IngestError, match="unknown file type"):
        discover_files(tmp_path / "notes.xlsx")

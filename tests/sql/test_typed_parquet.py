"""Parquet read in place, with typed columns taken as they are, builds what the text path builds."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm import steps
from cjm.build import models
from cjm.build.ingest import load_files
from cjm.checks import ReconciliationError
from cjm.config import Config
from cjm.db import connect
from tests.conftest import build, validation_kind, write_csv

# Years outside 1-9999 are not taken as typed: they go through the text parse, as before.
FAR_FUTURE_US = int((datetime(9999, 12, 31, tzinfo=UTC).timestamp() + 2 * 86400) * 1e6)
TABLES = {
    "events": "source_file, source_row",
    "rejected_events": "source_file, source_row",
    "file_loads": "source_file",
    "sessions": "session_id",
    "journeys": "customer_id",
}


def _typed_parquet(path):
    base = int(datetime(2026, 1, 1, 10, tzinfo=UTC).timestamp() * 1e6)
    minute = 60 * 1_000_000
    table = pa.table(
        {
            "event_id": ["e1", "e2", "e2", "e4", None, "e6", "e7", "e8"],
            "customer_id": ["c1", "c1", "c1", " c2 ", "c2", None, "c3", "c3"],
            "event_time": pa.array(
                [
                    base,
                    base + minute,
                    base + minute,
                    base,
                    base + 45 * minute,
                    base,
                    None,
                    FAR_FUTURE_US,
                ],
                pa.timestamp("us", tz="UTC"),
            ),
            "touchpoint": ["view", "cart", "cart", "view", "purchase", "view", "view", None],
            "channel": ["Web", "web", "web", None, "app", "web", "web", "web"],
            "revenue": [None, 1.5, 1.5, None, 19.99, float("nan"), None, 2.0],
            "sentiment": [0.25, None, None, -1.5, 1e-7, None, None, None],
            "page": ["/a", "/b", "/b", None, "/c", "/d", "/e", "/f"],
        }
    )
    pq.write_table(table, path)
    return path


def _rows(con, table: str) -> list[tuple]:
    return con.execute(f"select * from {table} order by {TABLES[table]}").fetchall()


def test_typed_parquet_builds_the_same_tables_as_its_text(tmp_path):
    path = _typed_parquet(tmp_path / "typed.parquet")
    typed = build([path])
    # An expression makes the loader copy the file with every column as text, as it always did.
    text = build([path], {"expressions": {"anonymous_id": "null"}})
    landed = typed.execute("select count(*), count(typed_event_time) from raw_events").fetchone()
    assert landed == (8, 7)  # read in place, the time column kept as TIMESTAMPTZ
    assert text.execute("select count(typed_event_time) from raw_events").fetchone() == (0,)
    # typed times: validation is a view parsed by each reader; text: a table parsed once
    assert validation_kind(typed) == "view"
    assert validation_kind(text) == "table (dropped)"
    for table in TABLES:
        assert _rows(typed, table) == _rows(text, table), table
    reasons = dict(typed.execute("select source_row, reason from rejected_events").fetchall())
    assert reasons == {
        6: "missing_customer_id; revenue_not_finite",
        7: "missing_event_time",
        8: "missing_touchpoint; event_time_out_of_range",
        4: "sentiment_out_of_range",
    }
    assert typed.execute(
        "select rows_read, rows_accepted, rows_duplicate, rows_rejected, is_reconciled "
        "from file_loads"
    ).fetchone() == (8, 3, 1, 4, True)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_row_lost_after_landing_stops_the_run(tmp_path, fmt):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
        {"customer_id": "c1", "event_time": "2026-01-01T10:05:00Z", "touchpoint": "cart"},
        {"customer_id": "c2", "event_time": "not a time", "touchpoint": "view"},
    ]
    path = write_csv(tmp_path / "events.csv", rows)
    if fmt == "parquet":
        path = _typed_parquet(tmp_path / "events.parquet")
    build_path = tmp_path / "build.duckdb"
    config = Config()
    steps.load_events(build_path, [path], config)
    with connect(build_path) as con:
        # Lose a row between landing and the models (CSV rows are landed in a table), or claim
        # one more row was read than the file holds (Parquet files are read in place).
        if fmt == "csv":
            con.execute("delete from raw_events_landed where source_row = 3")
        else:
            con.execute("update raw_file_reads set rows_read = rows_read + 1")
    with pytest.raises(ReconciliationError, match="do not reconcile"):
        steps.build_journeys(build_path, config)


def test_one_file_with_text_times_makes_validation_a_table(tmp_path):
    typed = _typed_parquet(tmp_path / "typed.parquet")
    text = write_csv(
        tmp_path / "more.csv",
        [{"customer_id": "c9", "event_time": "2026-01-02T10:00:00Z", "touchpoint": "view"}],
    )
    table = pa.table(
        {"customer_id": ["c8"], "event_time": ["2026-01-02 11:00"], "touchpoint": ["v"]}
    )
    pq.write_table(table, tmp_path / "string_times.parquet")
    for files, parses_text in (
        ([typed], False),
        ([typed, text], True),
        ([typed, tmp_path / "string_times.parquet"], True),
    ):
        con = connect(":memory:")
        load_files(con, files, Config())
        assert models.parses_text(con) is parses_text, files
    con = build([typed, text])
    assert validation_kind(con) == "table (dropped)"
    loads = con.execute("select sum(rows_accepted), bool_and(is_reconciled) from file_loads")
    assert loads.fetchone() == (4, True)

"""Plausibility rules of int_events_validated: event times in a window, finite numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm.build.files import IngestError
from cjm.config import Config
from cjm.db import connect
from tests.conftest import build, validation_kind
from tests.published import publish_journeys

CLOCK = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HEADER = "customer_id,event_time,touchpoint,revenue,sentiment\n"


def _rejected(con) -> list[tuple[int, str]]:
    return con.execute("select source_row, reason from rejected_events order by 1").fetchall()


def test_implausible_times_and_numbers_are_rejected_with_their_reason(tmp_path):
    path = tmp_path / "hostile.csv"
    path.write_text(
        HEADER
        + "c1,0001-01-01T00:00:00Z,view,,\n"  # line 2
        + "c1,9999-01-01T00:00:00Z,view,,\n"
        + "c1,-86400,view,,\n"  # a negative epoch: 1969
        + "c1,1989-12-31T23:59:59Z,view,,\n"
        + "c1,2026-01-01T00:00:00Z,view,NaN,\n"
        + "c1,2026-01-01T00:00:00Z,view,inf,\n"
        + "c1,2026-01-01T00:00:00Z,view,-inf,\n"
        + "c1,2026-01-01T00:00:00Z,view,Infinity,\n"
        + "c1,2026-01-01T00:00:00Z,view,1e309,\n"
        + "c1,2026-01-01T00:00:00Z,view,1,nan\n"
        + "c1,2026-01-01T00:00:00Z,view,1,-Infinity\n"
        + "c1,2026-12-08T11:59:59Z,view,1e308,0.5\n"  # within a day of the clock
        + "c1,2026-12-08T12:00:01Z,view,1,0.5\n"  # just over a day after it
        + "c1,1990-01-01T00:00:00Z,view,2,1\n",
        encoding="utf-8",
    )
    con = build([path], clock=CLOCK)
    out, revenue = "event_time_out_of_range", "revenue_not_finite"
    sentiment = "sentiment_not_finite"
    assert _rejected(con) == [
        (2, out),
        (3, out),
        (4, out),
        (5, out),
        (6, revenue),
        (7, revenue),
        (8, revenue),
        (9, revenue),
        (10, revenue),
        (11, sentiment),
        (12, sentiment),
        (14, out),
    ]
    assert con.execute("select source_row from events order by 1").fetchall() == [(13,), (15,)]
    assert con.execute(
        "select rows_read, rows_accepted, rows_rejected, is_reconciled from file_loads"
    ).fetchall() == [(14, 2, 12, True)]


def test_window_comes_from_the_config_and_the_clock_from_the_caller(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text(
        "customer_id,event_time,touchpoint\n"
        "c1,1995-06-01T00:00:00Z,view\n"
        "c1,2026-01-10T00:00:00Z,view\n"
        "c1,2026-01-01T00:00:00Z,view\n",
        encoding="utf-8",
    )
    config = {"event_time_window": {"not_before": "2000-01-01", "days_after_clock": 5}}
    con = build([path], config, clock=datetime(2026, 1, 4, tzinfo=UTC))
    assert _rejected(con) == [(2, "event_time_out_of_range"), (3, "event_time_out_of_range")]
    con = build([path], config, clock=datetime(2026, 1, 6, tzinfo=UTC))
    assert _rejected(con) == [(2, "event_time_out_of_range")]


def test_typed_parquet_values_are_checked_on_the_view_path(tmp_path):
    path = tmp_path / "typed.parquet"
    times = [datetime(1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)] * 2
    pq.write_table(
        pa.table(
            {
                "customer_id": ["a", "b", "c", "d"],
                "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
                "touchpoint": ["view"] * 4,
                "revenue": [1.0, float("nan"), float("inf"), 2.0],
                "sentiment": [0.0, 0.0, 0.0, float("-inf")],
            }
        ),
        path,
    )
    con = build([path], clock=CLOCK)
    assert validation_kind(con) == "view"
    assert _rejected(con) == [
        (1, "event_time_out_of_range"),
        (2, "revenue_not_finite"),
        (3, "event_time_out_of_range; revenue_not_finite"),
        (4, "sentiment_not_finite"),
    ]


def test_a_file_with_every_time_out_of_range_is_an_error_naming_it(tmp_path):
    good = tmp_path / "a.csv"
    good.write_text(HEADER + "c1,2026-01-01T00:00:00Z,view,,\n", encoding="utf-8")
    # epoch days read as seconds: every event lands in January 1970
    wrong = tmp_path / "b.csv"
    wrong.write_text(HEADER + "c1,20454,view,,\nc2,20455,view,,\n", encoding="utf-8")
    with pytest.raises(IngestError, match=rf"^{wrong}: every row's event time is outside"):
        build([good, wrong], clock=CLOCK)
    # one plausible row among them and the file loads, the others rejected
    wrong.write_text(HEADER + "c1,20454,view,,\nc2,2026-01-02T00:00:00Z,view,,\n")
    con = build([good, wrong], clock=CLOCK)
    assert _rejected(con) == [(2, "event_time_out_of_range")]


def _rows(db, table: str, order: str) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(f"select * from {table} order by {order}").fetchall()


def test_an_incremental_run_judges_new_rows_as_a_full_rebuild_does(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.csv").write_text(
        HEADER + "c1,2026-01-01T00:00:00Z,view,,\nc2,2026-01-02T00:00:00Z,view,5,\n",
        encoding="utf-8",
    )
    incremental, full = tmp_path / "incremental.duckdb", tmp_path / "full.duckdb"
    publish_journeys(landing, incremental, Config(), clock=CLOCK)
    (landing / "b.csv").write_text(
        HEADER
        + "c1,9999-01-01T00:00:00Z,purchase,,\n"
        + "c2,2026-01-03T00:00:00Z,purchase,NaN,\n"
        + "c2,2026-01-04T00:00:00Z,purchase,1e309,0.5\n"
        + "c3,2026-12-08T00:00:00Z,purchase,7,\n",
        encoding="utf-8",
    )
    plan = publish_journeys(landing, incremental, Config(), clock=CLOCK)
    assert plan.mode == "incremental"
    publish_journeys(landing, full, Config(), full_refresh=True, clock=CLOCK)
    for table, order in {
        "events": "event_id",
        "rejected_events": "source_file, source_row",
        "file_loads": "source_file",
        "journeys": "customer_id",
    }.items():
        assert _rows(incremental, table, order) == _rows(full, table, order), table
    assert [r[2] for r in _rows(full, "rejected_events", "source_file, source_row")] == [
        "event_time_out_of_range",
        "revenue_not_finite",
        "revenue_not_finite",
    ]

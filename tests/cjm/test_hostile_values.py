"""A hostile-value corpus: every row accepted, duplicate or rejected with a reason, every file
loaded or listed as skipped, and the sample's churn and personas untouched by the hostile rows."""

from __future__ import annotations

import gzip
import json
import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjm.build.files import IngestError
from cjm.config import load_config
from cjm.db import connect
from tests.conftest import SAMPLE_DIR, build
from tests.published import publish_log

HEADER = "event_id,customer_id,event_time,touchpoint,revenue,sentiment\n"
# Customers of the bundled sample, so an accepted hostile row would change their journeys.
CUSTOMER, OTHER = "C000065", "C000334"
# (event_id, customer, time, touchpoint, revenue, sentiment) -> the reason it is rejected
HOSTILE_ROWS = [
    (("hx01", CUSTOMER, "0001-01-01T00:00:00Z", "purchase", "", ""), "event_time_out_of_range"),
    (("hx02", CUSTOMER, "9999-01-01T00:00:00Z", "app_open", "", ""), "event_time_out_of_range"),
    (("hx03", OTHER, "-1", "purchase", "", ""), "event_time_out_of_range"),
    (("hx04", OTHER, "-1767261600000", "purchase", "", ""), "event_time_out_of_range"),
    (("hx05", CUSTOMER, "2026-02-01T10:00:00Z", "purchase", "NaN", ""), "revenue_not_finite"),
    (("hx06", CUSTOMER, "2026-02-01T10:00:00Z", "purchase", "inf", ""), "revenue_not_finite"),
    (("hx07", CUSTOMER, "2026-02-01T10:00:00Z", "purchase", "-inf", ""), "revenue_not_finite"),
    (("hx08", OTHER, "2026-02-01T10:00:00Z", "purchase", "Infinity", ""), "revenue_not_finite"),
    (("hx09", OTHER, "2026-02-01T10:00:00Z", "purchase", "1e309", ""), "revenue_not_finite"),
    (("hx10", OTHER, "2026-02-01T10:00:00Z", "review", "", "NaN"), "sentiment_not_finite"),
]
NESTED_ROWS = [
    ({"customer_id": {"id": "F0"}, "touchpoint": "purchase"}, "customer_id_not_scalar"),
    ({"customer_id": CUSTOMER, "touchpoint": ["product_view"]}, "touchpoint_not_scalar"),
    (
        {"customer_id": CUSTOMER, "touchpoint": "purchase", "channel": {"x": 1}},
        "channel_not_scalar",
    ),
]


def _write_hostile(folder, beside: str | None = None):
    """The hostile corpus in `folder`; `beside`: a CSV whose rows are copied gzipped beside it."""
    folder.mkdir(exist_ok=True)
    lines = [",".join(row) for row, _reason in HOSTILE_ROWS]
    (folder / "hostile.csv").write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    with (folder / "hostile_nested.jsonl").open("w", encoding="utf-8") as handle:
        for i, (row, _reason) in enumerate(NESTED_ROWS):
            event = {"event_id": f"hn{i}", "event_time": "2026-02-01T10:00:00Z", **row}
            handle.write(json.dumps(event) + "\n")
    if beside is not None:
        # the same rows again, compressed beside the plain file: every one a duplicate
        (folder / (beside + ".gz")).write_bytes(gzip.compress((folder / beside).read_bytes()))
    for name in ("zero.csv", "zero.jsonl", "zero.parquet", "zero.csv.gz"):
        (folder / name).write_bytes(b"")
    (folder / "notes.txt.bak").write_text("not events", encoding="utf-8")
    (folder / "loop").symlink_to(".")
    (folder / "self").symlink_to("self")


def test_every_hostile_row_and_file_is_accounted_for(tmp_path):
    folder = tmp_path / "landing"
    folder.mkdir()
    (folder / "good.csv").write_text(
        HEADER + f"g1,{CUSTOMER},2026-02-01T09:00:00Z,product_view,,\n", encoding="utf-8"
    )
    _write_hostile(folder, beside="good.csv")
    con = build(folder)
    loads = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), status, rows_read, rows_accepted, "
        "rows_duplicate, rows_rejected, is_reconciled from file_loads order by 1"
    ).fetchall()
    assert loads == [
        ("good.csv", "loaded", 1, 1, 0, 0, True),
        ("good.csv.gz", "loaded", 1, 0, 1, 0, True),
        ("hostile.csv", "loaded", 10, 0, 0, 10, True),
        ("hostile_nested.jsonl", "loaded", 3, 0, 0, 3, True),
        ("loop", "skipped", 0, 0, 0, 0, True),
        ("notes.txt.bak", "skipped", 0, 0, 0, 0, True),
        ("self", "skipped", 0, 0, 0, 0, True),
        ("zero.csv", "loaded", 0, 0, 0, 0, True),
        ("zero.csv.gz", "loaded", 0, 0, 0, 0, True),
        ("zero.jsonl", "loaded", 0, 0, 0, 0, True),
        ("zero.parquet", "loaded", 0, 0, 0, 0, True),
    ]
    reasons = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), source_row, reason from rejected_events "
        "order by 1, 2"
    ).fetchall()
    assert reasons == [
        ("hostile.csv", line, reason) for line, (_row, reason) in enumerate(HOSTILE_ROWS, 2)
    ] + [
        ("hostile_nested.jsonl", line, reason) for line, (_row, reason) in enumerate(NESTED_ROWS, 1)
    ]
    assert con.execute("select event_id from events").fetchall() == [("g1",)]


def test_hostile_files_that_cannot_be_read_right_are_errors_naming_them(tmp_path):
    dup = tmp_path / "dup.csv"
    dup.write_text("customer_id,event_time,touchpoint,customer_id\nc1,2026-02-01,v,c2\n")
    with pytest.raises(IngestError, match=rf"^{dup}: the header has column 'customer_id' twice"):
        build([dup])
    nested = tmp_path / "nested.parquet"
    pq.write_table(
        pa.table(
            {"customer_id": [{"id": "F0"}], "event_time": ["2026-02-01"], "touchpoint": ["v"]}
        ),
        nested,
    )
    with pytest.raises(IngestError, match=rf"^{nested}: column 'customer_id' is of the nested"):
        build([nested])


def _table(db, name: str) -> pd.DataFrame:
    with connect(db, read_only=True) as con:
        frame = con.execute(f"select * from {name}").df()
    return frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)


def test_churn_and_personas_on_the_sample_ignore_the_hostile_rows(tmp_path, published_sample):
    landing = tmp_path / "landing"
    landing.mkdir()
    for path in (SAMPLE_DIR / "events").iterdir():
        shutil.copy(path, landing / path.name)
    _write_hostile(landing, beside="events_web.csv")
    db = publish_log(landing, tmp_path / "hostile.duckdb", load_config(SAMPLE_DIR / "cjm.yaml"))
    for name in ("churn_risk", "personas", "customer_personas"):
        pd.testing.assert_frame_equal(_table(db, name), _table(published_sample, name))
    with connect(db, read_only=True) as con:
        assert con.execute(
            "select count(*), count(*) filter (where is_reconciled) from file_loads"
        ).fetchone() == (13, 13)

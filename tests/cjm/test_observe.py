"""The run summary compares with the previous successful run; churn rows are JSON-ready."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import pandas as pd

from cjm.observe import run_summary_markdown, top_churn_risks


def _run(run_id, day, status="success", **counts):
    base = {
        "run_id": run_id,
        "started_at": datetime(2026, 1, day, 3, tzinfo=UTC),
        "finished_at": datetime(2026, 1, day, 3, 5, tzinfo=UTC),
        "status": status,
        "code_version": "0.1.0+gabc",
        "input_files": json.dumps(["a.csv", "b.csv"]),
        "stage_seconds": json.dumps({"load_events": 1.5}),
        "notes": json.dumps([]),
        "error": None,
    }
    return base | counts


def test_summary_shows_changes_since_previous_success_and_failures_between():
    runs = pd.DataFrame(
        [
            _run("r1", 1, rows_read=100, customers=10, sessions=20, converted=2, flagged=1),
            _run("r2", 2, status="failed", error="IngestError: bad.csv: missing 'event_time'"),
            _run("r3", 3, rows_read=110, customers=10, sessions=25, converted=3, flagged=0),
        ]
    )
    text = run_summary_markdown(runs, "r3")
    assert "compared with the previous successful run `r1`" in text
    assert "| rows read | 110 | 100 | +10 (+10.0%) |" in text
    assert "| sessions | 25 | 20 | +5 (+25.0%) |" in text
    assert "| conversion rate | 30.0% | 20.0% | +10.0 pp |" in text
    assert "| flagged high risk | 0 | 1 | -1 (-100.0%) |" in text
    assert "`r2` (failed): IngestError: bad.csv: missing 'event_time'" in text
    assert "| load_events | 1.50 |" in text and "`0.1.0+gabc`" in text


def test_first_run_has_nothing_to_compare():
    runs = pd.DataFrame([_run("r1", 1, rows_read=5, customers=2, converted=1)])
    text = run_summary_markdown(runs, "r1")
    assert "nothing to compare with" in text
    assert "| rows read | 5 | n/a | n/a |" in text
    assert "| conversion rate | 50.0% | n/a | n/a |" in text


def test_top_churn_risks_are_json_serialisable_and_ranked():
    con = duckdb.connect()
    con.execute(
        "create table churn_risk as select * from (values "
        "('c1', 0.2, 'low', ['x'], timestamptz '2026-01-01 10:00:00+00', null::double), "
        "('c2', 0.9, 'high', ['y', 'z'], timestamptz '2026-01-02 10:00:00+00', 1.5)"
        ") t(customer_id, risk_score, risk_tier, reasons, last_seen_at, extra)"
    )
    rows = top_churn_risks(con, top=5)
    con.close()
    assert [r["customer_id"] for r in rows] == ["c2", "c1"]
    assert rows[0]["reasons"] == ["y", "z"] and rows[1]["extra"] is None
    assert rows[0]["last_seen_at"].startswith("2026-01-02T10:00:00")
    json.dumps(rows)


def test_no_churn_table_gives_no_rows():
    con = duckdb.connect()
    assert top_churn_risks(con) == []
    con.close()


def test_summary_puts_guard_rail_warnings_first_and_names_interrupted_runs():
    notes = ["k = 3 by silhouette", "WARNING guard rail: personas fell from 4 to 1"]
    runs = pd.DataFrame(
        [
            _run("r1", 1, customers=10),
            _run("r2", 2, status="interrupted", error="interrupted in stage build_personas"),
            _run("r3", 3, customers=10, notes=json.dumps(notes)),
        ]
    )
    text = run_summary_markdown(runs, "r3")
    assert "- status: **success**, with **1 guard-rail warning(s)**" in text
    warning = text.index("## WARNING: churn or personas collapsed against the previous run")
    assert warning < text.index("| metric |")
    assert "- **personas fell from 4 to 1**" in text
    assert "`r2` (interrupted): interrupted in stage build_personas" in text
    assert "WARNING" not in run_summary_markdown(runs, "r1")

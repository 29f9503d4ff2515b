"""A run whose personas collapse publishes with loud warnings, or with strict fails unpublished."""

from __future__ import annotations

import json

import duckdb
import pytest

from cjm.build.guard_rails import GuardRailError
from cjm.build.runs import run_log_path
from cjm.config import load_config, with_execution
from cjm.sample import generate_sample
from tests.pipelines.test_observability import _flow_run_items


def _run(events, db, config, **kwargs):
    from pipelines.journey_flow import journey_flow

    return journey_flow(
        events=str(events),
        db=str(db),
        config=config,
        full_refresh=True,
        return_state=True,
        **kwargs,
    )


def test_collapse_warns_or_with_strict_fails(prefect_harness, tmp_path):
    generate_sample(tmp_path / "log", customers=200, seed=3)
    events = tmp_path / "log" / "events"
    config = load_config(tmp_path / "log" / "cjm.yaml")
    db = tmp_path / "out" / "cjm.duckdb"
    first = _run(events, db, config)
    assert first.is_completed(), first
    assert first.result()["warnings"] == []
    con = duckdb.connect(str(db), read_only=True)
    personas = con.execute("select count(*) from personas").fetchone()[0]
    con.close()
    assert personas >= 2

    # The same files, with every customer forced into one persona: a collapse.
    one = with_execution(config, personas={"k": 1})
    published = db.read_bytes()
    strict = _run(events, db, one, strict=True)
    assert strict.is_failed()
    with pytest.raises(GuardRailError, match=rf"personas fell from {personas} to 1"):
        strict.result()
    assert db.read_bytes() == published, "a strict run that tripped a guard rail published"
    log = [json.loads(line) for line in run_log_path(db).read_text().splitlines()]
    assert log[-1]["status"] == "failed" and "GuardRailError" in log[-1]["error"]
    assert log[-1]["last_stage"] == "guard_rails"

    warned = _run(events, db, one)
    assert warned.is_completed(), warned
    summary = warned.result()
    assert summary["warnings"] == [f"personas fell from {personas} to 1"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        notes = con.execute(
            "select notes from pipeline_runs where run_id = ?", [summary["run_id"]]
        ).fetchone()[0]
        assert con.execute("select count(*) from personas").fetchone()[0] == 1
    finally:
        con.close()
    assert f"WARNING guard rail: personas fell from {personas} to 1" in json.loads(notes)
    artifacts, _ = _flow_run_items(warned)
    assert f"personas fell from {personas} to 1" in artifacts["cjm-guard-rails"].data
    assert "## WARNING: churn or personas collapsed" in artifacts["cjm-run-summary"].data
    assert "cjm-guard-rails" not in _flow_run_items(first)[0]

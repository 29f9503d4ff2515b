"""The real Prefect flow, end to end on the bundled sample, publishing under readers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from cjm.build.catalog import read_schema
from cjm.build.customers import TABLES as CUSTOMER_TABLES
from cjm.build.files import IngestError
from cjm.build.models import model_plan
from cjm.config import load_config
from cjm.errors import release_frames
from cjm.stages import stage_names
from tests.cjm.build.test_catalog import check_declared_and_commented
from tests.conftest import SAMPLE_DIR, write_csv

pytestmark = pytest.mark.slow  # a full flow on Prefect's test API

READER = Path(__file__).with_name("reader.py")


def _run(events, db, config=None):
    from pipelines.journey_flow import journey_flow

    return journey_flow(events=str(events), db=str(db), config=config, return_state=True)


def _published_tables(db: Path) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0] for r in con.execute("show tables").fetchall()}
    finally:
        con.close()


def test_flow_runs_on_sample_and_publishes(prefect_harness, tmp_path):
    db = tmp_path / "out" / "cjm.duckdb"
    state = _run(SAMPLE_DIR / "events", db, load_config(SAMPLE_DIR / "cjm.yaml"))
    assert state.is_completed(), state
    summary = state.result()
    tables = _published_tables(db)
    expected = {"events", "rejected_events", "sessions", "journeys", "transitions"}
    expected |= {"personas", "customer_personas", "churn_risk", "churn_patterns"}
    expected |= {"pipeline_runs", "file_loads", "touchpoint_insights"}
    expected |= {"customer_segments", "touchpoint_graph_metrics", "transition_cycles"}
    expected |= {"transition_history", "transition_changes"}
    expected |= {"persona_centroids", "persona_history", "persona_migrations"}
    expected |= {"persona_touchpoint_insights"}
    expected |= {"churn_model_metrics", "churn_model_calibration", "churn_model_card"}
    assert expected <= tables
    assert not any(t.startswith(("raw_", "stg_", "int_", "cfg_")) for t in tables)
    # every table a full run publishes is declared in sql/schema.yml, commented, typed (no NULL
    # type on this first run) and listed in cjm_schema; the tables of a customers file are
    # published by runs given one (tests/pipelines/test_customers_flow.py)
    declared = set(read_schema()) - set(CUSTOMER_TABLES)
    assert check_declared_and_commented(db) == tables - {"cjm_schema"} == declared
    truth = json.loads((SAMPLE_DIR / "truth" / "truth.json").read_text())
    con = duckdb.connect(str(db), read_only=True)
    loads = con.execute(
        "select regexp_extract(source_file, '[^/]+$'), rows_read, rows_accepted, rows_duplicate, "
        "rows_rejected from file_loads order by 1"
    ).fetchall()
    for name, read, accepted, duplicate, rejected in loads:
        assert read == accepted + duplicate + rejected
        assert duplicate == truth["messy_rows"][name]["duplicate"], name
        assert rejected == truth["messy_rows"][name]["rejected"], name
    runs = con.execute(
        "select run_id, status, rows_read, customers, stage_seconds from pipeline_runs"
    ).fetchall()
    customers = con.execute("select count(*) from journeys").fetchone()[0]
    con.close()
    (run,) = runs
    assert run[:4] == (summary["run_id"], "success", summary["rows_read"], customers)
    assert summary["counts"]["customers"] == customers > 0
    # every stage and SQL model timed, in run order
    models = [name for _, name in model_plan()]
    stages = ["load_events", *models, "build_journeys", *stage_names(), "guard_rails", "finish"]
    assert list(json.loads(run[4])) == stages
    assert not list(db.parent.glob(".cjm.duckdb.build-*"))
    # The journey map is written beside the published file and linked from the run.
    report = db.with_name("cjm_report.html")
    assert summary["report_path"] == str(report)
    assert 'id="personas"' in report.read_text(encoding="utf-8")
    from prefect.artifacts import Artifact

    assert Artifact.get("journey-map").data == f"[{report.name}]({report.as_uri()})"


def test_failed_run_leaves_published_file_untouched(prefect_harness, tmp_path):
    db = tmp_path / "cjm.duckdb"
    good = write_csv(
        tmp_path / "good.csv",
        [{"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"}],
    )
    assert _run(good, db).is_completed()
    before = db.read_bytes()
    bad = write_csv(tmp_path / "bad.csv", [{"customer_id": "c1", "touchpoint": "view"}])
    state = _run(bad, db)
    assert state.is_failed()
    with pytest.raises(IngestError, match=r"bad\.csv.*'event_time'") as err:
        state.result()
    release_frames(err.value)
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".cjm.duckdb.build-*"))


def test_second_process_reads_while_a_new_run_publishes(prefect_harness, tmp_path):
    db = tmp_path / "cjm.duckdb"
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    first = _run(SAMPLE_DIR / "events", db, config).result()
    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, str(READER), str(db), str(stop), str(out)])
    try:
        time.sleep(1.0)
        second = _run(SAMPLE_DIR / "events", db, config).result()
        time.sleep(1.0)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["queries"] > 10
    assert report["run_ids"] == [first["run_id"], second["run_id"]]
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from pipeline_runs").fetchone()[0] == 2
    con.close()


def test_an_input_rewritten_during_the_run_is_reported_with_what_to_do(
    prefect_harness, tmp_path, monkeypatch, capsys
):
    # A Parquet file is read in place twice: counted while loading, read again by the models.
    from cjm import steps
    from cjm.cli.main import main

    events, db = tmp_path / "events.parquet", tmp_path / "cjm.duckdb"

    def write_events(n: int) -> None:
        duckdb.execute(
            "copy (select 'c' || i as customer_id, 'view' as touchpoint, "
            "timestamptz '2026-01-01 10:00:00+00' + to_minutes(i) as event_time "
            f"from range({n}) t(i)) to '{events}' (format parquet)"
        )

    build_models = steps.build_models

    def rewritten_then_built(*args, **kwargs):
        write_events(4)
        return build_models(*args, **kwargs)

    write_events(3)
    monkeypatch.setattr(steps, "build_models", rewritten_then_built)
    assert main(["run", "--events", str(events), "--db", str(db)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("cjm run: error: row counts do not reconcile, so nothing was published")
    assert "events.parquet: 3 rows read, but 4 accepted + 0 duplicate + 0 rejected" in last
    assert "keep the event files unchanged during a run, then run again" in last
    assert not db.exists()

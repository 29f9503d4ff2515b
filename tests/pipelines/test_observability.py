"""What a run leaves for the people watching it: artifacts, run log, failed runs on record."""

from __future__ import annotations

import json

import duckdb
import pytest

from cjm.build.files import IngestError
from cjm.build.runs import run_log_path
from cjm.errors import release_frames
from tests.conftest import write_csv

pytestmark = pytest.mark.slow  # full flows on Prefect's test API

EVENTS = [
    {"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"},
    {"customer_id": "c1", "event_time": "2026-01-01T10:05:00Z", "touchpoint": "purchase"},
    {"customer_id": "c2", "event_time": "2026-01-02T10:00:00Z", "touchpoint": "view"},
]


def _run(events, db, **kwargs):
    from pipelines.journey_flow import journey_flow

    return journey_flow(events=str(events), db=str(db), return_state=True, **kwargs)


def _flow_run_items(state):
    """The artifacts (by key) and task runs (by name) of one flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    return {a.key: a for a in artifacts}, {t.name.rsplit("-", 1)[0]: t for t in tasks}


def test_runs_report_artifacts_and_keep_failures_on_record(prefect_harness, tmp_path):
    db = tmp_path / "cjm.duckdb"
    good = write_csv(tmp_path / "good.csv", EVENTS)
    first = _run(good, db, code_version="9.9.9+gtest")
    assert first.is_completed(), first
    artifacts, _ = _flow_run_items(first)
    assert "first successful run" in artifacts["cjm-run-summary"].data
    assert "| customers | 2 | n/a | n/a |" in artifacts["cjm-run-summary"].data
    assert artifacts["cjm-top-churn-risks"].type == "table"

    bad = write_csv(tmp_path / "bad.csv", [{"customer_id": "c1", "touchpoint": "view"}])
    failed = _run(bad, db)
    assert failed.is_failed()
    with pytest.raises(IngestError) as err:
        failed.result()
    release_frames(err.value)
    _, tasks = _flow_run_items(failed)
    # bad input fails the same way every time: no retries spent on it
    assert tasks["load-events"].run_count == 1
    log = [json.loads(line) for line in run_log_path(db).read_text().splitlines()]
    assert [(e["status"], e["code_version"]) for e in log][0] == ("success", "9.9.9+gtest")
    assert log[1]["status"] == "failed" and "bad.csv" in log[1]["error"]

    # A full refresh reads the same file again, so the summary can show "no change" in rows read.
    again = _run(good, db, full_refresh=True)
    assert again.is_completed(), again
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute(
        "select run_id, status, error, code_version, customers, converted, table_rows "
        "from pipeline_runs order by started_at"
    ).fetchall()
    con.close()
    assert [r[1] for r in runs] == ["success", "failed", "success"]
    assert "IngestError" in runs[1][2] and "bad.csv" in runs[1][2]
    assert runs[0][3] == "9.9.9+gtest" and runs[2][4:6] == (2, 1)
    assert json.loads(runs[2][6])["events"] == 3
    summary = _flow_run_items(again)[0]["cjm-run-summary"].data
    assert f"`{runs[1][0]}` (failed): IngestError" in summary
    assert "| rows read | 3 | 3 | +0 (+0.0%) |" in summary

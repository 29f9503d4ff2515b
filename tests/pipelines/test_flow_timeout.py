"""flow_timeout_seconds: a hung run fails as TimedOut, unpublished, and lets go of the lock."""

from __future__ import annotations

import fcntl
import json

import pytest

from cjm.build.runs import run_log_path
from cjm.config import load_config
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.slow  # a flow on Prefect's test API


def test_a_hung_run_times_out_and_frees_the_lock(prefect_harness, tmp_path, monkeypatch):
    from pipelines.journey_flow import journey_flow

    config = load_config(SAMPLE_DIR / "cjm.yaml").model_copy(update={"flow_timeout_seconds": 3})
    db = tmp_path / "cjm.duckdb"
    # The run parks for ten minutes where it builds events, as a hung query would.
    monkeypatch.setenv("CJM_TEST_HOLD_AT", "building events")
    state = journey_flow(
        events=str(SAMPLE_DIR / "events"), db=str(db), config=config, return_state=True
    )
    assert state.is_failed() and state.name == "TimedOut"
    assert "flow_timeout_seconds (3 s)" in state.message
    assert not db.exists() and not list(tmp_path.glob(".cjm.duckdb.build-*"))
    with open(tmp_path / ".cjm.duckdb.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if a run still held it
    logged = [json.loads(line) for line in run_log_path(db).read_text().splitlines()]
    assert [r["status"] for r in logged] == ["failed"]
    assert "flow_timeout_seconds (3 s)" in logged[0]["error"]

"""A partitioned run on a real Dask cluster publishes the same tables as a single-process run."""

from __future__ import annotations

import json
import os

import duckdb
import pytest

from cjm.config import load_config, with_execution
from cjm.db import storage_version
from tests.conftest import SAMPLE_DIR, column_compression
from tests.pipelines.tables import data_table_differences

pytestmark = pytest.mark.slow  # a full flow on Prefect's test API


def _run(flow, db, config):
    state = flow(events=str(SAMPLE_DIR / "events"), db=str(db), config=config, return_state=True)
    assert state.is_completed(), state
    return state.result()


def test_dask_run_in_four_buckets_equals_single_process_run(prefect_harness, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream
    from prefect.settings import get_current_settings

    from pipelines.journey_flow import journey_flow

    config = load_config(SAMPLE_DIR / "cjm.yaml")
    single, partitioned = tmp_path / "single" / "cjm.duckdb", tmp_path / "dask" / "cjm.duckdb"
    _run(journey_flow, single, config)
    assert "build_buckets" not in _stage_seconds(single)

    # Workers report their task runs to the flow's Prefect API, as a real deployment's would.
    env = {
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "PREFECT_HOME": os.environ["PREFECT_HOME"],
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env=env,
        ) as cluster,
        Client(cluster) as client,
    ):
        dask_config = with_execution(
            config, partitions=4, task_runner="dask", dask_address=cluster.scheduler_address
        )
        with get_task_stream(client) as stream:
            _run(journey_flow, partitioned, dask_config)
        workers = {task["worker"] for task in stream.data}
    assert len(workers) == 2, f"the buckets ran on {workers}, not on both workers"
    assert not list(partitioned.parent.glob(".cjm.duckdb.build-*")), "bucket files left behind"

    compared, differing = data_table_differences(single, partitioned)
    assert {"events", "sessions", "journeys", "transitions"} <= set(compared)
    assert {"personas", "customer_personas", "churn_risk", "churn_patterns"} <= set(compared)
    assert not differing, f"(single-process only, Dask only) rows: {differing}"
    stages = _stage_seconds(partitioned)
    assert {"export_buckets", "build_buckets", "combine_buckets"} <= set(stages)
    # the combined tables are stored as a single-process build stores them
    con = duckdb.connect(str(partitioned), read_only=True)
    try:
        assert column_compression(con, "events", "event_id") == {"Uncompressed"}
        assert column_compression(con, "sessions", "session_id") == {"Uncompressed"}
        assert storage_version(con) == config.duckdb_storage_version
    finally:
        con.close()


def _stage_seconds(db) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        text = con.execute("select stage_seconds from pipeline_runs").fetchone()[0]
    finally:
        con.close()
    return json.loads(text)

"""A partitioned run on a real Dask cluster publishes the same tables as a single-process run.

The workers run in the environment of the installed wheel (the session fixture `installed`), as a
deployment's workers would: they import cjm and the flow's tasks from the wheel, not from this
checkout, so a module or data file the wheel lacks fails here.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cjm.config import load_config, with_execution
from cjm.db import storage_version
from tests.conftest import REPO, SAMPLE_DIR, column_compression
from tests.pipelines.tables import data_table_differences
from tests.wheel import clean_env

pytestmark = pytest.mark.slow  # a full flow on Prefect's test API


def _run(flow, db, config):
    state = flow(events=str(SAMPLE_DIR / "events"), db=str(db), config=config, return_state=True)
    assert state.is_completed(), state
    return state.result()


def test_dask_run_in_four_buckets_equals_single_process_run(prefect_harness, installed, tmp_path):
    from distributed import Client, LocalCluster, get_task_stream
    from prefect.settings import get_current_settings

    from pipelines.journey_flow import journey_flow

    config = load_config(SAMPLE_DIR / "cjm.yaml")
    single, partitioned = tmp_path / "single" / "cjm.duckdb", tmp_path / "dask" / "cjm.duckdb"
    _run(journey_flow, single, config)
    assert "build_buckets" not in _stage_seconds(single)

    # Workers report their task runs to the flow's Prefect API, as a real deployment's would.
    env = clean_env(tmp_path) | {
        "PREFECT_API_URL": str(get_current_settings().api.url),
        "PREFECT_HOME": os.environ["PREFECT_HOME"],
    }
    with (
        LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as cluster,
        _wheel_workers(installed, cluster.scheduler_address, 2, env, tmp_path),
        Client(cluster) as client,
    ):
        client.wait_for_workers(2, timeout=180)
        dask_config = with_execution(
            config, partitions=4, task_runner="dask", dask_address=cluster.scheduler_address
        )
        with get_task_stream(client) as stream:
            _run(journey_flow, partitioned, dask_config)
        workers = {task["worker"] for task in stream.data}
        imported = _modules_on_workers(client)
    assert len(imported) == 2, imported
    for worker, modules in imported.items():
        # A task's function travels by value (Prefect's Task wraps it, so pickle cannot find it
        # by name); the cjm modules it calls are imported on the worker, from the wheel.
        assert {"cjm.config", "cjm.steps", "cjm.build.models"} <= set(modules), (
            worker,
            sorted(modules),
        )
        outside = {m: f for m, f in modules.items() if not Path(f).is_relative_to(installed)}
        assert not outside, f"{worker} imported from outside the wheel's environment: {outside}"
        assert not any(Path(f).is_relative_to(REPO) for f in modules.values()), worker
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


@contextlib.contextmanager
def _wheel_workers(
    venv: Path, address: str, count: int, env: dict[str, str], where: Path
) -> Iterator[None]:
    """`count` Dask workers started by the python of `venv`, outside the checkout."""
    python = venv / "bin" / "python"
    workers = []
    for i in range(count):
        log = (where / f"worker-{i}.log").open("w")
        command = [python, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1"]
        command += ["--no-nanny", "--no-dashboard", "--name", f"wheel-{i}"]
        command += ["--local-directory", where / f"worker-{i}"]
        process = subprocess.Popen(
            [str(c) for c in command], cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        workers.append((process, log))
    try:
        yield
    finally:
        for process, _ in workers:
            process.terminate()
        for process, log in workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def _loaded_cjm_modules() -> dict[str, str]:
    """The file of every cjm and pipelines module this process has imported."""
    import sys

    return {
        name: module.__file__
        for name, module in sys.modules.items()
        if name.split(".")[0] in ("cjm", "pipelines") and getattr(module, "__file__", None)
    }


def _modules_on_workers(client) -> dict[str, dict[str, str]]:
    """Each worker's cjm and pipelines modules with their files (the function is sent by value:
    this test module is not in the wheel)."""
    import cloudpickle

    here = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(here)
    try:
        return client.run(_loaded_cjm_modules)
    finally:
        cloudpickle.unregister_pickle_by_value(here)

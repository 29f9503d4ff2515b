"""`cjm serve` against a real Prefect server: register, trigger, complete, publish."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest

from tests.conftest import REPO, SAMPLE_DIR

PREFECT = Path(sys.executable).with_name("prefect")
DEPLOYMENT = "cjm-journeys/scheduled"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# A busy server answers 503 while its SQLite database is locked; Prefect's own client retries these.
TRANSIENT = {429, 502, 503, 504}


def _call(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """One API call, retried while the server is only busy."""
    for _ in range(30):
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TransportError:
            time.sleep(1)
            continue
        if response.status_code not in TRANSIENT:
            return response
        time.sleep(1)
    return response


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """Stop a process group this test started: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _wait_for(check, what: str, timeout: float, processes: list[subprocess.Popen], logs):
    """Poll `check` until it returns a truthy value; fail with the logs if a process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is not None:
                pytest.fail(f"{what}: process exited early:\n{log.read_text()[-4000:]}")
        found = check()
        if found:
            return found
        time.sleep(0.5)
    tails = "\n---\n".join(log.read_text()[-4000:] for log in logs)
    pytest.fail(f"{what}: not within {timeout:.0f} s\n{tails}")


@pytest.fixture
def prefect_server(tmp_path) -> Iterator[tuple[str, dict, Path]]:
    """A real Prefect server on a free loopback port with its own PREFECT_HOME."""
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PREFECT_") and k not in ("PYTHONPATH",)
    }
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_API_URL=api,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PREFECT_LOGGING_LEVEL="INFO",
        # The runner checks for runs to start every 10 s by default; a triggered run waits less.
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        PYTHONPATH=str(REPO),
    )
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"{api}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(healthy, "prefect server health", 180, [server], [log])
        yield api, env, log
    finally:
        _stop(server)


@pytest.mark.slow
def test_serve_registers_deployment_and_a_triggered_run_publishes(prefect_server, tmp_path):
    api, env, server_log = prefect_server
    db = tmp_path / "out" / "cjm.duckdb"
    serve_log = tmp_path / "serve.log"
    with serve_log.open("w") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "cjm.cli", "serve", "--config", str(SAMPLE_DIR / "cjm.yaml")]
            + ["--events", str(SAMPLE_DIR / "events"), "--db", str(db)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs, logs = [serve], [serve_log]
    try:
        with httpx.Client(base_url=api, timeout=10) as client:

            def deployment() -> dict | None:
                response = _call(client, "GET", f"/deployments/name/{DEPLOYMENT}")
                return response.json() if response.status_code == 200 else None

            found = _wait_for(deployment, "deployment registered", 180, procs, logs)
            # The schedule and the parameters come from the config and the command line.
            crons = [s["schedule"].get("cron") for s in found["schedules"]]
            assert crons == ["0 3 * * *"]
            assert found["schedules"][0]["schedule"]["timezone"] == "Europe/Amsterdam"
            assert found["parameters"]["db"] == str(db)
            assert found["parameters"]["config"]["timezone"] == "Europe/Amsterdam"

            # What `prefect deployment run` does, without paying for another Prefect process.
            created = _call(client, "POST", f"/deployments/{found['id']}/create_flow_run", json={})
            assert created.status_code == 201, created.text
            run_id = created.json()["id"]

            def finished() -> dict | None:
                run = _call(client, "GET", f"/flow_runs/{run_id}").json()
                return run if run.get("state_type") in FINAL else None

            run = _wait_for(finished, "flow run finished", 420, procs, logs)
            assert run["state_type"] == "COMPLETED", serve_log.read_text()[-4000:]

            artifacts = _call(
                client,
                "POST",
                "/artifacts/filter",
                json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}},
            ).json()
            by_key = {a["key"]: a for a in artifacts}
            assert "rows read" in by_key["cjm-run-summary"]["data"]
            assert by_key["cjm-top-churn-risks"]["type"] == "table"
    finally:
        _stop(serve)
    con = duckdb.connect(str(db), read_only=True)
    try:
        runs = con.execute("select status, code_version, customers from pipeline_runs").fetchall()
    finally:
        con.close()
    assert len(runs) == 1 and runs[0][0] == "success" and runs[0][2] > 0
    assert runs[0][1].startswith("0.")
    assert not list(db.parent.glob(".cjm.duckdb.build-*"))

"""`cjm serve` against a real Prefect server: register, queue, time out, notify, publish."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import httpx
import pytest
import yaml

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


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[tuple[str, dict, Path]]:
    """A real Prefect server on a free loopback port with its own PREFECT_HOME, shared by the
    session's tests (each serves its own deployment)."""
    tmp_path = tmp_path_factory.mktemp("prefect-server")
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
        # A run queued behind the deployment's concurrency limit is retried after 30 s by
        # default; the queueing test need not wait that long.
        PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS="2",
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


def _serve(env: dict, tmp_path: Path, db: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """`cjm serve` on the bundled sample in its own process group, its output in a log."""
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cjm.cli", "serve", "--events", str(SAMPLE_DIR / "events")]
            + ["--db", str(db), *extra],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def _states(client: httpx.Client, run_id: str) -> list[str]:
    """The names of every state a flow run has been in, oldest first."""
    found = _call(client, "GET", "/flow_run_states/", params={"flow_run_id": run_id}).json()
    return [s["name"] for s in sorted(found, key=lambda s: s["timestamp"])]


@pytest.mark.slow
def test_serve_queues_a_second_run_and_both_publish(prefect_server, tmp_path):
    api, env, server_log = prefect_server
    db = tmp_path / "out" / "cjm.duckdb"
    serve, serve_log = _serve(env, tmp_path, db, "--config", str(SAMPLE_DIR / "cjm.yaml"))
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
            # One run at a time; a run triggered meanwhile queues instead of failing on the lock.
            assert found["global_concurrency_limit"]["limit"] == 1
            assert found["concurrency_options"]["collision_strategy"] == "ENQUEUE"

            # Two triggers at once, as `prefect deployment run` twice would make them.
            run_ids = []
            for _ in range(2):
                created = _call(
                    client, "POST", f"/deployments/{found['id']}/create_flow_run", json={}
                )
                assert created.status_code == 201, created.text
                run_ids.append(created.json()["id"])

            def finished() -> list[dict] | None:
                runs = [_call(client, "GET", f"/flow_runs/{i}").json() for i in run_ids]
                return runs if all(r.get("state_type") in FINAL for r in runs) else None

            runs = _wait_for(finished, "both flow runs finished", 600, procs, logs)
            assert [r["state_type"] for r in runs] == ["COMPLETED"] * 2, serve_log.read_text()[
                -4000:
            ]
            # The one that lost the race waited for the slot, then ran after the other ended.
            first, second = sorted(runs, key=lambda r: r["start_time"])
            assert "AwaitingConcurrencySlot" in _states(client, second["id"])
            assert "AwaitingConcurrencySlot" not in _states(client, first["id"])
            assert second["start_time"] >= first["end_time"]

            for run in runs:
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
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute(
            "select status, load_mode, code_version, customers from pipeline_runs "
            "order by started_at"
        ).fetchall()
    # The second run found the same files already published: nothing to reload, still a run.
    assert [(r[0], r[1]) for r in runs] == [("success", "full"), ("success", "unchanged")]
    assert runs[0][3] > 0 and runs[1][3] == runs[0][3]
    assert all(r[2].startswith("0.") for r in runs)
    assert not list(db.parent.glob(".cjm.duckdb.build-*"))


class _Hook(BaseHTTPRequestHandler):
    """Records every POST body: the notification block's webhook on loopback."""

    received: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (the http.server hook name)
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(self.rfile.read(length).decode())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint on loopback; yields its URL and the bodies posted to it."""
    received: list[str] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_a_hung_served_run_times_out_frees_the_lock_and_notifies(prefect_server, tmp_path, webhook):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api, env, server_log = prefect_server
    url, received = webhook
    db = tmp_path / "out" / "cjm.duckdb"
    config = tmp_path / "cjm.yaml"
    config.write_text((SAMPLE_DIR / "cjm.yaml").read_text() + "flow_timeout_seconds: 20\n")
    # Every run of this deployment parks where it builds events, as a hung query would.
    serve, serve_log = _serve(
        {**env, "CJM_TEST_HOLD_AT": "building events"},
        tmp_path,
        db,
        *("--config", str(config), "--name", "hangs"),
    )
    procs, logs = [serve], [serve_log]
    try:
        with httpx.Client(base_url=api, timeout=10) as client:

            def deployment() -> dict | None:
                response = _call(client, "GET", "/deployments/name/cjm-journeys/hangs")
                return response.json() if response.status_code == 200 else None

            found = _wait_for(deployment, "deployment registered", 180, procs, logs)
            with temporary_settings(updates={PREFECT_API_URL: api}):
                CustomWebhookNotificationBlock(
                    name="cjm test",
                    url=url,
                    json_data={"text": "{{subject}} | {{body}}"},
                    allow_private_urls=True,  # the test's webhook listens on loopback
                ).save("cjm-test-hook", overwrite=True)
            created = subprocess.run(
                [sys.executable, "-m", "cjm.cli", "notify-on-failure"]
                + ["--deployment", "cjm-journeys/hangs", "--block", "custom-webhook/cjm-test-hook"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert created.returncode == 0, created.stderr
            automations = _call(client, "POST", "/automations/filter", json={}).json()
            (automation,) = [
                a for a in automations if a["name"] == "cjm-journeys/hangs: notify on failure"
            ]
            trigger = automation["trigger"]
            assert sorted(trigger["expect"]) == [
                "prefect.flow-run.Crashed",
                "prefect.flow-run.Failed",
                "prefect.flow-run.TimedOut",
            ]
            related = trigger["match_related"]["prefect.resource.id"]
            assert related in (
                f"prefect.deployment.{found['id']}",
                [f"prefect.deployment.{found['id']}"],
            )
            assert automation["actions"][0]["type"] == "send-notification"

            run = _call(client, "POST", f"/deployments/{found['id']}/create_flow_run", json={})
            run_id = run.json()["id"]

            def finished() -> dict | None:
                run = _call(client, "GET", f"/flow_runs/{run_id}").json()
                return run if run.get("state_type") in FINAL else None

            run = _wait_for(finished, "flow run finished", 420, procs, logs)
            assert (run["state_type"], run["state_name"]) == ("FAILED", "TimedOut")
            assert "flow_timeout_seconds (20 s)" in run["state"]["message"]
            note = _wait_for(lambda: received, "failure notification", 180, procs, logs)
            assert "TimedOut" in note[0] and "hangs" in note[0]
    finally:
        _stop(serve)
    assert "cjm test hold: building events" in serve_log.read_text()
    # Nothing published, nothing left behind, and the lock is free for the next run.
    assert not db.exists() and not list(db.parent.glob(".cjm.duckdb.build-*"))
    with open(db.with_name(".cjm.duckdb.lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


@pytest.mark.slow
def test_prefect_yaml_deploys_to_a_work_pool_whose_worker_queues_and_publishes(
    prefect_server, tmp_path
):
    api, env, server_log = prefect_server
    db = tmp_path / "out" / "cjm.duckdb"
    # The repository's prefect.yaml, with this checkout as the working directory and its own
    # deployment name and database.
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    spec["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] = str(REPO)
    (deployment,) = spec["deployments"]
    deployment["name"] = "work-pool"
    deployment["parameters"]["db"] = str(db)
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(yaml.safe_dump(spec))
    pool = deployment["work_pool"]["name"]

    def prefect(*args: str) -> None:
        done = subprocess.run(
            [str(PREFECT), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr

    prefect("work-pool", "create", pool, "--type", "process", "--overwrite")
    prefect("--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file))
    worker_log = tmp_path / "worker.log"
    with worker_log.open("w") as out:
        worker = subprocess.Popen(
            [str(PREFECT), "worker", "start", "--pool", pool, "--type", "process"],
            env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    procs, logs = [worker], [worker_log]
    try:
        with httpx.Client(base_url=api, timeout=10) as client:
            found = _call(client, "GET", "/deployments/name/cjm-journeys/work-pool").json()
            assert found["work_pool_name"] == pool
            assert found["global_concurrency_limit"]["limit"] == 1
            assert found["concurrency_options"]["collision_strategy"] == "ENQUEUE"
            assert [s["schedule"]["cron"] for s in found["schedules"]] == ["0 3 * * *"]
            run_ids = [
                _call(
                    client, "POST", f"/deployments/{found['id']}/create_flow_run", json={}
                ).json()["id"]
                for _ in range(2)
            ]

            def finished() -> list[dict] | None:
                runs = [_call(client, "GET", f"/flow_runs/{i}").json() for i in run_ids]
                return runs if all(r.get("state_type") in FINAL for r in runs) else None

            runs = _wait_for(finished, "both worker runs finished", 600, procs, logs)
            assert [r["state_type"] for r in runs] == ["COMPLETED"] * 2, worker_log.read_text()[
                -4000:
            ]
            first, second = sorted(runs, key=lambda r: r["start_time"])
            assert "AwaitingConcurrencySlot" in _states(client, second["id"])
            assert second["start_time"] >= first["end_time"]
    finally:
        _stop(worker)
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute(
            "select status, load_mode from pipeline_runs order by started_at"
        ).fetchall()
        (checkout_steps,) = con.execute(
            "select count(*) from funnel_steps where funnel = 'checkout'"
        ).fetchone()
    assert runs == [("success", "full"), ("success", "unchanged")]
    assert checkout_steps == 4  # the funnel of prefect.yaml's config parameter

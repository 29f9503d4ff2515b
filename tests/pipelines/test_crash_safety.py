"""`cjm run` as a real process: killed with SIGKILL at each stage, or raced by a second run, it
never damages the published file, and the next run cleans up and completes."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from cjm.sample import generate_sample

pytestmark = pytest.mark.slow  # cjm run processes killed and raced at each stage

REPO = Path(__file__).resolve().parents[2]
HOLD_TIMEOUT = 600


class CjmProcess:
    """A `cjm run` subprocess in its own process group, its merged output read line by line."""

    def __init__(self, args: list[str], api_url: str, hold_at: str | None = None):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
        # The session's test API: a process that starts its own costs 10 s or more.
        env["PREFECT_API_URL"] = api_url
        env.pop("CJM_TEST_HOLD_AT", None)
        if hold_at:
            env["CJM_TEST_HOLD_AT"] = hold_at
        # Its own session, so SIGKILL reaches everything it started, like `kill -9` of a job's
        # process group.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cjm.cli", "run", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = HOLD_TIMEOUT) -> str:
        """Block until an output line contains `text`; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.output.append(line)
            if text in line:
                return line
        pytest.fail(f"never saw {text!r}; output:\n{''.join(self.output)}")

    def finish(self, timeout: float = HOLD_TIMEOUT) -> tuple[int, str]:
        """Wait for exit; return the code and the whole output."""
        code = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=10)) is not None:
            self.output.append(line)
        return code, "".join(self.output)

    def kill(self) -> None:
        """SIGKILL the whole process group, as `kill -9` would, and reap it."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)


def _state(db: Path) -> tuple:
    """The published file's content: its successful run ids and a hash of the events table."""
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute(
            "select run_id from pipeline_runs where status = 'success' order by started_at"
        ).fetchall()
        events = con.execute("select count(*), bit_xor(hash(e)) from events as e").fetchone()
        return tuple(r[0] for r in runs), events


def _builds(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f".{db.name}.build-*"))


def _lock_is_free(db: Path) -> bool:
    with open(db.with_name(f".{db.name}.lock"), "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


@pytest.fixture(scope="module")
def published(prefect_harness, tmp_path_factory) -> dict:
    """A small log in two drops, the first one published by a completed `cjm run`."""
    root = tmp_path_factory.mktemp("crash")
    generate_sample(root / "log", customers=120, seed=5)
    day1, day2 = root / "day1", root / "day2"
    day1.mkdir()
    day2.mkdir()
    for name in ("events_app.jsonl", "events_store.parquet"):
        shutil.copy(root / "log" / "events" / name, day1 / name)
    shutil.copy(root / "log" / "events" / "events_web.csv", day2 / "events_web.csv")
    from prefect.settings import get_current_settings

    api_url = get_current_settings().api.url
    db = root / "out" / "cjm.duckdb"
    args = ["--events", str(day1), "--config", str(root / "log" / "cjm.yaml"), "--db", str(db)]
    code, output = CjmProcess(args, api_url).finish()
    assert code == 0, output
    return {"db": db, "root": root, "config": root / "log" / "cjm.yaml", "api": api_url}


def _copy_published(published: dict, tmp_path: Path) -> Path:
    db = tmp_path / "out" / "cjm.duckdb"
    db.parent.mkdir()
    shutil.copy(published["db"], db)
    return db


def _args(published: dict, db: Path) -> list[str]:
    events = f"{published['root']}/day*/*"
    return ["--events", events, "--config", str(published["config"]), "--db", str(db)]


# Progress messages that start each stage: seeding and reading new files, the SQL models,
# personas, and the moment between the final checkpoint and the swap onto the published path.
STAGES = ("reading", "building events", "clustering", "checkpointed the build")


def test_kill_at_every_stage_leaves_published_file_whole(published, tmp_path):
    db = _copy_published(published, tmp_path)
    before = _state(db)
    for stage in STAGES:
        run = CjmProcess(_args(published, db), published["api"], hold_at=stage)
        run.wait_for(f"cjm test hold: {stage}")
        run.kill()
        assert _state(db) == before, f"published file changed by a run killed at {stage!r}"
    assert _builds(db), "the killed runs left no build file: nothing was being built"
    assert _lock_is_free(db)

    code, output = CjmProcess(_args(published, db), published["api"]).finish()
    assert code == 0, output
    assert "incremental load" in output
    runs, events = _state(db)
    assert runs[:-1] == before[0] and len(runs) == len(before[0]) + 1
    assert events[0] > before[1][0]
    assert _builds(db) == []

    # Every killed run is on record, with its start and the stage it was killed in: in the run
    # log (written by the run that took the lock next) and in the published pipeline_runs.
    killed_in = ["load_events", "build_journeys", "build_personas", "publish"]
    log = [json.loads(line) for line in (tmp_path / "out" / "cjm.duckdb.runs.jsonl").open()]
    logged = [r for r in log if r["status"] == "interrupted"]
    assert [r["last_stage"] for r in logged] == killed_in, log
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select run_id, started_at, last_stage, error from pipeline_runs "
            "where status = 'interrupted' order by started_at"
        ).fetchall()
    assert [r[0] for r in rows] == [r["run_id"] for r in logged]
    assert [r[2] for r in rows] == killed_in
    assert all(r[1] is not None and "killed or crashed" in r[3] for r in rows), rows
    assert f"{rows[-1][0]} (started" in output and "interrupted in stage publish" in output
    assert not (tmp_path / "out" / ".cjm.duckdb.running").exists()


def test_second_run_refuses_while_first_builds(published, tmp_path):
    db = _copy_published(published, tmp_path)
    before = _state(db)
    first = CjmProcess(_args(published, db), published["api"], hold_at="building events")
    try:
        first.wait_for("cjm test hold: building events")
        second = CjmProcess(_args(published, db), published["api"])
        code, output = second.finish()
        assert code == 2, output
        assert f"another cjm run (pid {first.proc.pid}) is already building" in output
        assert _state(db) == before
    finally:
        first.kill()
    assert _state(db) == before
    code, output = CjmProcess(_args(published, db), published["api"]).finish()
    assert code == 0, output
    assert _state(db)[0][:-1] == before[0]
    assert _builds(db) == []
    # The refused run is not lost: the next successful run records it as failed, with the reason.
    with duckdb.connect(str(db), read_only=True) as con:
        failed = con.execute("select error from pipeline_runs where status = 'failed'").fetchall()
    assert len(failed) == 1 and "already building" in failed[0][0], failed

"""run_deadline: an overrunning run fails with RunTimeoutError; one stuck in native code ends."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from cjm.config import ConfigError, parse_config
from cjm.deadline import RunTimeoutError, run_deadline
from tests.conftest import REPO


def test_an_overrunning_run_fails_with_the_configured_limit_named():
    with pytest.raises(RunTimeoutError, match=r"flow_timeout_seconds \(0.2 s\)"), run_deadline(0.2):
        time.sleep(30)


def test_a_task_catching_exception_cannot_swallow_the_deadline():
    # Prefect retries a task on an Exception: the deadline must pass through such handlers.
    with pytest.raises(RunTimeoutError), run_deadline(0.2):
        for _ in range(300):
            with contextlib.suppress(Exception):  # what a retrying task does
                time.sleep(0.1)


def test_a_run_within_its_deadline_is_untouched_and_the_alarm_is_restored():
    before = signal.getsignal(signal.SIGALRM)
    with run_deadline(30):
        value = sum(range(1000))
    assert value == 499500
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_no_deadline_sets_no_alarm():
    with run_deadline(None):
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_duckdb_query_past_the_deadline_is_interrupted_and_reported_as_the_timeout():
    con = duckdb.connect(config={"threads": 1})
    try:
        with pytest.raises(RunTimeoutError) as raised, run_deadline(0.5):
            con.execute("select sum(hash(range)) from range(1000000000000)").fetchall()
    finally:
        con.close()
    # DuckDB raised its own error when the alarm interrupted it; the timeout is what is reported.
    assert "Query interrupted" in str(raised.value.__cause__)


def test_a_retried_duckdb_query_does_not_carry_the_run_past_its_deadline():
    # What a Prefect task with retries does with DuckDB's "Query interrupted": run it again.
    con = duckdb.connect(config={"threads": 1})
    attempts = []
    try:
        with pytest.raises(RunTimeoutError), run_deadline(0.5):
            for _ in range(5):
                attempts.append(1)
                with contextlib.suppress(Exception):
                    con.execute("select sum(hash(range)) from range(1000000000000)").fetchall()
                time.sleep(2)  # the retry delay: 2 s or more in the flow
    finally:
        con.close()
    # The repeated alarm ends the retry delay after the first interrupted attempt.
    assert len(attempts) == 1


STUCK = """
import signal, time
from cjm.deadline import run_deadline
# The alarm never reaches the run: like native code that never returns to Python.
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
with run_deadline(0.5, grace_seconds=0.5):
    time.sleep(60)
print("slept to the end")
"""


def test_a_run_the_alarm_cannot_reach_is_ended_after_the_grace_period():
    done = subprocess.run(
        [sys.executable, "-c", STUCK], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 124, done.stderr
    assert "slept to the end" not in done.stdout
    assert "exceeded flow_timeout_seconds (0.5 s)" in done.stderr
    assert "ending the process" in done.stderr


def test_flow_timeout_defaults_to_four_hours_and_may_be_switched_off():
    assert parse_config({}).flow_timeout_seconds == 4 * 3600
    assert parse_config({"flow_timeout_seconds": None}).flow_timeout_seconds is None
    assert parse_config({"flow_timeout_seconds": 90}).flow_timeout_seconds == 90


@pytest.mark.parametrize("bad", [0, -5, 8 * 24 * 3600, "soon"])
def test_a_bad_flow_timeout_names_the_setting(bad):
    with pytest.raises(ConfigError, match="flow_timeout_seconds"):
        parse_config({"flow_timeout_seconds": bad}, "cjm.yaml")

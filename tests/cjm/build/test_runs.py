"""The run log keeps failed runs beside the published file until pipeline_runs takes them in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from cjm.build.runs import (
    append_run_log,
    mark_stage,
    marker_path,
    new_run,
    read_failed_runs,
    read_previous_runs,
    run_log_path,
    take_interrupted_run,
    write_pipeline_runs,
)


def _failed(db, message):
    record = new_run(db, {"timezone": "UTC"}, code_version="1.2.3+gdeadbeef")
    record.status, record.error = "failed", message
    record.finished_at = datetime.now(UTC)
    append_run_log(db, record)
    return record


def test_failed_runs_are_carried_into_pipeline_runs_once(tmp_path):
    db = tmp_path / "cjm.duckdb"
    first = _failed(db, "IngestError: a.csv: no such file")
    assert run_log_path(db) == tmp_path / "cjm.duckdb.runs.jsonl"
    # a line cut short by a crash does not hide the others
    with run_log_path(db).open("a") as handle:
        handle.write('{"run_id": "half')
    with run_log_path(db).open("a") as handle:
        handle.write("\n")
    second = _failed(db, "RunLockedError: busy")
    found = read_failed_runs(db, None)
    assert [r.run_id for r in found] == [first.run_id, second.run_id]
    assert found[0].code_version == "1.2.3+gdeadbeef" and found[0].started_at == first.started_at

    ok = new_run(db, {"timezone": "UTC"})
    ok.status, ok.finished_at = "success", datetime.now(UTC)
    con = duckdb.connect(str(db))
    write_pipeline_runs(con, ok, read_previous_runs(db), found)
    con.close()
    previous = read_previous_runs(db)
    assert list(previous["status"]) == ["failed", "failed", "success"]
    assert previous["error"].iloc[0] == "IngestError: a.csv: no such file"
    # the next run does not copy them again
    assert read_failed_runs(db, previous) == []


def test_run_log_lines_are_json_with_the_outcome(tmp_path):
    db = tmp_path / "out.duckdb"
    record = _failed(db, "ValueError: boom")
    line = json.loads(run_log_path(db).read_text().splitlines()[0])
    assert line["run_id"] == record.run_id and line["status"] == "failed"
    assert line["error"] == "ValueError: boom" and "file_counts" not in line


def test_a_run_that_left_its_marker_is_logged_as_interrupted(tmp_path):
    db = tmp_path / "cjm.duckdb"
    killed = new_run(db, {"timezone": "UTC"})
    killed.input_files = ["a.csv"]
    mark_stage(killed, "load_events")
    mark_stage(killed, "build_personas")
    assert marker_path(db) == tmp_path / ".cjm.duckdb.running"

    found = take_interrupted_run(db, "20260101T000000Z-next")
    assert found.run_id == killed.run_id and found.status == "interrupted"
    assert found.started_at == killed.started_at and found.last_stage == "build_personas"
    assert found.input_files == ["a.csv"] and found.finished_at is None
    assert "interrupted in stage build_personas" in found.error
    assert "20260101T000000Z-next" in found.error
    assert not marker_path(db).exists()
    assert take_interrupted_run(db, "again") is None
    # on record in the run log, and carried into pipeline_runs by the next successful run
    assert [r.run_id for r in read_failed_runs(db, None)] == [killed.run_id]
    ok = new_run(db, {"timezone": "UTC"})
    ok.status, ok.finished_at, ok.last_stage = "success", datetime.now(UTC), "finish"
    con = duckdb.connect(str(db))
    write_pipeline_runs(con, ok, None, read_failed_runs(db, None))
    rows = con.execute(
        "select status, last_stage, started_at from pipeline_runs order by started_at"
    ).fetchall()
    con.close()
    assert [r[:2] for r in rows] == [("interrupted", "build_personas"), ("success", "finish")]
    assert rows[0][2] == killed.started_at


def test_a_marker_of_a_published_run_is_only_removed(tmp_path):
    db = tmp_path / "cjm.duckdb"
    run = new_run(db, {"timezone": "UTC"})
    run.status, run.finished_at = "success", datetime.now(UTC)
    con = duckdb.connect(str(db))
    write_pipeline_runs(con, run, None)
    con.close()
    mark_stage(run, "publish")  # killed after the swap, before it removed its marker
    assert take_interrupted_run(db, "next") is None
    assert not marker_path(db).exists() and not run_log_path(db).exists()
    marker_path(db).write_text('{"run_id": "cut sh')  # cannot be read: dropped, not guessed at
    assert take_interrupted_run(db, "next") is None and not marker_path(db).exists()

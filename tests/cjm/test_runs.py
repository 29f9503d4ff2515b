"""The run log keeps failed runs beside the published file until pipeline_runs takes them in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from cjm.runs import (
    append_run_log,
    new_run,
    read_failed_runs,
    read_previous_runs,
    run_log_path,
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

"""The load plan: which files a run reads, judged against the published loaded_files table."""

from __future__ import annotations

import os

import pytest

from cjm.build.files import FileLoad
from cjm.build.manifest import IncrementalLoadError, full_plan, plan_load, write_manifest
from cjm.build.models import EVENTS_COLUMNS
from cjm.config import Config, parse_config
from cjm.db import connect
from tests.conftest import write_csv

ROWS = [{"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"}]


def _publish_manifest(db, files, config: Config, events_columns=EVENTS_COLUMNS) -> None:
    """A published file whose loaded_files lists `files`, loaded by run r1 (and an empty events
    table with events_columns)."""
    plan = full_plan(files, config, run_id="r1")
    con = connect(db)
    try:
        write_manifest(con, plan, [FileLoad(str(p), "csv", 1, 0) for p in files])
        if events_columns:
            con.execute(
                f"create table events ({', '.join(f'{c} varchar' for c in events_columns)})"
            )
    finally:
        con.close()


def test_new_file_is_planned_and_loaded_ones_are_skipped(tmp_path):
    config = Config()
    old = write_csv(tmp_path / "day1.csv", ROWS)
    db = tmp_path / "cjm.duckdb"
    _publish_manifest(db, [old], config)
    new = write_csv(tmp_path / "day2.csv", ROWS + ROWS)
    plan = plan_load(db, [old, new], config, run_id="r2")
    assert plan.mode == "incremental" and plan.files == [new]
    assert plan.already_loaded == [str(old)]
    # Same content under a new name is a new file; the plan says its rows will be duplicates.
    copy = tmp_path / "day1_copy.csv"
    copy.write_bytes(old.read_bytes())
    plan = plan_load(db, [old, copy], config, run_id="r3")
    assert plan.files == [copy] and any("same content" in note for note in plan.notes)


def test_touched_but_unchanged_file_is_not_reloaded(tmp_path):
    config = Config()
    path = write_csv(tmp_path / "day1.csv", ROWS)
    db = tmp_path / "cjm.duckdb"
    _publish_manifest(db, [path], config)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    plan = plan_load(db, [path], config, run_id="r2")
    assert plan.mode == "unchanged" and plan.files == []


def test_changed_content_and_changed_settings_are_refused(tmp_path):
    config = Config()
    path = write_csv(tmp_path / "day1.csv", ROWS)
    db = tmp_path / "cjm.duckdb"
    _publish_manifest(db, [path], config)
    other = parse_config({"session_gap_minutes": 45})
    with pytest.raises(IncrementalLoadError, match="settings that shape events.*--full-refresh"):
        plan_load(db, [path], other, run_id="r2")
    # Churn and persona settings do not shape loaded events: no refusal.
    assert plan_load(db, [path], parse_config({"random_state": 3})).mode == "unchanged"
    write_csv(path, ROWS + ROWS)
    with pytest.raises(IncrementalLoadError, match=r"day1\.csv: content changed since run r1"):
        plan_load(db, [path], config, run_id="r2")
    assert plan_load(db, [path], config, full_refresh=True).mode == "full"


def test_published_file_without_manifest_is_rebuilt_in_full(tmp_path):
    db = tmp_path / "cjm.duckdb"
    connect(db).close()
    path = write_csv(tmp_path / "day1.csv", ROWS)
    plan = plan_load(db, [path], Config())
    assert plan.mode == "full" and plan.files == [path]
    assert any("no loaded_files table" in note for note in plan.notes)


def test_events_from_another_version_are_refused_before_anything_is_loaded(tmp_path):
    config = Config()
    old, new = write_csv(tmp_path / "day1.csv", ROWS), write_csv(tmp_path / "day2.csv", ROWS)
    db = tmp_path / "cjm.duckdb"
    # as published by a version whose events lacked the neighbour columns, and had one of its own
    earlier = [c for c in EVENTS_COLUMNS if c != "previous_touchpoint"] + ["legacy_flag"]
    _publish_manifest(db, [old], config, events_columns=earlier)
    with pytest.raises(IncrementalLoadError) as refused:
        plan_load(db, [old, new], config, run_id="r2")
    message = str(refused.value)
    assert str(db) in message and "--full-refresh" in message
    assert "without previous_touchpoint" in message and "with legacy_flag as well" in message
    assert plan_load(db, [old, new], config, full_refresh=True).mode == "full"
    _publish_manifest(tmp_path / "bare.duckdb", [old], config, events_columns=())
    with pytest.raises(IncrementalLoadError, match="has no events table"):
        plan_load(tmp_path / "bare.duckdb", [old, new], config, run_id="r2")

"""Incremental runs of the real flow equal a full rebuild, and a rerun with no new file changes
nothing but pipeline_runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cjm.build.manifest import IncrementalLoadError
from cjm.config import load_config
from cjm.db import storage_version
from cjm.sample import generate_sample
from tests.pipelines.tables import data_table_differences, table_hashes

pytestmark = pytest.mark.slow  # full flows on Prefect's test API


def _run(events, db, config, full_refresh=False):
    from pipelines.journey_flow import journey_flow

    state = journey_flow(
        events=str(events),
        db=str(db),
        config=config,
        full_refresh=full_refresh,
        return_state=True,
    )
    assert state.is_completed(), state
    return state.result()


def _query(db: Path, sql: str):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _storage_version(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return storage_version(con)
    finally:
        con.close()


def _split_lines(source: Path, first: Path, second: Path, at: float = 0.5) -> None:
    """Split a text file by lines (keeping a CSV header on both parts), broken lines and all."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[:1] if source.suffix == ".csv" else []
    body = lines[len(header) :]
    cut = int(len(body) * at)
    first.write_text("".join(header + body[:cut]), encoding="utf-8")
    second.write_text("".join(header + body[cut:]), encoding="utf-8")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, Path]:
    """A small generated log split so that later files bring late events, links and copies."""
    src = tmp_path_factory.mktemp("log")
    generate_sample(src, customers=250, seed=11)
    land = tmp_path_factory.mktemp("landing")
    # The web log is in time order: its older half arrives last, as late events.
    _split_lines(src / "events" / "events_web.csv", land / "web_1.csv", land / "web_2.csv")
    (land / "app.jsonl").write_bytes((src / "events" / "events_app.jsonl").read_bytes())
    (land / "store.parquet").write_bytes((src / "events" / "events_store.parquet").read_bytes())
    # Copies of events already in web_2.csv, in a file that sorts before it: the copies become the
    # events and web_2's rows become duplicates, exactly as a full build decides.
    web_2 = (land / "web_2.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (land / "a_replay.csv").write_text("".join(web_2[:1] + web_2[1:41]), encoding="utf-8")
    return land, src / "cjm.yaml"


def test_incremental_sequence_equals_full_rebuild(prefect_harness, landing, tmp_path):
    land, config_path = landing
    config = load_config(config_path)
    inc, full = tmp_path / "inc.duckdb", tmp_path / "full.duckdb"

    # The first file in the running DuckDB's own format, as cjm wrote before duckdb_storage_version:
    # the incremental run converts it to the configured format.
    latest = config.model_copy(update={"duckdb_storage_version": "latest"})
    first = _run(land / "web_2.csv", inc, latest)
    assert first["load_mode"] == "full"
    assert _storage_version(inc) not in ("", config.duckdb_storage_version)
    # The rebuild starts from the same published run, so persona ids are matched to the same
    # predecessor in both databases and can be compared as they are.
    shutil.copyfile(inc, full)
    journeys_sql = "select customer_id, first_seen_at from journeys"
    before = dict(_query(inc, journeys_sql))
    second = _run(land, inc, config)  # the whole folder: only the four new files are read
    assert second["load_mode"] == "incremental"
    assert _storage_version(inc) == config.duckdb_storage_version == "v1.4.0"
    assert sorted(f["source_file"] for f in second["files"]) == sorted(
        str(p.resolve()) for p in land.iterdir() if p.name != "web_2.csv"
    )
    after = dict(_query(inc, journeys_sql))
    late = [c for c in before.keys() & after.keys() if after[c] < before[c]]
    assert late, "no late event moved a journey's start earlier"
    restitched = [c for c in before.keys() - after.keys() if c.startswith("anon:")]
    assert restitched, "no anonymous journey was stitched to a customer by a later file"
    web_2_counts = _query(
        inc,
        "select rows_accepted, rows_duplicate from file_loads where source_file like '%web_2.csv'",
    )
    first_web_2 = [
        (f["rows_accepted"], f["rows_duplicate"])
        for f in first["files"]
        if f["source_file"].endswith("web_2.csv")
    ]
    assert web_2_counts[0][1] > first_web_2[0][1], "no published event became a duplicate"
    assert sum(web_2_counts[0]) == sum(first_web_2[0])

    before_rerun = table_hashes(inc)
    rerun = _run(land, inc, config)
    assert rerun["load_mode"] == "unchanged" and rerun["files"] == []
    assert _storage_version(inc) == "v1.4.0"
    after_rerun = table_hashes(inc)
    assert set(after_rerun) == set(before_rerun)
    for table in set(before_rerun) - {"pipeline_runs"}:
        assert after_rerun[table] == before_rerun[table], table
    modes = _query(inc, "select load_mode from pipeline_runs order by started_at")
    assert [m[0] for m in modes] == ["full", "incremental", "unchanged"]
    # Nothing new loaded: the run says so and reports the published figures, not zeros or NULLs.
    assert any("no new input files" in note for note in rerun["notes"]), rerun["notes"]
    published = _query(
        inc,
        "select (select count(*) from journeys), (select count(*) from sessions), "
        "(select count(*) from personas), (select count(*) from churn_risk), "
        "(select count(*) from churn_risk where risk_tier = 'high')",
    )[0]
    names = ("customers", "sessions", "personas", "customers_scored", "flagged")
    assert tuple(rerun["counts"][n] for n in names) == published
    recorded = _query(inc, f"select {', '.join(names)} from pipeline_runs order by started_at")
    assert recorded[2] == published == recorded[1]

    rebuilt = _run(land, full, config, full_refresh=True)
    assert rebuilt["load_mode"] == "full"
    compared, differing = data_table_differences(inc, full)
    assert {"events", "sessions", "journeys", "transitions", "file_loads"} <= set(compared)
    assert {"personas", "customer_personas", "churn_risk", "touchpoint_insights"} <= set(compared)
    assert not differing, f"(incremental only, rebuild only) rows: {differing}"
    manifest = _query(inc, "select count(*), count(distinct run_id) from loaded_files")
    assert manifest == [(5, 2)]


def test_changed_file_is_refused_until_full_refresh(prefect_harness, tmp_path):
    from tests.conftest import write_csv

    config = load_config(None)
    db = tmp_path / "cjm.duckdb"
    rows = [{"customer_id": "c1", "event_time": "2026-01-01T10:00:00Z", "touchpoint": "view"}]
    path = write_csv(tmp_path / "day1.csv", rows)
    _run(path, db, config)
    before = db.read_bytes()
    write_csv(path, rows + [{"customer_id": "c2", "event_time": "2026-01-01", "touchpoint": "x"}])
    from pipelines.journey_flow import journey_flow

    state = journey_flow(events=str(path), db=str(db), config=config, return_state=True)
    assert state.is_failed()
    with pytest.raises(IncrementalLoadError, match=r"day1\.csv: content changed.*--full-refresh"):
        state.result()
    assert db.read_bytes() == before
    summary = _run(path, db, config, full_refresh=True)
    assert summary["load_mode"] == "full" and summary["rows_accepted"] == 2

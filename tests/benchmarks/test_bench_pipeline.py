"""The benchmark's floor writes the same rows as cjm's events and transitions, so its ratio
compares equal output; and the check that says so can tell rows apart."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    """Import a benchmarks/ script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_pipeline")


@pytest.fixture(scope="module")
def built(bench, tmp_path_factory):
    """cjm's models and the floor on 3,000 generated events: (build file, floor file, counts)."""
    generate = _load("generate_events").generate
    root = tmp_path_factory.mktemp("bench")
    parquet = root / "events.parquet"
    generate(3_000, parquet, seed=7, row_group=1_000)
    config = bench.bench_config(1, None, None)
    db, floor_db = root / "build.duckdb", root / "floor.duckdb"
    sampler = bench.start_sampler()
    stages: list[dict] = []
    try:
        bench.run_cjm(parquet, db, config, stages, sampler)
        counts = bench.run_floor(parquet, floor_db, db, config, stages, sampler)
    finally:
        sampler["stop"].set()
    return db, floor_db, counts, stages


def test_floor_writes_the_same_events_and_transitions_as_cjm(built):
    db, _, counts, stages = built
    assert counts["same_output"] == {"events": True, "transitions": True}
    with duckdb.connect(str(db), read_only=True) as con:
        events, sessions, journey_steps = con.execute(
            "select (select count(*) from events), (select count(*) from sessions), "
            "(select sum(transition_count) from transitions "
            "where scope = 'journey' and segment = 'all')"
        ).fetchone()
    assert (counts["events"], counts["sessions"], counts["transitions"]) == (
        events,
        sessions,
        journey_steps,
    )
    assert events == 3_000
    floor_stages = [s["stage"] for s in stages if s["group"] == "floor"]
    assert floor_stages == [
        "floor: events",
        "floor: transitions",
        "minimal floor: sessions",
        "minimal floor: transitions",
    ]


@pytest.mark.parametrize(
    "change",
    [
        # one session id of one event, one step of the session scope, one median
        "update floor_events set session_id = 'x' where event_index = 2 and session_index = 1",
        "update floor_transitions set transition_count = transition_count + 1 "
        "where scope = 'session' and from_touchpoint = '(start)' and transition_count > 1",
        "update floor_transitions set median_seconds = median_seconds + 0.001 "
        "where median_seconds is not null",
    ],
)
def test_the_same_rows_check_notices_one_changed_value(bench, built, tmp_path, change):
    db, floor_db, _, _ = built
    copy = tmp_path / "floor.duckdb"
    copy.write_bytes(floor_db.read_bytes())
    with duckdb.connect(str(copy)) as con:
        con.execute("attach ? as cjm (read_only)", [str(db)])
        pairs = (
            ("cjm.events", "floor_events"),
            ("(select * from cjm.transitions where segment = 'all')", "floor_transitions"),
        )
        assert all(bench.same_rows(con, cjm, floor) for cjm, floor in pairs)
        changed = con.execute(change).fetchone()[0]
        assert changed >= 1
        assert not all(bench.same_rows(con, cjm, floor) for cjm, floor in pairs)

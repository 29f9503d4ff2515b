"""Personas on the bundled sample through the pipeline steps: types recovered, ids stable."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cjm import stages, steps
from cjm.build.catalog import key_breaks, read_schema
from cjm.build.files import discover_files
from cjm.build.publish import publish
from cjm.config import load_config
from cjm.db import connect
from tests.conftest import SAMPLE_DIR

CONFIG = load_config(SAMPLE_DIR / "cjm.yaml")
# The tables the persona steps write; their keys are the ones sql/schema.yml declares.
PERSONA_TABLES = (
    "personas",
    "customer_personas",
    "persona_centroids",
    "persona_history",
    "persona_migrations",
    "persona_touchpoint_insights",
)


def _journeys(path: Path, files: list[Path]) -> Path:
    steps.load_events(path, files, CONFIG)
    steps.build_journeys(path, CONFIG)
    return path


def _run(base: Path, out: Path, run_id: str, db: Path) -> Path:
    """One run's persona steps on a copy of `base`, published to `db`; returns `db`."""
    build = out / f"build-{run_id}.duckdb"
    shutil.copy(base, build)
    stages.build_personas(build, CONFIG, db_path=db, run_id=run_id)
    stages.build_persona_insights(build, CONFIG)
    publish(build, db)
    return db


def _table(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


@pytest.fixture(scope="module")
def sample_dbs(tmp_path_factory) -> dict[str, Path]:
    """Journeys of the sample, and of the sample plus 5% new events a week later."""
    out = tmp_path_factory.mktemp("personas")
    files = discover_files(SAMPLE_DIR / "events")
    base = _journeys(out / "base.duckdb", files)
    # 5% more events: every 20th event (by id hash) again a week later, under a new event id
    extra = out / "extra" / "events_later.csv"
    extra.parent.mkdir()
    with connect(base, read_only=True) as con:
        con.execute(
            f"""
            copy (
                select event_id || '-later' as event_id, customer_id,
                       strftime(event_time + interval 7 day, '%Y-%m-%dT%H:%M:%SZ') as event_time,
                       touchpoint, channel, revenue, sentiment
                from events
                where hash(event_id) % 20 = 0 and not customer_id like 'anon:%'
            ) to '{extra}' (header)
            """
        )
    grown = _journeys(out / "grown.duckdb", [*files, extra])
    return {"out": out, "base": base, "grown": grown}


def test_automatic_k_recovers_the_generator_types(sample_dbs):
    db = _run(sample_dbs["base"], sample_dbs["out"], "types", sample_dbs["out"] / "types.duckdb")
    got = _table(db, "select customer_id, persona_id from customer_personas")
    truth = pd.read_csv(SAMPLE_DIR / "truth" / "customers.csv", dtype={"customer_id": str})
    both = got.merge(truth, on="customer_id")
    assert len(both) >= 0.9 * len(truth)
    assert got["persona_id"].nunique() == truth["customer_type"].nunique() == 5
    assert adjusted_rand_score(both["customer_type"], both["persona_id"]) >= 0.9
    # the support-heavy type's persona is named after support, its openings go through support,
    # and within it complaints (sentiment about -1) are a pain point
    support = both[both["customer_type"] == "support_heavy"]["persona_id"].mode()[0]
    persona = _table(db, f"select * from personas where persona_id = {int(support)}").iloc[0]
    assert "ticket" in persona["name"] or "support_chat" in persona["name"]
    assert persona["top_paths"].split(" > ")[0] in ("support_chat", "ticket")
    assert "Most common journey opening" in persona["description"]
    roles = _table(
        db,
        f"select touchpoint, role from persona_touchpoint_insights where persona_id = {support}",
    ).set_index("touchpoint")["role"]
    assert roles["complaint"] == "pain_point"


def test_same_data_and_random_state_give_the_same_ids_and_history(sample_dbs):
    out = sample_dbs["out"]
    db = out / "twice.duckdb"
    _run(sample_dbs["base"], out, "20260101T000000Z-a", db)
    first = _table(db, "select * from customer_personas order by customer_id")
    first_personas = _table(db, "select * from personas order by persona_id")
    _run(sample_dbs["base"], out, "20260102T000000Z-b", db)
    again = _table(db, "select * from customer_personas order by customer_id")
    pd.testing.assert_frame_equal(first, again)
    pd.testing.assert_frame_equal(
        first_personas, _table(db, "select * from personas order by persona_id")
    )
    history = _table(db, "select run_id, count(*) as n from persona_history group by 1 order by 1")
    assert history.to_dict("list") == {
        "run_id": ["20260101T000000Z-a", "20260102T000000Z-b"],
        "n": [len(first), len(first)],
    }
    moves = _table(db, "select * from persona_migrations")
    assert (moves["from_persona_id"] == moves["to_persona_id"]).all()
    assert (moves["share"] == 1.0).all() and moves["customer_count"].sum() == len(first)
    assert set(moves["previous_run_id"]) == {"20260101T000000Z-a"}
    centroids = _table(db, "select * from persona_centroids")
    assert set(centroids["run_id"]) == {"20260102T000000Z-b"}
    assert not centroids.duplicated(["persona_id", "feature"]).any()


def test_five_percent_more_events_keep_nearly_everyone_in_their_persona(sample_dbs):
    out = sample_dbs["out"]
    db = out / "grow.duckdb"
    _run(sample_dbs["base"], out, "r1", db)
    before = _table(db, "select customer_id, persona_id from customer_personas")
    _run(sample_dbs["grown"], out, "r2", db)
    after = _table(db, "select customer_id, persona_id from customer_personas")
    added = _table(
        sample_dbs["grown"],
        "select count(*) filter (where event_id like '%-later') / count(*) as share from events",
    )["share"][0]
    assert 0.04 <= added <= 0.06
    both = before.merge(after, on="customer_id", suffixes=("_before", "_after"))
    kept = (both["persona_id_before"] == both["persona_id_after"]).mean()
    assert kept >= 0.95
    moves = _table(db, "select * from persona_migrations where from_persona_id = to_persona_id")
    assert (
        moves["customer_count"].sum()
        == (both["persona_id_before"] == both["persona_id_after"]).sum()
    )


def test_persona_tables_keys_are_unique_and_not_null(sample_dbs):
    db = sample_dbs["out"] / "twice.duckdb"
    if not db.exists():
        _run(sample_dbs["base"], sample_dbs["out"], "k", db)
    declared = read_schema()
    with connect(db, read_only=True) as con:
        for table in PERSONA_TABLES:
            key = declared[table].key
            assert key, f"{table} declares no key in sql/schema.yml"
            assert (table, key_breaks(con, table, key)) == (table, 0)
    # per persona, reach never exceeds its customers
    over = _table(
        db,
        "select count(*) as n from persona_touchpoint_insights i join personas p "
        "using (persona_id) where i.reach > p.customer_count",
    )["n"][0]
    assert over == 0

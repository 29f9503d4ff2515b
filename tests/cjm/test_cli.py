"""The cjm command line on a database built from the bundled sample."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cjm import steps
from cjm.cli import main
from cjm.config import load_config
from cjm.ingest import discover_files
from cjm.publish import publish
from cjm.runs import new_run
from tests.conftest import SAMPLE_DIR


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    """The sample run through every step (without Prefect) and published."""
    out = tmp_path_factory.mktemp("cli")
    db, build = out / "cjm.duckdb", out / "build.duckdb"
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    steps.load_events(build, discover_files(SAMPLE_DIR / "events"), config)
    steps.build_journeys(build, config)
    steps.build_personas(build, config)
    steps.build_insights(build, config)
    steps.score_churn(build, config)
    steps.finish_run(build, new_run(db, config.model_dump(mode="json")), db)
    publish(build, db)
    return db


def test_query_prints_rows_and_refuses_writes(published, capsys):
    assert main(["query", "select count(*) as n from journeys", "--db", str(published)]) == 0
    printed = capsys.readouterr().out
    assert "n" in printed and any(ch.isdigit() for ch in printed)
    assert main(["query", "drop table events", "--db", str(published)]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err
    assert main(["query", "select count(*) from events", "--db", str(published)]) == 0


def test_query_csv_output_is_parseable(published, capsys, tmp_path):
    sql = "select customer_id, session_count from journeys order by customer_id limit 3"
    assert main(["query", sql, "--db", str(published), "--format", "csv"]) == 0
    path = tmp_path / "q.csv"
    path.write_text(capsys.readouterr().out)
    frame = pd.read_csv(path)
    assert list(frame.columns) == ["customer_id", "session_count"] and len(frame) == 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_churn_list_is_sorted_riskiest_first(published, tmp_path, suffix):
    out = tmp_path / f"list{suffix}"
    assert main(["churn-list", "--out", str(out), "--top", "20", "--db", str(published)]) == 0
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert 0 < len(frame) <= 20
    assert frame["risk_score"].is_monotonic_decreasing
    assert frame["risk_score"].between(0, 1).all()
    assert frame["reasons"].str.len().gt(0).all()
    assert {"customer_id", "risk_tier", "persona_id", "last_seen_at", "scored_at"} <= set(frame)


def test_churn_list_rejects_unknown_extension(published, tmp_path, capsys):
    assert main(["churn-list", "--out", str(tmp_path / "x.xlsx"), "--db", str(published)]) == 2
    assert "use a .csv or .parquet" in capsys.readouterr().err


def test_touchpoint_roles_are_queryable(published, capsys):
    sql = "select role from touchpoint_insights where touchpoint = 'payment_error'"
    assert main(["query", sql, "--db", str(published), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["role", "pain_point"]


def test_missing_database_says_what_to_do(tmp_path, capsys):
    assert main(["query", "select 1", "--db", str(tmp_path / "none.duckdb")]) == 2
    assert "run `cjm run` first" in capsys.readouterr().err


def test_bad_config_is_reported_with_the_field(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("session_gap_minutes: -5\ncolumnz: {}\n")
    assert main(["run", "--config", str(config), "--events", str(SAMPLE_DIR / "events")]) == 2
    err = capsys.readouterr().err
    assert "session_gap_minutes" in err and "columnz" in err

"""The cjm command line on a database built from the bundled sample."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import pytest

from cjm.cli.main import main
from cjm.cli.parser import build_parser
from cjm.cli.version import code_version
from tests.conftest import SAMPLE_DIR


@pytest.fixture
def published(published_sample) -> Path:
    """The bundled sample published through every step (the session's shared copy, read-only)."""
    return published_sample


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
def test_churn_list_is_sorted_by_priority(published, tmp_path, suffix):
    out = tmp_path / f"list{suffix}"
    assert main(["churn-list", "--out", str(out), "--top", "20", "--db", str(published)]) == 0
    frame = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert 0 < len(frame) <= 20
    assert list(frame["priority"]) == list(range(1, len(frame) + 1))
    # high tier first, and within a tier the most revenue at risk first
    tiers = frame["risk_tier"].map({"high": 0, "medium": 1, "low": 2})
    assert tiers.is_monotonic_increasing
    for _, group in frame.groupby("risk_tier"):
        assert group["value_at_risk"].is_monotonic_decreasing
    assert frame["risk_score"].between(0, 1).all()
    assert frame["reasons"].str.len().gt(0).all()
    assert frame["value_at_risk"].le(frame["revenue"] + 1e-9).all()
    expected = {"customer_id", "risk_tier", "persona_id", "persona_name", "last_seen_at"}
    assert expected | {"scored_at", "last_touchpoint", "last_channel"} <= set(frame)
    assert frame["persona_name"].notna().all() and frame["last_touchpoint"].notna().all()


def test_churn_list_tiers_and_pseudonymised_ids(published, tmp_path, monkeypatch, capsys):
    plain, hidden = tmp_path / "plain.csv", tmp_path / "hidden.csv"
    args = ["churn-list", "--tier", "high", "--db", str(published)]
    assert main([*args, "--out", str(plain)]) == 0
    monkeypatch.setenv("CJM_PSEUDONYM_KEY", "team-secret")
    assert main([*args, "--out", str(hidden), "--pseudonymise"]) == 0
    a, b = pd.read_csv(plain), pd.read_csv(hidden)
    assert len(a) > 0 and (a["risk_tier"] == "high").all()
    assert list(b["priority"]) == list(a["priority"])
    assert b["customer_id"].str.fullmatch(r"[0-9a-f]{16}").all()
    assert not set(a["customer_id"]) & set(b["customer_id"])
    # keyed: the same key gives the same pseudonyms, another key others
    import hashlib
    import hmac

    first = hmac.new(b"team-secret", a["customer_id"][0].encode(), hashlib.sha256).hexdigest()
    assert b["customer_id"][0] == first[:16]
    other = tmp_path / "other.csv"
    assert main([*args, "--out", str(other), "--pseudonymise", "--pseudonym-key", "x"]) == 0
    assert pd.read_csv(other)["customer_id"][0] != b["customer_id"][0]
    monkeypatch.delenv("CJM_PSEUDONYM_KEY")
    capsys.readouterr()
    assert main([*args, "--out", str(other), "--pseudonymise"]) == 2
    assert "CJM_PSEUDONYM_KEY" in capsys.readouterr().err


def test_churn_list_explain_prints_the_model_card(published, capsys):
    assert main(["churn-list", "--explain", "--db", str(published)]) == 0
    text = capsys.readouterr().out
    assert "Churn model: trained" in text and "Training window:" in text
    for model in ("churn_model", "recency_baseline", "bgnbd_baseline"):
        assert model in text
    assert "Calibration (holdout):" in text and "recency_ratio:" in text
    assert main(["churn-list", "--db", str(published)]) == 2


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


def test_every_option_has_help_and_shows_its_default():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        text = command.format_help()
        for action in command._actions:
            assert action.help, f"cjm {name} {action.dest}: no help text"
            if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
                assert f"(default: {action.default})" in " ".join(text.split()), (name, action)
    assert "(default: output/cjm.duckdb)" in " ".join(commands.choices["run"].format_help().split())


def test_version_prints_the_package_version_and_commit(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"cjm {code_version()}\n"


def test_code_version_names_a_commit_only_in_a_checkout_of_cjm(tmp_path, monkeypatch):
    import subprocess

    from cjm.cli import version

    # an installed copy inside some other project's git checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q"]
        + ["--allow-empty", "-m", "x"],
        check=True,
    )
    monkeypatch.setattr(version, "REPO_ROOT", tmp_path / "venv" / "lib")
    (tmp_path / "venv" / "lib").mkdir(parents=True)
    assert "+g" not in version.code_version()
    monkeypatch.setattr(version, "REPO_ROOT", tmp_path)
    assert "+g" in version.code_version()


def test_user_errors_are_known_without_importing_their_modules():
    from cjm.config import ConfigError
    from cjm.errors import is_user_error
    from cjm.query import QueryError

    assert is_user_error(ConfigError("x")) and is_user_error(QueryError("x"))
    assert not is_user_error(ValueError("x")) and not is_user_error(KeyboardInterrupt())

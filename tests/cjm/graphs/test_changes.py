"""Transition history across runs and the significant changes since the previous run."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cjm import stages, steps
from cjm.build.files import discover_files
from cjm.build.publish import publish
from cjm.build.runs import new_run
from cjm.config import load_config, parse_config
from cjm.graphs import stages as graph_stages
from cjm.graphs.changes import HISTORY_COLUMNS, transition_changes, two_proportion_z
from tests.conftest import SAMPLE_DIR


def _history(run_id: str, day: int, edges: list[tuple[str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(edges, columns=["from_touchpoint", "to_touchpoint", "transition_count"])
    frame["from_count"] = frame.groupby("from_touchpoint")["transition_count"].transform("sum")
    frame["probability"] = frame["transition_count"] / frame["from_count"]
    frame = frame.assign(
        run_id=run_id,
        recorded_at=pd.Timestamp(f"2026-01-{day:02d}", tz="UTC"),
        scope="journey",
        segment="all",
        segment_type="all",
        segment_value="all",
    )
    return frame.reindex(columns=list(HISTORY_COLUMNS)).astype(HISTORY_COLUMNS)


def test_two_proportion_z_matches_hand_computation():
    # 30/100 then 45/100: pooled 0.375, se = sqrt(0.375 * 0.625 * (1/100 + 1/100)) = 0.068465
    z, p = two_proportion_z([30], [100], [45], [100])
    assert z[0] == pytest.approx(2.1908902300206647)
    assert p[0] == pytest.approx(0.02845973691631057)
    # no variation at all (both 0 or both 1) is no evidence of change
    z, p = two_proportion_z([0, 5], [10, 5], [0, 7], [20, 7])
    assert z.tolist() == [0.0, 0.0] and p.tolist() == [1.0, 1.0]


def test_changes_golden_numbers_with_benjamini_hochberg():
    history = pd.concat(
        [
            _history("r0", 1, [("a", "b", 30), ("a", "c", 70), ("x", "y", 10), ("q", "a", 4)]),
            _history("r1", 2, [("a", "b", 45), ("a", "c", 55), ("x", "y", 8), ("x", "z", 2)]),
        ]
    )
    got = transition_changes(history, "r1").set_index(["from_touchpoint", "to_touchpoint"])
    # q only in the previous run: its probabilities have no denominator now, so it is not tested
    assert sorted(got.index) == [("a", "b"), ("a", "c"), ("x", "y"), ("x", "z")]
    assert got.loc[("x", "z"), ["previous_count", "previous_from_count"]].tolist() == [0, 10]
    assert got.loc[("a", "b"), "difference"] == pytest.approx(0.15)
    assert got.loc[("a", "c"), "z_score"] == pytest.approx(-2.1908902300206647)
    assert got.loc[("x", "y"), "z_score"] == pytest.approx(-1.4907119849998598)
    assert got["p_value"].tolist() == pytest.approx([0.02846, 0.02846, 0.13604, 0.13604], abs=1e-5)
    # BH over 4 tests: 0.028460 * 4 / 2 = 0.056919 for the two smallest; 0.136037 * 4 / 4
    assert got["q_value"].tolist() == pytest.approx(
        [0.05691947383262114] * 2 + [0.13603712811414367] * 2
    )
    assert not got["is_significant"].any()
    assert set(got["previous_run_id"]) == {"r0"} and set(got["current_run_id"]) == {"r1"}
    assert transition_changes(history, "r1", alpha=0.06)["is_significant"].sum() == 2


def test_first_run_has_no_changes():
    history = _history("r0", 1, [("a", "b", 3)])
    empty = transition_changes(history, "r0")
    assert empty.empty and "q_value" in empty.columns


def _run(events, db: Path, config) -> str:
    """Every step of a run without Prefect, then publish; returns the run id."""
    build = db.with_name("build.duckdb")
    record = new_run(db, config.model_dump(mode="json"))
    steps.load_events(build, discover_files(events), config)
    steps.build_journeys(build, config)
    stages.build_personas(build, config)
    graph_stages.build_graphs(build, config)
    summary = graph_stages.track_transition_changes(build, config, db, record.run_id)
    record.notes += summary["notes"]
    steps.finish_run(build, record, db)
    publish(build, db)
    return record.run_id


@pytest.mark.slow
def test_a_broken_journey_shows_up_as_a_significant_change(tmp_path):
    db = tmp_path / "cjm.duckdb"
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    first = _run(SAMPLE_DIR / "events", db, config)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("select count(*) from transition_changes").fetchone()[0] == 0
    notes = con.execute("select notes from pipeline_runs").fetchone()[0]
    assert "no previous run to compare with" in notes
    con.close()
    # Second run: checkout breaks, every checkout becomes a payment error.
    broken = parse_config(
        {
            **config.model_dump(mode="json", exclude_defaults=True),
            "expressions": {
                "touchpoint": "case when \"touchpoint\" = 'checkout' then 'payment_error' "
                'else "touchpoint" end'
            },
        }
    )
    second = _run(SAMPLE_DIR / "events", db, broken)
    con = duckdb.connect(str(db), read_only=True)
    runs = con.execute("select distinct run_id from transition_history order by 1").fetchall()
    assert runs == sorted([(first,), (second,)])
    row = con.execute(
        "select previous_probability, current_probability, current_count, q_value, "
        "is_significant, previous_run_id, current_run_id from transition_changes "
        "where scope = 'journey' and segment = 'all' "
        "and from_touchpoint = 'add_to_cart' and to_touchpoint = 'checkout'"
    ).fetchone()
    assert row[0] > 0.2 and row[1:3] == (0.0, 0) and row[3] < 1e-6 and row[4]
    assert row[5:] == (first, second)
    # unchanged parts of the journey are not flagged
    calm = con.execute(
        "select is_significant from transition_changes where scope = 'journey' "
        "and segment = 'all' and from_touchpoint = 'search' and to_touchpoint = 'product_view'"
    ).fetchone()
    assert calm == (False,)
    con.close()

import json

import numpy as np
import pandas as pd
import pytest

import cjm.churn
from cjm import stages
from cjm.config import load_config, parse_config
from cjm.config_sections import EntityNoun, OutcomeSettings
from cjm.db import connect
from cjm.journeys.insights import (
    INSIGHT_COLUMNS,
    grouped_touchpoint_insights,
    roles_note,
    touchpoint_insights,
)
from tests.conftest import SAMPLE_DIR, build

EVENTS_DDL = """
create table events (
    event_id varchar, customer_id varchar, touchpoint varchar, session_id varchar,
    event_index bigint, sentiment double, is_conversion boolean
)
"""
JOURNEYS_DDL = "create table journeys (customer_id varchar, is_converted boolean)"


def golden_log():
    """Four customers, sessions in brackets, (sentiment):

    c1 [home(0.5) promo] [home(0.1) buy(1.0)]  converted, active
    c2 [home error(-0.8)] [error(-0.6)]         not converted, churned
    c3 [promo buy]                             converted, churned
    c4 [home]                                  not converted, active
    """
    rows = [
        ("c1", "s1", "home", 0.5, False),
        ("c1", "s1", "promo", None, False),
        ("c1", "s2", "home", 0.1, False),
        ("c1", "s2", "buy", 1.0, True),
        ("c2", "s3", "home", None, False),
        ("c2", "s3", "error", -0.8, False),
        ("c2", "s4", "error", -0.6, False),
        ("c3", "s5", "promo", None, False),
        ("c3", "s5", "buy", None, True),
        ("c4", "s6", "home", None, False),
    ]
    con = connect()
    con.execute(EVENTS_DDL)
    con.execute(JOURNEYS_DDL)
    position: dict[str, int] = {}
    for n, (customer, session, touchpoint, sentiment, conversion) in enumerate(rows):
        position[customer] = position.get(customer, 0) + 1
        con.execute(
            "insert into events values (?, ?, ?, ?, ?, ?, ?)",
            [f"e{n}", customer, touchpoint, session, position[customer], sentiment, conversion],
        )
    con.execute(
        "insert into journeys values ('c1', true), ('c2', false), ('c3', true), ('c4', false)"
    )
    state = pd.DataFrame({"customer_id": ["c1", "c2", "c3", "c4"]})
    state["is_churned"] = [False, True, True, False]
    return con, state


def test_golden_rows_on_hand_built_log():
    con, state = golden_log()
    out = touchpoint_insights(con, state).set_index("touchpoint")
    assert list(out.reset_index().columns) == INSIGHT_COLUMNS
    nan = float("nan")
    # home: c1, c2, c4 -> converted 1/3 vs c3 1/1; churned (c2) 1/3 vs (c3) 1/1.
    # promo: c1, c3 -> converted 2/2 vs 0/2 (lift undefined); churned 1/2 vs 1/2.
    # error: c2 -> converted 0/1 vs 2/3; churned 1/1 vs 1/3.
    # drop-off: home ends 1 of 4 sessions it is in (c4's); promo 1 of 2; buy and error all.
    # Chain: start -> home 3/4, promo 1/4; home -> promo, buy, error, null 1/4 each;
    # promo -> home, buy 1/2 each; buy -> conversion; error -> error, null 1/2 each.
    # x_home = (x_promo + 1) / 4, x_promo = (x_home + 1) / 2 => x_home = 3/7, x_promo = 5/7,
    # P = 3/4 * 3/7 + 1/4 * 5/7 = 1/2. Without home: P = 1/4 * 1/2 = 1/8 -> 3/4.
    # Without promo: x_home = 1/4, P = 3/16 -> 5/8. Without buy: P = 0 -> 1. Without error: 0.
    expected = {
        "home": (3, 0.75, 1 / 3, 1 / 3, 0.3, 2, 0.25, 0.25, 3 / 4),
        "promo": (2, 0.5, nan, 1.0, nan, 0, 0.5, 0.0, 5 / 8),
        "buy": (2, 0.5, nan, 1.0, 1.0, 1, 1.0, 1.0, 1.0),
        "error": (1, 0.25, 0.0, 3.0, -0.7, 2, 1.0, 0.5, 0.0),
    }
    columns = [
        "reach",
        "reach_share",
        "conversion_lift",
        "churn_lift",
        "mean_sentiment",
        "sentiment_count",
        "drop_off_rate",
        "journey_end_rate",
        "removal_effect",
    ]
    for touchpoint, values in expected.items():
        got = out.loc[touchpoint, columns].astype(float).to_numpy()
        np.testing.assert_allclose(got, values, atol=1e-12, err_msg=touchpoint)
    assert out.loc["home", "conversion_rate_with"] == pytest.approx(1 / 3)
    assert out.loc["home", "conversion_rate_without"] == 1.0
    assert out.loc["error", "churn_rate_without"] == pytest.approx(1 / 3)
    assert out["is_conversion"].to_dict() == {
        "home": False,
        "promo": False,
        "buy": True,
        "error": False,
    }
    # Four customers are below the minimum reach of 5: no role but neutral.
    assert set(out["role"]) == {"neutral"}
    assert out.loc["error", "role_reason"] == "reach 1 is below the minimum 5"

    capped = touchpoint_insights(con, None, max_removal_touchpoints=1).set_index("touchpoint")
    assert capped.loc["home", "removal_effect"] == pytest.approx(3 / 4)
    assert capped["removal_effect"].isna().sum() == 3
    assert capped[["churn_rate_with", "churn_rate_without", "churn_lift"]].isna().all().all()


def test_sample_planted_pain_point_and_delight():
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    con = build(SAMPLE_DIR / "events", config)
    definition = cjm.churn.resolve_churn_definition(con, config.churn)
    state = cjm.churn.customer_churn_state(con, definition)
    out = touchpoint_insights(con, state).set_index("touchpoint")
    truth = json.loads((SAMPLE_DIR / "truth" / "truth.json").read_text())
    for touchpoint in truth["pain_points"]:
        assert out.loc[touchpoint, "role"] == "pain_point", out.loc[touchpoint, "role_reason"]
    for touchpoint in truth["delight_points"]:
        assert out.loc[touchpoint, "role"] == "point_of_delight", out.loc[touchpoint, "role_reason"]
    n_touchpoints, n_customers = con.execute(
        "select count(distinct touchpoint), count(distinct customer_id) from events"
    ).fetchall()[0]
    assert len(out) == n_touchpoints
    assert out["reach"].max() <= n_customers
    assert out["removal_effect"].between(0, 1).all()
    assert set(out["role"]) <= {"pain_point", "moment_of_truth", "point_of_delight", "neutral"}
    assert (out["role"] == "moment_of_truth").sum() <= 3


def test_log_without_sentiment_or_conversions():
    con = connect()
    con.execute(EVENTS_DDL)
    con.execute(JOURNEYS_DDL)
    # 20 customers end with one session a > b > d; every other one first had a session a > c.
    n = 0
    for c in range(20):
        sessions = [["a", "c"], ["a", "b", "d"]] if c % 2 else [["a", "b", "d"]]
        i = 0
        for s, touchpoints in enumerate(sessions):
            for touchpoint in touchpoints:
                i += 1
                con.execute(
                    "insert into events values (?, ?, ?, ?, ?, null, false)",
                    [f"e{n}", f"c{c}", touchpoint, f"s{c}-{s}", i],
                )
                n += 1
        con.execute("insert into journeys values (?, false)", [f"c{c}"])
    out = touchpoint_insights(con, None).set_index("touchpoint")
    assert out.index.tolist() == ["a", "b", "d", "c"]
    for column in ["conversion_lift", "churn_lift", "mean_sentiment", "removal_effect"]:
        assert out[column].isna().all(), column
    assert out["conversion_rate_with"].tolist() == [0.0] * 4
    assert out["sentiment_count"].tolist() == [0] * 4
    # c ends every session it is in (log-wide: 30 sessions in 80 events), but without any outcome
    # that is no evidence of pain: every role is neutral and says what is missing.
    assert out["drop_off_rate"].to_dict() == {"a": 0.0, "b": 0.0, "d": 1.0, "c": 1.0}
    assert set(out["role"]) == {"neutral"}
    assert out["role_reason"].str.startswith("roles need outcomes: ").all()
    assert "0 of 20 customers converted" in out.loc["c", "role_reason"]
    assert roles_note(out.reset_index()).startswith("touchpoint roles: all neutral, roles need")

    nobody_churns = pd.DataFrame({"customer_id": [f"c{c}" for c in range(20)], "is_churned": False})
    out = touchpoint_insights(con, nobody_churns)
    assert out["churn_rate_with"].tolist() == [0.0] * 4
    assert out["churn_lift"].isna().all()

    con.execute("delete from events")
    con.execute("delete from journeys")
    empty = touchpoint_insights(con, None)
    assert empty.empty
    assert list(empty.columns) == INSIGHT_COLUMNS


def test_churn_table_and_groups_match_frames_and_separate_logs():
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    con = build(SAMPLE_DIR / "events", config)
    definition = cjm.churn.resolve_churn_definition(con, config.churn)
    state = cjm.churn.customer_churn_state(con, definition)
    whole = touchpoint_insights(con, state)
    # the churn state as a table gives the same rows as the frame
    con.register("_state", state)
    con.execute("create table churn_state as select * from _state")
    pd.testing.assert_frame_equal(touchpoint_insights(con, "churn_state"), whole)

    # two groups by id length: each group's insights equal those of a log
    # holding only that group's customers
    con.execute(
        "create table groups as select customer_id, length(customer_id) % 2 as grp from journeys"
    )
    grouped = grouped_touchpoint_insights(con, "churn_state", ("groups", "grp"))
    assert sorted(grouped) == [0, 1]
    for grp, frame in grouped.items():
        alone = connect()
        for table in ("events", "journeys"):
            part = con.execute(
                f"select t.* from {table} t join groups g using (customer_id) where g.grp = ?",
                [grp],
            ).df()
            alone.register("_part", part)
            alone.execute(f"create table {table} as select * from _part")
            alone.unregister("_part")
        pd.testing.assert_frame_equal(frame, touchpoint_insights(alone, state))
        alone.close()


def engagement_log(customers=3000, seed=5):
    """Touchpoints drawn uniformly per event; only activity drives conversion and churn."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0, 1.0, customers)
    n_events = 1 + rng.poisson(2 * activity)
    churned = rng.random(customers) < 1 / (1 + 2 * activity)
    converted = rng.random(customers) < activity / (1 + activity)
    customer = np.repeat([f"c{i}" for i in range(customers)], n_events)
    index = np.concatenate([np.arange(1, n + 1) for n in n_events])
    events = pd.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(customer))],
            "customer_id": customer,
            "touchpoint": rng.choice([f"step_{k}" for k in range(10)], len(customer)),
            "session_id": [f"{c}-{i // 3}" for c, i in zip(customer, index, strict=True)],
            "event_index": index,
            "sentiment": np.nan,
            "is_conversion": False,
        }
    )
    ids = [f"c{i}" for i in range(customers)]
    con = load_frames(events, pd.DataFrame({"customer_id": ids, "is_converted": converted}))
    return con, pd.DataFrame({"customer_id": ids, "is_churned": churned})


def load_frames(events: pd.DataFrame, journeys: pd.DataFrame):
    """An in-memory database with these events and journeys rows."""
    con = connect()
    con.execute(EVENTS_DDL)
    con.execute(JOURNEYS_DDL)
    for table, frame in (("events", events), ("journeys", journeys)):
        con.register("_frame", frame)
        con.execute(f"insert into {table} select * from _frame")
        con.unregister("_frame")
    return con


def test_reach_alone_gives_no_role_on_a_log_without_touchpoint_effects():
    con, state = engagement_log()
    out = touchpoint_insights(con, state).set_index("touchpoint")
    # "with vs without" sees every step as a delight: its customers are the active ones
    assert (out["churn_lift"] <= 0.67).sum() >= 3, out["churn_lift"]
    # among customers of similar activity the steps change nothing
    assert set(out["role"]) == {"neutral"}, out["role_reason"].to_dict()
    assert out["churn_lift_adjusted"].between(0.8, 1.25).all(), out["churn_lift_adjusted"]
    assert out["conversion_lift_adjusted"].between(0.8, 1.25).all()
    assert ((out["churn_lift_low"] < 1) & (out["churn_lift_high"] > 1)).sum() >= 8


def test_outcomes_drive_roles_where_conversion_and_churn_are_silent():
    # Applications: 25% are escalated, which raises the chance of a decline from 20% to 60%;
    # every application ends activated or declined. Nobody converts, no churn is known.
    rng = np.random.default_rng(11)
    rows = []
    for c in range(800):
        steps = ["submitted", "checked"] + (["escalated"] if rng.random() < 0.25 else [])
        steps += ["checked"] * int(rng.integers(0, 3))
        declined = rng.random() < (0.6 if "escalated" in steps else 0.2)
        steps.append("declined" if declined else "activated")
        rows += [(f"e{c}-{i}", f"c{c}", t, f"s{c}", i + 1) for i, t in enumerate(steps)]
    events = pd.DataFrame(
        rows, columns=["event_id", "customer_id", "touchpoint", "session_id", "event_index"]
    ).assign(sentiment=np.nan, is_conversion=False)
    journeys = pd.DataFrame({"customer_id": [f"c{c}" for c in range(800)], "is_converted": False})
    con = load_frames(events, journeys)

    silent = touchpoint_insights(con, None)
    assert silent["role_reason"].str.startswith("roles need outcomes").all()

    outcomes = OutcomeSettings(success=("activated",), failure=("declined",))
    out = touchpoint_insights(
        con, None, outcomes=outcomes, entity=EntityNoun(singular="case", plural="cases")
    ).set_index("touchpoint")
    assert out.loc["escalated", "role"] == "pain_point"
    reason = out.loc["escalated", "role_reason"]
    assert reason.startswith("failure lift ") and "cases of similar activity" in reason
    assert out.loc["escalated", "failure_lift_low"] > 1
    assert out.loc["escalated", "success_lift_high"] < 1
    # the outcomes themselves and the steps every case takes get no role
    assert out.loc[["activated", "declined", "submitted", "checked"], "role"].eq("neutral").all()


def test_run_summary_says_roles_need_outcomes(tmp_path):
    con, state = engagement_log(customers=200, seed=2)
    db = tmp_path / "build.duckdb"
    con.execute(f"attach '{db}' as build")
    for table in ("events", "journeys"):
        con.execute(f"create table build.{table} as select * from {table}")
    con.execute("update build.journeys set is_converted = false")
    con.register("state_frame", state)
    con.execute("create table build.customer_churn_state as select * from state_frame")
    con.execute("update build.customer_churn_state set is_churned = false")
    con.execute("detach build")
    summary = stages.build_insights(db, parse_config({"entity": {"plural": "cases"}}))
    assert summary["roles"] == {"neutral": 10}
    (note,) = summary["notes"]
    assert note.startswith("touchpoint roles: all neutral, roles need outcomes")
    assert "0 of 200 cases converted" in note

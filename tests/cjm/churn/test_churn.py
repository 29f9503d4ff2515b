import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cjm.churn import (
    CHURN_RISK_COLUMNS,
    ChurnDefinition,
    ScoringOutput,
    batches,
    churn_labels,
    customer_churn_state,
    definition,
    drop_states,
    holdout,
    make_churn_pipeline,
    reasons,
    resolve_churn_definition,
    score_churn,
    training,
    training_cutoffs,
    wording,
)
from cjm.churn import model as churn_model
from cjm.churn.bgnbd import BGNBD, activity_summary
from cjm.churn.definition import hash_order
from cjm.churn.features import last_event_labels
from cjm.churn.probabilistic import BGNBD_PENALIZER, fit_bgnbd
from cjm.config import load_config, parse_config
from cjm.config_sections import ChurnSettings
from cjm.db import connect, write_table
from cjm.personas.features import (
    MAX_CHANNELS,
    MAX_TOUCHPOINTS,
    log_end,
    top_values,
    vocabulary_labels,
)
from tests.conftest import SAMPLE_DIR, build

EVENTS_DDL = """
create or replace table events (
    event_id varchar, customer_id varchar, anonymous_id varchar, event_time timestamptz,
    touchpoint varchar, channel varchar, stage varchar, session_id varchar, event_index bigint,
    session_index bigint, revenue double, sentiment double, is_conversion boolean,
    source_file varchar, source_row bigint, properties json, is_session_start boolean,
    seconds_since_previous double
)
"""


def load_events(con, df):
    """df: customer_id, event_time, touchpoint, session_id[, revenue]; other columns NULL."""
    df = df.copy()
    if "revenue" not in df:
        df["revenue"] = np.nan
    con.execute(EVENTS_DDL)
    con.register("src", df)
    con.execute(
        """
        insert into events
        select 'e' || row_number() over (), customer_id, null, event_time, touchpoint, null, null,
               session_id,
               row_number() over (partition by customer_id order by event_time), null,
               revenue, null, touchpoint = 'purchase', 'test', row_number() over (), null,
               session_id is distinct from lag(session_id) over journey,
               epoch(event_time) - epoch(lag(event_time) over journey)
        from src
        window journey as (partition by customer_id order by event_time)
        """
    )
    con.unregister("src")


def day(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def golden_log():
    """D=10 days, exit touchpoint 'cancel'; log ends 2024-03-31 00:00."""
    rows = [
        ("quiet", "2024-02-25 12:00", "visit", "q0"),
        ("quiet", "2024-03-15 12:00", "visit", "q1"),  # then silent: churned at 03-25 12:00
        ("quit", "2024-02-27 09:00", "visit", "x0"),
        ("quit", "2024-03-28 10:00", "cancel", "x1"),
        ("quit", "2024-03-28 10:05", "survey", "x1"),  # same session: still gone
        ("back", "2024-02-28 09:00", "visit", "b0"),
        ("back", "2024-03-05 09:00", "cancel", "b1"),
        ("back", "2024-03-06 09:00", "visit", "b2"),  # came back: active again
        ("back", "2024-03-30 09:00", "visit", "b3"),
        ("lapse", "2024-02-26 09:00", "visit", "l0"),
        ("lapse", "2024-03-10 09:00", "visit", "l1"),  # a 12-day lapse that ended
        ("lapse", "2024-03-25 09:00", "visit", "l2"),
        ("gone", "2024-02-10 09:00", "visit", "g0"),  # already churned at 03-01
        ("fresh", "2024-03-29 09:00", "visit", "f0"),  # not yet a customer at 03-01
        ("edge", "2024-02-27 09:00", "visit", "d0"),
        ("edge", "2024-03-21 00:00", "visit", "d1"),  # exactly 10 days before log end
        ("anchor", "2024-02-28 09:00", "visit", "a0"),
        ("anchor", "2024-03-31 00:00", "visit", "a1"),
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "event_time", "touchpoint", "session_id"])
    df["event_time"] = pd.to_datetime(df["event_time"]).dt.tz_localize("UTC")
    con = connect()
    load_events(con, df)
    return con


GOLDEN = ChurnDefinition(10, ("cancel",), 30, "config", "test")


def test_churn_state_at_log_end():
    con = golden_log()
    state = customer_churn_state(con, GOLDEN).set_index("customer_id")
    churned = state.loc[state["is_churned"]]
    assert sorted(churned.index) == ["edge", "gone", "quiet", "quit"]
    assert churned.loc["quiet", "churned_at"] == pd.Timestamp("2024-03-25 12:00", tz="UTC")
    assert churned.loc["quiet", "churn_reason"] == "inactivity"
    assert churned.loc["quit", "churned_at"] == pd.Timestamp("2024-03-28 10:00", tz="UTC")
    assert churned.loc["quit", "churn_reason"] == "exit_touchpoint"
    assert churned.loc["edge", "churned_at"] == pd.Timestamp("2024-03-31 00:00", tz="UTC")
    assert state.loc["back", "churned_at"] is pd.NaT or pd.isna(state.loc["back", "churned_at"])
    assert state.loc["quit", "last_seen_at"] == pd.Timestamp("2024-03-28 10:05", tz="UTC")


def test_failure_outcomes_are_the_exits_unless_exit_touchpoints_are_configured():
    """A declined loan or an invalid ticket has left: without churn.exit_touchpoints the failure
    outcomes count as exits; a configured list still wins."""
    con = golden_log()
    config = parse_config(
        {"outcomes": {"failure": ["cancel"]}, "churn": {"inactivity_days": 10}}, "test"
    )
    from_outcomes = resolve_churn_definition(
        con, config.churn, failure_outcomes=config.outcomes.failure
    )
    assert from_outcomes.exit_touchpoints == ("cancel",)
    assert "the failure outcomes, as churn.exit_touchpoints is not set" in from_outcomes.note
    # the golden state: 'quit' left through 'cancel', 'back' cancelled and came back
    state = customer_churn_state(con, from_outcomes).set_index("customer_id")
    assert state.loc["quit", "churn_reason"] == "exit_touchpoint"
    assert state.loc["quit", "churned_at"] == pd.Timestamp("2024-03-28 10:00", tz="UTC")
    assert not state.loc["back", "is_churned"]
    assert sorted(state.index[state["is_churned"]]) == ["edge", "gone", "quiet", "quit"]

    configured = parse_config(
        {
            "outcomes": {"failure": ["cancel"]},
            "churn": {"inactivity_days": 10, "exit_touchpoints": ["survey"]},
        },
        "test",
    )
    explicit = resolve_churn_definition(
        con, configured.churn, failure_outcomes=configured.outcomes.failure
    )
    assert explicit.exit_touchpoints == ("survey",)
    assert "failure outcomes" not in explicit.note

    without = resolve_churn_definition(con, config.churn)
    assert without.exit_touchpoints == ()
    # an explicit empty list opts out: the failure outcomes are not leaving on this log
    opted_out = parse_config(
        {
            "outcomes": {"failure": ["cancel"]},
            "churn": {"inactivity_days": 10, "exit_touchpoints": []},
        },
        "test",
    )
    none = resolve_churn_definition(
        con, opted_out.churn, failure_outcomes=opted_out.outcomes.failure
    )
    assert none.exit_touchpoints == ()
    assert "failure outcomes" not in none.note
    # without exits 'quit' (last seen three days before the end) is still active
    state = customer_churn_state(con, without).set_index("customer_id")
    assert not state.loc["quit", "is_churned"]


def test_labels_ask_every_customer_seen_whether_they_go_quiet_within_the_horizon():
    con = golden_log()
    labels = churn_labels(con, GOLDEN, day("2024-03-01")).set_index("customer_id")
    # fresh (no history by the cutoff) is not in the population; gone (lapsed) is
    assert sorted(labels.index) == ["anchor", "back", "edge", "gone", "lapse", "quiet", "quit"]
    assert labels["churned"].to_dict() == {
        "anchor": False,
        "back": False,  # cancelled, then came back inside the horizon
        "edge": False,  # active on 03-21: not quiet within the horizon
        "gone": True,  # lapsed at the cutoff and did not come back: the win-back question
        "lapse": False,  # a lapse that ended inside the horizon is not churn
        "quiet": False,  # active on 03-15
        "quit": True,  # left through the exit touchpoint inside the horizon
    }
    assert labels["customer_state"].to_dict() == {
        "anchor": "active",
        "back": "active",
        "edge": "active",
        "gone": "lapsed",
        "lapse": "active",
        "quiet": "active",
        "quit": "active",
    }
    with pytest.raises(ValueError, match="need events up to"):
        churn_labels(con, GOLDEN, day("2024-03-15"))


def test_labels_ignore_events_after_the_horizon():
    con = golden_log()
    before = churn_labels(con, GOLDEN, day("2024-03-01"))
    con.execute(
        "insert into events (event_id, customer_id, event_time, touchpoint, session_id) values "
        "('late1', 'quiet', '2024-04-02 00:00+00', 'visit', 'q9'),"
        "('late2', 'quit', '2024-04-03 00:00+00', 'visit', 'x9')"
    )
    pd.testing.assert_frame_equal(before, churn_labels(con, GOLDEN, day("2024-03-01")))


def spell_log(breakers: int, leavers: int, break_days: float = 10, gone_days: float = 100):
    """An anchor active at the end (2024-06-30), customers who come back after break_days, and
    customers quiet for the last gone_days of the log."""
    end = day("2024-06-30")
    rows = [("anchor", end, "visit", "a0")]
    for i in range(breakers):
        start = day("2024-01-01") + timedelta(days=i)
        rows += [
            (f"b{i}", start, "visit", f"b{i}a"),
            (f"b{i}", start + timedelta(days=break_days), "visit", f"b{i}b"),
        ]
    rows += [(f"g{i}", end - timedelta(days=gone_days), "visit", f"g{i}") for i in range(leavers)]
    df = pd.DataFrame(rows, columns=["customer_id", "event_time", "touchpoint", "session_id"])
    con = connect()
    load_events(con, df)
    return con


def test_auto_inactivity_is_the_shortest_quiet_spell_most_customers_do_not_come_back_from():
    d = resolve_churn_definition(spell_log(40, 40), ChurnSettings(inactivity_days="auto"))
    # 7 and 10 days: the 40 ten-day breaks, the breakers' final quiet spells and the 40 leavers
    # reach it, a third come back within the 30-day horizon; 14 days: only the 80 final spells,
    # none comes back
    assert d.inactivity_days == 14 and d.inactivity_source == "auto"
    assert "of 80 quiet spells that reached 14 days" in d.note and "0% ended" in d.note
    assert "followed 30 days more" in d.note and "(after 10 days: 33% of 120)" in d.note
    # longer breaks push the threshold past them
    longer = resolve_churn_definition(spell_log(40, 40, break_days=25), ChurnSettings())
    assert longer.inactivity_days == 30
    few = resolve_churn_definition(spell_log(3, 3), ChurnSettings())
    assert few.inactivity_days == 30 and "fewer than 30 quiet spells" in few.note
    fixed = resolve_churn_definition(
        spell_log(3, 0), ChurnSettings(inactivity_days=45, exit_touchpoints=("cancel",))
    )
    assert (fixed.inactivity_days, fixed.inactivity_source) == (45, "config")
    assert "cancel" in fixed.note


def test_auto_inactivity_spells_are_the_gaps_between_the_sessions_of_the_sessions_mart():
    # resolve_churn_definition reads each returned spell from a session's first event; the
    # reference takes them from the sessions mart (a session's start minus the previous one's end)
    # and the open spells from each customer's last session end.
    con = build(SAMPLE_DIR / "events", load_config(SAMPLE_DIR / "cjm.yaml"))
    sessions = con.execute(
        "select customer_id, started_at, ended_at from sessions order by customer_id, started_at"
    ).df()
    end = log_end(con)
    previous_end = sessions.groupby("customer_id")["ended_at"].shift()
    returned = pd.DataFrame(
        {
            "start": previous_end,
            "days": (sessions["started_at"] - previous_end).dt.total_seconds() / 86400,
            "back": True,
        }
    ).dropna()
    last = sessions.groupby("customer_id")["ended_at"].max()
    still = pd.DataFrame(
        {"start": last, "days": (end - last).dt.total_seconds() / 86400, "back": False}
    )
    spells = pd.concat([returned, still], ignore_index=True)
    definition = resolve_churn_definition(con, ChurnSettings())
    d = definition.inactivity_days
    followed = spells[(spells["days"] >= d) & (spells["start"] + timedelta(days=2 * d) <= end)]
    back = int((followed["back"] & (followed["days"] <= 2 * d)).sum())
    assert len(followed) > 30
    assert f"of {len(followed):,} quiet spells that reached {d} days" in definition.note
    assert f"{back / len(followed):.0%} ended with a return" in definition.note


def test_training_cutoffs_are_weekly_and_leave_history():
    cutoffs = training_cutoffs(day("2024-01-01"), day("2024-04-30"), 30, 4)
    # latest a horizon before the end, then a week apart
    assert cutoffs == [day("2024-03-10"), day("2024-03-17"), day("2024-03-24"), day("2024-03-31")]
    assert training_cutoffs(day("2024-01-01"), day("2024-04-30"), 30, 2) == cutoffs[2:]
    # none earlier than half a horizon (15 days) after the start: there is no history yet
    many = training_cutoffs(day("2024-01-01"), day("2024-04-30"), 30, 52)
    assert many[0] == day("2024-01-21") and len(many) == 11
    assert training_cutoffs(day("2024-01-01"), day("2024-02-15"), 30, 4) == [day("2024-01-16")]
    assert training_cutoffs(day("2024-01-01"), day("2024-02-14"), 30, 4) == []
    # long horizons: a quarter horizon apart
    assert definition.cutoff_step_days(90) == 22 and definition.cutoff_step_days(3) == 3


def synthetic_log(n=600, days=240, seed=0):
    """Customers visit every ~2.5 days; 60% stop at a random time and, in the 30 days before
    they stop, most of their sessions include a 'complaint' (a precursor the model can learn)."""
    rng = np.random.default_rng(seed)
    cols = {"customer": [], "session": [], "t": [], "touchpoint": []}
    for c in range(n):
        start = rng.uniform(0, 60)
        stop = rng.uniform(start + 30, days + 120) if rng.random() < 0.6 else np.inf
        times = start + np.cumsum(np.r_[0, 1.0 + rng.exponential(1.5, size=days)])
        times = times[times < min(stop, days)]
        second = rng.choice(["product_view", "search", "purchase"], size=len(times))
        complaint = rng.random(len(times)) < np.where(stop - times < 30, 0.8, 0.03)
        session = np.arange(len(times)) + 1000 * c
        for t, tp, sess in (
            (times, np.full(len(times), "visit"), session),
            (times + 3 / 1440, second, session),
            (
                times[complaint] + 6 / 1440,
                np.full(complaint.sum(), "complaint"),
                session[complaint],
            ),
        ):
            cols["customer"].append(np.full(len(t), c))
            cols["session"].append(sess)
            cols["t"].append(t)
            cols["touchpoint"].append(tp)
    flat = {k: np.concatenate(v) for k, v in cols.items()}
    df = pd.DataFrame(
        {
            "customer_id": [f"c{c:04d}" for c in flat["customer"]],
            "event_time": pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(flat["t"], "D"),
            "touchpoint": flat["touchpoint"],
            "session_id": flat["session"].astype(str),
        }
    )
    df["revenue"] = np.where(df["touchpoint"] == "purchase", 20.0, np.nan)
    return df


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # OpenMP in the boosting model crawls when the (shared, 2-core) machine is busy; one thread
    # keeps these tests fast and their timing stable.
    with threadpool_limits(1):
        yield


def three_personas(con):
    """Customers dealt round-robin into personas 1-3, in customer order so every call agrees."""
    ids = con.execute("select distinct customer_id from events order by 1").df()["customer_id"]
    return pd.DataFrame({"customer_id": ids, "persona_id": 1 + np.arange(len(ids)) % 3})


@pytest.fixture(scope="module")
def scored():
    con = connect()
    load_events(con, synthetic_log())
    write_table(con, "customer_personas", three_personas(con))
    output = ScoringOutput(personas="customer_personas")
    result = score_churn(con, ChurnSettings(), random_state=0, output=output)
    return con, result


def test_model_beats_recency_on_a_forward_holdout(scored):
    _, result = scored
    metrics = result.metrics.set_index("model")
    model, baseline = metrics.loc["churn_model"], metrics.loc["recency_baseline"]
    assert model["roc_auc"] > 0.8
    assert model["roc_auc"] >= baseline["roc_auc"]
    assert model["pr_auc"] >= baseline["pr_auc"]
    assert 0 < model["brier"] < 0.25
    assert model["n_holdout"] > 0 and model["positives"] > 0 and model["n_train"] > 0
    assert result.model_card["status"] == "trained"
    assert len(result.cutoffs) == ChurnSettings().training_cutoffs
    assert result.model_card["holdout_cutoff"] == result.cutoffs[-1].isoformat()
    # the probability-alive baseline is scored too, and the model beats it
    bgnbd = metrics.loc["bgnbd_baseline"]
    assert 0.5 < bgnbd["roc_auc"] < model["roc_auc"]
    # strict forward holdout: only cutoffs a full horizon before the holdout cutoff train it
    horizon = timedelta(days=result.definition.horizon_days)
    earlier = [c for c in result.cutoffs if c + horizon <= result.cutoffs[-1]]
    # every customer seen by a training cutoff gives a row there (600 customers)
    assert 0 < model["n_train"] <= len(earlier) * 600


def test_calibration_table_per_model(scored):
    _, result = scored
    cal = result.calibration
    assert list(cal.columns) == churn_model.CALIBRATION_COLUMNS
    assert set(cal["model"]) == set(churn_model.MODELS)
    n_holdout = int(result.metrics["n_holdout"].iloc[0])
    assert (cal.groupby("model")["count"].sum() == n_holdout).all()
    assert (
        (cal["mean_predicted"] >= cal["bin_low"]) & (cal["mean_predicted"] <= cal["bin_high"])
    ).all()
    model = cal[cal["model"] == "churn_model"]
    # calibrated: where it predicts much, it observes much (count-weighted gap is small)
    gap = (model["mean_predicted"] - model["observed_rate"]).abs()
    assert (gap * model["count"]).sum() / model["count"].sum() < 0.1


def test_calibration_table_hand_example():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0.05, 0.15, 0.12, 0.95, 1.0])
    cal = holdout.calibration_table("m", y, p).set_index("bin")
    assert list(cal.index) == [0, 1, 9]
    assert cal.loc[1, "count"] == 2 and cal.loc[1, "observed_rate"] == 0.5
    assert cal.loc[1, "mean_predicted"] == pytest.approx(0.135)
    assert cal.loc[9, "count"] == 2 and cal.loc[9, "observed_rate"] == 1.0


def test_scores_every_customer_with_state_ranked_tiers_and_reasons(scored):
    con, result = scored
    risk = result.churn_risk
    assert list(risk.columns) == CHURN_RISK_COLUMNS
    state = customer_churn_state(con, result.definition).set_index("customer_id")
    assert set(risk["customer_id"]) == set(state.index) and len(risk) == len(state)
    lapsed = set(state.index[state["is_churned"]])
    assert lapsed and set(risk.loc[risk["customer_state"] == "lapsed", "customer_id"]) == lapsed
    assert set(risk["customer_state"]) <= {"active", "lapsed", "exited"}
    assert (risk["score_source"] == result.model_card["score_source"]).all()
    assert result.model_card["trusted"]
    assert risk["risk_score"].between(0, 1).all()
    assert risk["risk_score"].is_monotonic_decreasing
    assert list(risk["rank"]) == list(range(1, len(risk) + 1))
    assert set(risk["risk_tier"]) <= {"high", "medium", "low"}
    assert {"high", "low"} <= set(risk["risk_tier"])
    assert risk["persona_id"].notna().all()
    assert (risk["revenue"] >= 0).all()
    high = risk[risk["risk_tier"] == "high"]
    assert high["reasons"].str.contains(r"\d").all()
    # the planted precursor is what the riskiest active customers are told about, with counts;
    # lapsed ones are told how long they have been away
    active = high.loc[high["customer_state"] == "active", "reasons"]
    complaint = active.str.contains(r"\d+ complaint in the last 30 days")
    rhythm = active.str.contains(r"no activity for [\d.]+ days, usually every")
    assert complaint.sum() >= 10 and (complaint | rhythm).head(10).all()
    away = high.loc[high["customer_state"] == "lapsed", "reasons"]
    assert away.str.contains(r"no activity for \d+ days").mean() > 0.9


def test_model_card_is_json_and_says_what_was_done(scored):
    _, result = scored
    card = json.loads(json.dumps(result.model_card))
    assert card["definition"]["inactivity_source"] == "auto"
    assert "recency_days" in card["features"] and "tp30_complaint" in card["features"]
    assert card["feature_descriptions"]["tp30_complaint"].count("complaint") == 1
    assert len(card["metrics"]) == 4
    assert card["tier_thresholds"]["high"] > card["tier_thresholds"]["medium"]


def test_churn_pipeline_is_calibrated_boosting():
    pipe = make_churn_pipeline(random_state=0)
    model = pipe.named_steps["model"]
    assert isinstance(model, CalibratedClassifierCV)
    assert isinstance(model.estimator, HistGradientBoostingClassifier)
    X = np.random.default_rng(0).normal(size=(200, 3))
    assert pipe.fit(X, (X[:, 0] > 0).astype(int)) is pipe


def test_short_log_is_scored_by_the_probabilistic_model_without_tiers():
    df = pd.DataFrame(
        {
            "customer_id": ["solo", "solo"],
            "event_time": [day("2024-01-01"), day("2024-01-02")],
            "touchpoint": ["visit", "visit"],
            "session_id": ["s1", "s2"],
        }
    )
    con = connect()
    load_events(con, df)
    result = score_churn(con, ChurnSettings(), random_state=0)
    # no labels for the horizon: the probabilistic model scores the customer, with no tier
    risk = result.churn_risk
    assert list(risk.columns) == CHURN_RISK_COLUMNS and list(risk["customer_id"]) == ["solo"]
    assert risk["risk_score"].between(0, 1).all() and list(risk["risk_tier"]) == ["none"]
    assert list(risk["score_source"]) == ["bgnbd_horizon"] and result.pipeline is None
    card = json.loads(json.dumps(result.model_card))
    assert card["status"] == "probabilistic" and not card["trusted"]
    assert "spans 1.0 days" in card["warnings"][0] and "45 days" in card["warnings"][0]
    assert result.metrics["roc_auc"].isna().all()
    assert result.metrics["note"].str.startswith("not computed").all()


def test_single_class_falls_back_to_the_probabilistic_model():
    # everyone visits daily for 150 days: nobody ever churns
    rows = [
        (f"c{c}", day("2024-01-01") + timedelta(days=d), "visit", f"c{c}d{d}")
        for c in range(15)
        for d in range(150)
    ]
    con = connect()
    load_events(
        con, pd.DataFrame(rows, columns=["customer_id", "event_time", "touchpoint", "session_id"])
    )
    result = score_churn(con, ChurnSettings(inactivity_days=30), random_state=0)
    assert len(result.churn_risk) == 15 and result.pipeline is None
    assert (result.churn_risk["score_source"] == "bgnbd_horizon").all()
    assert "0 customers went quiet" in result.model_card["warnings"][0]


def test_empty_log():
    con = connect()
    con.execute(EVENTS_DDL)
    result = score_churn(con, ChurnSettings(), random_state=0)
    assert result.churn_risk.empty and "empty" in result.model_card["reason"]


def test_labels_can_share_churn_states_between_cutoffs():
    con = golden_log()
    states = {}
    first = churn_labels(con, GOLDEN, day("2024-02-15"), states)
    assert set(states) == {day("2024-02-15"), day("2024-03-16")}
    # the next cutoff's state at 03-16 comes from the cache and gives the same labels
    second = churn_labels(con, GOLDEN, day("2024-03-01"), states)
    assert len(states) == 4
    pd.testing.assert_frame_equal(first, churn_labels(con, GOLDEN, day("2024-02-15")))
    pd.testing.assert_frame_equal(second, churn_labels(con, GOLDEN, day("2024-03-01")))
    # the states are DuckDB tables of every customer seen by then, dropped with drop_states
    tables = dict(states)
    stored = con.execute(f"select * from {tables[day('2024-03-16')]} order by customer_id").df()
    expected = customer_churn_state(con, GOLDEN, day("2024-03-16"))
    assert list(stored["customer_id"]) == list(expected["customer_id"]) and len(stored) > 5
    assert list(stored["is_churned"]) == list(expected["is_churned"])
    drop_states(con, states)
    assert states == {}
    left = con.execute("select table_name from duckdb_tables() where temporary").fetchall()
    assert not {name for (name,) in left} & set(tables.values())


def _reference_what_if(pipeline, X, families, typical, base):
    copies = []
    for members in families:
        moved = X.copy()
        moved[members] = typical[members].to_numpy()
        copies.append(moved)
    p = pipeline.predict_proba(pd.concat(copies, ignore_index=True))[:, 1]
    return base[:, None] - p.reshape(len(families), len(X)).T


def _reference_reasons(pipeline, X, labels, random_state):
    """The straightforward version of churn._reasons: every row, every family, one at a time."""
    typical = X.median()
    usable = [c for c in X.columns if not pd.isna(typical[c])]
    families = reasons._reason_families(usable, labels)
    keys = list(families)
    base = pipeline.predict_proba(X)[:, 1]
    if len(keys) > reasons.REASON_CANDIDATES:
        rng = np.random.default_rng(random_state)
        size = min(len(X), reasons.REASON_SAMPLE)
        sample = np.sort(rng.choice(len(X), size=size, replace=False))
        sampled = _reference_what_if(
            pipeline, X.iloc[sample], [families[k] for k in keys], typical, base[sample]
        )
        strength = np.abs(sampled).mean(axis=0)
        top = np.argsort(-strength, kind="stable")[: reasons.REASON_CANDIDATES]
        keys = [keys[j] for j in top]
    effects = _reference_what_if(pipeline, X, [families[k] for k in keys], typical, base)
    values = X[usable]
    q25, q75 = values.quantile(0.25), values.quantile(0.75)
    unusual = (values < q25) | (values > q75) | ((q25 == q75) & (values != typical[usable]))
    for j, k in enumerate(keys):
        effects[~unusual[families[k]].any(axis=1).to_numpy(), j] = -np.inf
    floor = np.maximum(reasons.REASON_MIN_EFFECT, reasons.REASON_MIN_SHARE * base)
    texts = []
    for i in range(len(X)):
        order = [j for j in np.argsort(-effects[i], kind="stable") if effects[i, j] >= floor[i]]
        if not order and effects[i].max() > 0:
            # risk spread thinly: the single strongest unusual behaviour, below the floor
            order = [int(np.argmax(effects[i]))]
        row = X.iloc[i].to_dict()
        parts = [
            wording.reason_text(keys[j], families[keys[j]], row, typical, labels) for j in order
        ]
        parts = [p for p in parts if p][: reasons.MAX_REASONS]
        texts.append("; ".join(parts) if parts else reasons.NOTHING_STANDS_OUT)
    return texts


@pytest.mark.parametrize("sample_rows", [1000, 40])
def test_reasons_match_the_row_by_row_definition(scored, monkeypatch, sample_rows):
    # 40: families are ranked on a sample and the other rows get a pass of their own
    con, result = scored
    monkeypatch.setattr(reasons, "REASON_SAMPLE", sample_rows)
    touchpoints = top_values(con, "touchpoint", result.cutoffs[-1], MAX_TOUCHPOINTS)
    channels = top_values(con, "channel", result.cutoffs[-1], MAX_CHANNELS)
    features = training.model_features(con, None, touchpoints, channels, "UTC", 30)
    X = features[result.model_card["features"]].astype(float).iloc[:150]
    labels = vocabulary_labels(touchpoints, channels) | last_event_labels(touchpoints)
    typical, families = X.median(), [["recency_days"], ["tp30_complaint", "tp_complaint"]]
    base = result.pipeline.predict_proba(X)[:, 1]
    np.testing.assert_array_equal(  # rows already typical are skipped, their effect is exactly 0
        reasons._what_if(result.pipeline, X, families, typical, base),
        _reference_what_if(result.pipeline, X, families, typical, base),
    )
    got = reasons.reasons_for(result.pipeline, X, labels, random_state=0)
    assert got == _reference_reasons(result.pipeline, X, labels, random_state=0)
    assert any(text != reasons.NOTHING_STANDS_OUT for text in got)


def _linear_risk(column: str, slope: float):
    """p = sigmoid(slope * (x - 50)) on column, over x = 0..100 (tenure fixed)."""
    X = pd.DataFrame({column: np.arange(101.0), "tenure_days": np.full(101, 10.0)})
    model = LogisticRegression().fit(X, np.arange(101) % 2)
    model.coef_, model.intercept_ = np.array([[slope, 0.0]]), np.array([-50 * slope])
    return X, Pipeline([("model", model)])


def test_thinly_spread_risk_still_gets_its_strongest_unusual_reason():
    # at 100 days between sessions the risk is 0.5125, and typical (50) would lower it by 0.0125,
    # under the floor of 5% of the risk (0.0256): still the strongest unusual behaviour, cited
    X, pipeline = _linear_risk("mean_days_between_sessions", 0.001)
    got = reasons.reasons_for(pipeline, X, {}, random_state=0)
    assert got[100] == "a session every 100 days (typical customer: every 50 days)"
    assert got[90] == "a session every 90 days (typical customer: every 50 days)"
    # inside the middle half, or sessions more often than typical (typical would raise the risk)
    assert got[60] == got[10] == reasons.NOTHING_STANDS_OUT
    assert got == _reference_reasons(pipeline, X, {}, random_state=0)


def test_favourable_behaviour_is_never_a_reason_even_when_the_model_says_so():
    # a model (wrongly) finding more events riskier: its what-if would cite "100 events so far"
    X, pipeline = _linear_risk("event_count", 0.05)
    got = reasons.reasons_for(pipeline, X, {}, random_state=0)
    assert got[100] == got[95] == reasons.NOTHING_STANDS_OUT
    # fewer events than typical lowers the risk here, so it is no reason either
    assert got[0] == reasons.NOTHING_STANDS_OUT


def test_every_cited_reason_lowers_the_risk_when_typical_and_points_the_risky_way():
    # less revenue raises the risk: the low-revenue customers are told so, in that direction
    X, pipeline = _linear_risk("monetary", -0.05)
    got = reasons.reasons_for(pipeline, X, {}, random_state=0)
    base = pipeline.predict_proba(X)[:, 1]
    typical = X.assign(monetary=X["monetary"].median())
    lowered = base - pipeline.predict_proba(typical)[:, 1]
    cited = [i for i, g in enumerate(got) if g != reasons.NOTHING_STANDS_OUT]
    assert cited and all(lowered[i] > 0 and X["monetary"][i] < 50 for i in cited)
    assert got[0] == "revenue so far 0 (typical customer: 50)"
    assert not any("every 0.0" in g for g in got)


def test_same_day_rhythms_are_worded_as_such():
    row = {"recency_days": 9.0, "mean_days_between_sessions": 0.2}
    typical = pd.Series({"recency_days": 1.0})
    text = wording.reason_text("recency", ["recency_days"], row, typical, {})
    assert text == "no activity for 9 days, usually back within the day"


@pytest.mark.slow
def test_training_rows_are_a_bounded_reproducible_sample():
    con = connect()
    load_events(con, synthetic_log(n=300))
    settings = ChurnSettings(max_train_rows=500)
    first = score_churn(con, settings, random_state=0)
    again = score_churn(con, settings, random_state=0)
    card = first.model_card
    assert card["n_train"] == 500 and card["training_sample"].startswith("uniform random sample")
    assert card["max_train_rows"] == 500 and card["training_customers"] < 300
    assert (first.metrics["n_train"] <= 500).all()
    pd.testing.assert_frame_equal(first.churn_risk, again.churn_risk)
    pd.testing.assert_frame_equal(first.metrics, again.metrics)


def test_no_feature_at_a_cutoff_changes_when_events_after_it_change():
    """Point-in-time: rewrite, delete and add events after the cutoff; every model feature (and
    the BG/NBD inputs) at the cutoff stays the same, while features at the log end do change."""
    con = connect()
    load_events(con, synthetic_log(n=120, days=120, seed=3))
    cutoff = day("2024-03-01")
    touchpoints = top_values(con, "touchpoint", cutoff, MAX_TOUCHPOINTS)
    channels = top_values(con, "channel", cutoff, MAX_CHANNELS)
    before = training.model_features(con, cutoff, touchpoints, channels, "UTC", 30)
    summary = activity_summary(con, cutoff)
    end_before = training.model_features(con, None, touchpoints, channels, "UTC")
    later = "event_time > ?"
    con.execute(
        f"update events set touchpoint = 'complaint', sentiment = -1 where {later}", [cutoff]
    )
    con.execute(f"delete from events where {later} and customer_id in ('1', '2', '3')", [cutoff])
    con.execute(
        "insert into events (event_id, customer_id, event_time, touchpoint, session_id, "
        "event_index) values ('x1', '0', ?, 'purchase', 'late', 999), "
        "('x2', 'newcomer', ?, 'visit', 'late2', 1)",
        [cutoff + timedelta(seconds=1), cutoff + timedelta(days=2)],
    )
    after = training.model_features(con, cutoff, touchpoints, channels, "UTC", 30)
    pd.testing.assert_frame_equal(before, after)
    pd.testing.assert_frame_equal(summary, activity_summary(con, cutoff))
    assert len(before) > 50 and before["tp30_complaint"].sum() > 0
    assert before["bgnbd_p_quiet"].between(0, 1).all()
    end_after = training.model_features(con, None, touchpoints, channels, "UTC")
    assert not end_before.equals(end_after)


@pytest.mark.slow
def test_training_sample_is_drawn_by_customer_and_ignores_event_row_order():
    """The sample is fixed by random_state and the customers' ids, never by the order the events
    table happens to hold its rows in: shuffled rows give the same scores bit for bit."""
    log = synthetic_log(n=300)
    settings = ChurnSettings(max_train_rows=500, bgnbd_fit_customers=100)
    results = []
    for order in (log, log.sample(frac=1, random_state=1)):
        con = connect()
        load_events(con, order.reset_index(drop=True))
        results.append(score_churn(con, settings, random_state=0))
    first, shuffled = results
    pd.testing.assert_frame_equal(first.churn_risk, shuffled.churn_risk)
    pd.testing.assert_frame_equal(first.metrics, shuffled.metrics)
    assert first.model_card["training_customers"] < 300 and first.model_card["n_train"] == 500


@pytest.mark.slow
def test_batched_scoring_gives_the_same_list_as_one_batch(scored, monkeypatch):
    con, result = scored
    output = ScoringOutput(personas="customer_personas")

    def run(batch):
        settings = ChurnSettings(score_batch_customers=batch)
        return score_churn(con, settings, random_state=0, output=output).churn_risk

    one = result.churn_risk
    assert len(one) > 250
    pd.testing.assert_frame_equal(run(100), one)
    # typical values from a random subset of customers: the same in any batch size too
    monkeypatch.setattr(batches, "REFERENCE_CUSTOMERS", 200)
    sampled = run(10_000)
    assert not sampled["reasons"].equals(one["reasons"])
    pd.testing.assert_series_equal(sampled["risk_score"], one["risk_score"])
    pd.testing.assert_frame_equal(run(100), sampled)


def test_bgnbd_is_fitted_on_a_bounded_reproducible_sample():
    con = connect()
    load_events(con, synthetic_log(n=300))
    cutoff = day("2024-06-01")
    everyone = fit_bgnbd(con, cutoff)
    assert fit_bgnbd(con, cutoff, 10_000).params_ == everyone.params_
    some = fit_bgnbd(con, cutoff, 100, random_state=0)
    assert some.params_ != everyone.params_
    assert fit_bgnbd(con, cutoff, 100, random_state=0).params_ == some.params_
    # fitted on exactly the 100 customers first in the random order
    summary = activity_summary(con, cutoff)
    first = con.execute(
        f"select customer_id from events where event_time <= $t group by customer_id "
        f"order by {hash_order(0)} limit 100",
        {"t": cutoff},
    ).fetchall()
    rows = summary[summary["customer_id"].isin([r[0] for r in first])]
    direct = BGNBD(penalizer=BGNBD_PENALIZER).fit(rows["x"], rows["t_x"], rows["T"])
    assert direct.params_ == some.params_


def test_resample_auc_equals_the_auc_of_the_repeated_rows_ties_included():
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.3
    p = np.round(rng.random(500) + 0.4 * y, 1)  # many ties
    for _ in range(5):
        weights = np.bincount(rng.integers(0, 500, 500), minlength=500)
        rows = np.repeat(np.arange(500), weights)
        expected = roc_auc_score(y[rows], p[rows])
        assert holdout._SortedScores(p, y).auc(weights) == pytest.approx(expected, abs=1e-12)
    low_high = holdout.auc_intervals(y.astype(int), {"m": p}, 0)["m"]
    assert low_high["roc_auc_low"] < roc_auc_score(y, p) < low_high["roc_auc_high"]


@pytest.mark.slow
def test_a_reason_bound_explains_the_riskiest_and_says_so(scored):
    con, result = scored
    output = ScoringOutput(personas="customer_personas")
    everyone = result.churn_risk.set_index("customer_id")
    bounded = score_churn(
        con, ChurnSettings(max_reason_customers=100), random_state=0, output=output
    )
    risk = bounded.churn_risk.set_index("customer_id")
    cut = risk["reasons"] == reasons.REASONS_NOT_COMPUTED
    assert 0 < (~cut).sum() < len(risk) and abs((~cut).sum() - 100) <= 5
    # every explained customer is riskier than every unexplained one, with the same reasons
    assert risk.loc[~cut, "risk_score"].min() > risk.loc[cut, "risk_score"].max()
    pd.testing.assert_series_equal(
        risk.loc[~cut, "reasons"], everyone.loc[risk.index[~cut], "reasons"]
    )
    pd.testing.assert_series_equal(risk["risk_score"], everyone.loc[risk.index, "risk_score"])
    card = bounded.model_card
    assert card["reasons_not_computed"] == cut.sum() and card["max_reason_customers"] == 100
    assert any("riskiest" in w for w in card["warnings"])
    assert result.model_card["reasons_not_computed"] == 0


@pytest.mark.slow
def test_scoring_queries_hold_at_most_score_batch_customers(scored, monkeypatch):
    con, result = scored
    output = ScoringOutput(personas="customer_personas")
    sizes = []
    query = batches._scoring_query

    def counted(run, customers, personas=None):
        sizes.append(con.execute(f"select count(*) from {customers}").fetchall()[0][0])
        return query(run, customers, personas)

    monkeypatch.setattr(batches, "_scoring_query", counted)
    settings = ChurnSettings(score_batch_customers=100)
    capped = score_churn(con, settings, random_state=0, output=output).churn_risk
    pd.testing.assert_frame_equal(capped, result.churn_risk)
    # the reference customers and the scored ones, 100 at a time: never one query for all
    assert max(sizes) == 100 and sum(sizes) > 2 * len(capped) - 100

from datetime import UTC, datetime, timedelta
from math import comb

import numpy as np
import pandas as pd
import pytest

from cjm.churn.patterns import PATTERN_COLUMNS, benjamini_hochberg, churn_patterns, wilson_interval
from cjm.db import connect

EVENTS_DDL = """
create table events (
    event_id varchar, customer_id varchar, event_time timestamptz, touchpoint varchar,
    event_index bigint, session_id varchar
)
"""
NOISE = ["browse", "search", "view", "cart"]
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def planted_log():
    """100 customers with 8+ events; the 20 churners end with 'help > complaint' before churning.

    Ten churners leave through an exit event ('cancel', then a 'survey'), which must not count
    because it is not before churned_at. Five stayers had 'help > complaint' long ago, outside
    their last 6 events. One extra churner has a single event and so is outside the population.
    """
    rng = np.random.default_rng(0)
    events, state = [], []

    def add(customer, touchpoints):
        for i, tp in enumerate(touchpoints):
            events.append((customer, T0 + timedelta(hours=i), tp, i + 1))
        return T0 + timedelta(hours=len(touchpoints) - 1)

    for c in range(20):
        body = list(rng.choice(NOISE, 4)) + [NOISE[c % 4], "help", "complaint"]
        if c < 10:
            last = add(f"churn{c}", body + ["cancel", "survey"])
            churned_at = T0 + timedelta(hours=len(body))  # the cancel event
        else:
            last = add(f"churn{c}", body)
            churned_at = last + timedelta(days=30)
        state.append((f"churn{c}", True, churned_at))
    for c in range(80):
        early = ["help", "complaint"] if c < 5 else []
        add(f"stay{c}", early + list(rng.choice(NOISE, 8)))
        state.append((f"stay{c}", False, pd.NaT))
    add("solo", ["help"])
    state.append(("solo", True, T0 + timedelta(days=30)))

    con = connect()
    con.execute(EVENTS_DDL)
    df = pd.DataFrame(events, columns=["customer_id", "event_time", "touchpoint", "event_index"])
    df["event_id"] = [f"e{i}" for i in range(len(df))]
    df["session_id"] = df["customer_id"]
    con.register("src", df)
    con.execute(
        "insert into events select event_id, customer_id, event_time, touchpoint, event_index,"
        " session_id from src"
    )
    con.unregister("src")
    churn_state = pd.DataFrame(state, columns=["customer_id", "is_churned", "churned_at"])
    return con, churn_state


def state_table(con, churn_state, name="churn_state"):
    """churn_patterns reads the churn state from a table: the frame registered as one."""
    con.register(name, churn_state)
    return name


def test_planted_precursor_ranks_first_with_hand_computed_lift():
    con, churn_state = planted_log()
    patterns = churn_patterns(
        con, state_table(con, churn_state), min_length=2, max_length=4, last_n=6
    )
    assert list(patterns.columns) == PATTERN_COLUMNS
    top = patterns.iloc[0]
    assert top["pattern"] == "help > complaint"
    assert top["length"] == 2
    assert (top["customer_count"], top["churned_count"]) == (20, 20)
    assert top["churn_rate"] == 1.0
    # overall churn rate is 20 / 100 (solo has too few events to carry any pattern)
    assert top["lift"] == pytest.approx(5.0)
    # one-sided Fisher: all 20 churners drawn in 20 picks from 100 customers
    assert top["p_value"] == pytest.approx(1 / comb(100, 20), rel=1e-6)
    assert top["q_value"] <= 0.05
    # the 95% Wilson interval of 20 out of 20: lower end n / (n + z^2)
    assert top["churn_rate_high"] == 1.0
    assert top["churn_rate_low"] == pytest.approx(20 / (20 + 1.959964**2), rel=1e-6)
    assert top["lift_low"] == pytest.approx(5 * top["churn_rate_low"])
    assert bool(top["is_contiguous"])
    # the gapped 'help ... complaint' has exactly the same customers: not closed, so dropped
    assert "help ... complaint" not in set(patterns["pattern"])
    # every other kept pattern is the precursor with noise before it (contiguous or with gaps),
    # ranked below it because it is rarer
    rest = patterns.iloc[1:]
    assert len(rest) > 0 and (rest["lift_low"] < top["lift_low"]).all()
    assert rest["pattern"].str.contains(r"help (?:>|\.\.\.) complaint$").all()
    assert {"browse > help > complaint", "view ... help ... complaint"} <= set(rest["pattern"])
    assert not rest.loc[rest["pattern"].str.contains(r"\.\.\."), "is_contiguous"].any()
    # events at and after the exit are not part of the precursor
    assert not patterns["pattern"].str.contains("cancel|survey").any()
    assert (patterns["q_value"] <= 0.05).all()
    assert (patterns["customer_count"] >= 5).all()
    assert patterns["lift_low"].is_monotonic_decreasing
    assert (patterns["lift_low"] <= patterns["lift"] + 1e-9).all()
    assert (patterns["lift"] <= patterns["lift_high"] + 1e-9).all()


def test_min_customers_and_window_limits():
    con, churn_state = planted_log()
    # with 3-grams only, each contiguous 'x > help > complaint' has 5 customers: gone at 6
    patterns = churn_patterns(con, state_table(con, churn_state), 3, 3, last_n=6, min_customers=6)
    assert not patterns["pattern"].str.contains("> help > complaint").any()
    assert (patterns["customer_count"] >= 6).all()
    # a window of 1 event cannot hold a 2-gram
    with pytest.raises(ValueError):
        churn_patterns(con, state_table(con, churn_state), 2, 4, last_n=1)


def test_no_churners_gives_an_empty_table():
    con, churn_state = planted_log()
    nobody = churn_state.assign(is_churned=False, churned_at=pd.NaT)
    patterns = churn_patterns(con, state_table(con, nobody))
    assert patterns.empty and list(patterns.columns) == PATTERN_COLUMNS


def test_benjamini_hochberg_matches_a_hand_example():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.005]))
    # sorted p 0.005, 0.01, 0.03, 0.04 -> x4/1, x4/2, x4/3, x4/4 = .02, .02, .04, .04
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg(np.array([])).size == 0


def _step_up_q_values(p: np.ndarray) -> np.ndarray:
    """The Benjamini-Hochberg step-up rule written out: q_(i) = min over j >= i of p_(j) m / j."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = q
    return out


def test_benjamini_hochberg_equals_the_step_up_rule_on_ties_and_extremes():
    rng = np.random.default_rng(7)
    p = np.concatenate(
        [rng.uniform(size=500), rng.uniform(size=300) ** 8, [0.0, 1.0, 1.0, 0.03, 0.03, 1e-300]]
    )
    q = benjamini_hochberg(p)
    # scipy multiplies in another order: equal up to two units in the last place (2.2e-16 near 1)
    np.testing.assert_array_max_ulp(q, _step_up_q_values(p), maxulp=2)
    assert np.abs(q - _step_up_q_values(p)).max() <= 2.3e-16
    # q-values keep the order of the p-values and never fall below them
    assert np.all(q >= p) and np.all(np.diff(q[np.argsort(p)]) >= 0)


def test_wilson_interval_matches_a_hand_example():
    # 3 of 10 at 95%: the textbook interval (0.108, 0.603)
    low, high = wilson_interval(np.array([3]), np.array([10]))
    assert low[0] == pytest.approx(0.1078, abs=1e-4) and high[0] == pytest.approx(0.6032, abs=1e-4)
    low, high = wilson_interval(np.array([0]), np.array([10]))
    assert low[0] == 0 and 0 < high[0] < 0.3

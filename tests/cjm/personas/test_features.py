from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from cjm.db import connect
from cjm.personas.features import (
    CHANNEL_PREFIX,
    FEATURE_DESCRIPTIONS,
    RECENT_TOUCHPOINT_PREFIX,
    TOUCHPOINT_PREFIX,
    customer_features,
    describe_feature,
    share_columns,
    top_values,
    write_customer_features,
)

EVENTS_DDL = """
create table events (
    event_id varchar, customer_id varchar, anonymous_id varchar, event_time timestamptz,
    touchpoint varchar, channel varchar, stage varchar, session_id varchar, event_index bigint,
    session_index bigint, revenue double, sentiment double, is_conversion boolean,
    source_file varchar, source_row bigint, properties json
)
"""
CUTOFF = datetime(2024, 1, 31, tzinfo=UTC)


def add_events(con, rows):
    """rows: (customer, 'YYYY-MM-DD HH:MM', touchpoint, session, channel, stage, revenue,
    sentiment)."""
    for i, (cust, ts, tp, sess, ch, stage, rev, sent) in enumerate(rows):
        n = con.execute("select count(*) from events").fetchone()[0]
        con.execute(
            "insert into events values (?, ?, null, ?::timestamptz, ?, ?, ?, ?, ?, null, ?, ?, ?,"
            " 'test', ?, null)",
            [f"e{n}", cust, ts + "+00", tp, ch, stage, sess, n, rev, sent, tp == "purchase", i],
        )


def three_customers():
    con = connect()
    con.execute(EVENTS_DDL)
    add_events(
        con,
        [
            # a: three sessions; 2024-01-20 is a Saturday and 23:00 is night
            ("a", "2024-01-01 10:00", "visit", "a1", "web", "awareness", None, None),
            ("a", "2024-01-01 10:10", "product_view", "a1", "web", "consideration", None, None),
            ("a", "2024-01-01 10:20", "purchase", "a1", "web", "purchase", 50.0, 0.5),
            ("a", "2024-01-20 23:00", "app_open", "a2", "mobile_app", "retention", None, None),
            ("a", "2024-01-20 23:30", "app_open", "a2", "mobile_app", "retention", None, None),
            ("a", "2024-01-30 12:00", "support_chat", "a3", "web", "retention", None, -0.5),
            # b: one session, partly without channel, no sentiment, no revenue
            ("b", "2024-01-10 09:00", "visit", "b1", None, "awareness", None, None),
            ("b", "2024-01-10 09:05", "visit", "b1", None, "awareness", None, None),
            ("b", "2024-01-10 09:10", "product_view", "b1", "email", "consideration", None, None),
            # c: one event before the cutoff, a purchase after it
            ("c", "2024-01-25 08:00", "visit", "c1", "web", "awareness", None, None),
            ("c", "2024-02-05 08:00", "purchase", "c2", "web", "purchase", 100.0, None),
        ],
    )
    return con


def test_vocabulary_is_ranked_by_count_before_the_cutoff():
    con = three_customers()
    # purchase has 2 events overall but only 1 before the cutoff; ties are broken by name
    assert top_values(con, "touchpoint", CUTOFF) == [
        "visit",
        "app_open",
        "product_view",
        "purchase",
        "support_chat",
    ]
    assert top_values(con, "channel", CUTOFF) == ["web", "mobile_app", "email"]


def test_golden_rows():
    con = three_customers()
    f = customer_features(con, as_of=CUTOFF).set_index("customer_id")
    assert list(f.index) == ["a", "b", "c"]
    a, b, c = f.loc["a"], f.loc["b"], f.loc["c"]

    assert a["recency_days"] == pytest.approx(0.5)
    assert a["frequency"] == 3 and a["event_count"] == 6
    assert a["tenure_days"] == pytest.approx(30 - 10 / 24)
    assert a["monetary"] == 50.0
    assert a["events_per_session"] == 2.0
    assert a["mean_session_seconds"] == pytest.approx((1200 + 1800 + 0) / 3)
    assert a["sessions_per_week"] == pytest.approx(3 * 7 / (30 - 10 / 24))
    assert a["mean_days_between_sessions"] == pytest.approx((29 + 2 / 24) / 2)
    assert a["days_between_last_sessions"] == pytest.approx(9 + 13 / 24)
    assert a["weekend_share"] == pytest.approx(2 / 6)
    assert a["night_share"] == pytest.approx(2 / 6)
    assert a["morning_share"] == pytest.approx(3 / 6)
    assert a["afternoon_share"] == pytest.approx(1 / 6) and a["evening_share"] == 0.0
    assert a["furthest_stage_rank"] == 4
    assert a["is_converted"] == 1
    assert a["days_to_convert"] == pytest.approx(20 / 1440)  # first event 10:00, purchase 10:20
    assert a["backward_step_share"] == 0.0  # awareness -> ... -> retention never goes back
    # sentiment averages to exactly 0 but is present: the indicator tells it from "missing"
    assert a["mean_sentiment"] == 0.0 and a["sentiment_missing"] == 0
    assert a["same_touchpoint_share"] == pytest.approx(1 / 5)
    assert a["retention_loop_share"] == pytest.approx(2 / 5)
    assert a["events_last_7d"] == 1 and a["events_last_30d"] == 6 and a["events_prev_30d"] == 0
    assert a["activity_trend"] == 1.0
    assert a["tp_app_open"] == pytest.approx(2 / 6)
    assert a["tp_visit"] == pytest.approx(1 / 6)
    assert a["tp30_app_open"] == 2
    assert a["ch_web"] == pytest.approx(4 / 6)
    assert a["ch_mobile_app"] == pytest.approx(2 / 6)

    assert b["recency_days"] == pytest.approx(20 + 14 / 24 + 50 / 1440)
    assert b["frequency"] == 1 and b["event_count"] == 3
    assert b["monetary"] == 0.0  # the log has revenue, b spent nothing
    assert pd.isna(b["mean_days_between_sessions"]) and pd.isna(b["days_between_last_sessions"])
    assert b["sessions_per_week"] == pytest.approx(7 / (20 + 15 / 24))
    assert b["sentiment_missing"] == 1 and b["mean_sentiment"] == 0.0
    assert b["same_touchpoint_share"] == pytest.approx(1 / 2)
    assert pd.isna(b["days_to_convert"])  # never converted
    assert b["tp_visit"] == pytest.approx(2 / 3)
    assert b["ch_email"] == pytest.approx(1 / 3)
    assert b["ch_web"] == 0.0

    # c's purchase after the cutoff is invisible
    assert c["event_count"] == 1 and c["monetary"] == 0.0 and c["is_converted"] == 0
    assert c["recency_days"] == pytest.approx(6 - 8 / 24)
    assert c["tp_purchase"] == 0.0
    assert c["sessions_per_week"] == pytest.approx(1.0)  # under a week old: counts as a full week
    assert pd.isna(c["same_touchpoint_share"])  # a single event has no steps


def test_backward_steps_and_time_to_convert():
    con = connect()
    con.execute(EVENTS_DDL)
    add_events(
        con,
        [
            ("d", "2024-01-01 10:00", "product_view", "d1", "web", "consideration", None, None),
            ("d", "2024-01-01 10:05", "checkout", "d1", "web", "purchase", None, None),
            ("d", "2024-01-01 10:06", "product_view", "d1", "web", "consideration", None, None),
            ("d", "2024-01-01 10:07", "mystery", "d1", "web", None, None, None),
            ("d", "2024-01-03 10:00", "purchase", "d2", "web", "purchase", 9.0, None),
        ],
    )
    d = customer_features(con, as_of=CUTOFF).set_index("customer_id").loc["d"]
    # 4 steps; only checkout -> product_view goes back (steps from or to no stage never count)
    assert d["backward_step_share"] == pytest.approx(1 / 4)
    assert d["days_to_convert"] == pytest.approx(2.0)
    assert d["evening_share"] == 0.0 and d["morning_share"] == 1.0


def test_no_leakage_from_after_the_cutoff():
    con = three_customers()
    before = customer_features(con, as_of=CUTOFF)
    add_events(
        con,
        [
            # a session that straddles the cutoff, a new customer, and more of everything later
            ("a", "2024-01-31 00:30", "support_chat", "a3", "web", "retention", 10.0, -1.0),
            ("d", "2024-02-01 10:00", "purchase", "d1", "store", "purchase", 99.0, 1.0),
            ("b", "2024-02-02 10:00", "refund", "b2", "call_center", "retention", -5.0, -1.0),
        ]
        + [
            ("e", f"2024-03-{d:02d} 10:00", "newthing", f"e{d}", "sms", None, 1.0, 0.0)
            for d in range(1, 20)
        ],
    )
    after = customer_features(con, as_of=CUTOFF)
    pd.testing.assert_frame_equal(before, after)
    # and on the full log the new events do show up
    assert set(customer_features(con)["customer_id"]) == {"a", "b", "c", "d", "e"}


def test_vocabulary_can_be_fixed_so_columns_match_across_cutoffs():
    con = three_customers()
    f = customer_features(
        con,
        as_of=datetime(2024, 1, 5, tzinfo=UTC),
        touchpoints=["support_chat", "visit"],
        channels=["web"],
    )
    assert [c for c in f.columns if c.startswith(TOUCHPOINT_PREFIX)] == [
        "tp_support_chat",
        "tp_visit",
    ]
    assert list(f["customer_id"]) == ["a"]
    assert f["tp_support_chat"].iloc[0] == 0.0 and f["tp_visit"].iloc[0] == pytest.approx(1 / 3)
    assert f.attrs["labels"]["tp_support_chat"] == "support_chat"


def test_log_without_channel_revenue_or_sentiment():
    con = connect()
    con.execute(EVENTS_DDL)
    add_events(
        con,
        [
            ("x", "2024-01-01 10:00", "Add to Cart", "x1", None, None, None, None),
            ("x", "2024-01-03 10:00", "Add-to-cart", "x2", None, None, None, None),
        ],
    )
    f = customer_features(con)
    assert not any(c.startswith(CHANNEL_PREFIX) for c in f.columns)
    assert f["monetary"].isna().all()  # no revenue anywhere: unknown, not zero
    assert f["sentiment_missing"].iloc[0] == 1
    assert f["furthest_stage_rank"].iloc[0] == 0
    # two names sanitising to the same column stay distinct
    assert {"tp_add_to_cart", "tp_add_to_cart_2"} <= set(f.columns)


def test_empty_log_gives_an_empty_frame():
    con = connect()
    con.execute(EVENTS_DDL)
    f = customer_features(con)
    assert f.empty and "recency_days" in f.columns


def test_timezone_moves_night_and_weekend():
    con = three_customers()
    utc = customer_features(con, as_of=CUTOFF).set_index("customer_id")
    ny = customer_features(con, as_of=CUTOFF, timezone="America/New_York").set_index("customer_id")
    # a's 23:00 UTC Saturday events are 18:00 Saturday in New York (not night, still weekend);
    # the 10:xx UTC events of 1 January are 05:xx there (night)
    assert utc.loc["a", "night_share"] == pytest.approx(2 / 6)
    assert ny.loc["a", "night_share"] == pytest.approx(3 / 6)
    assert ny.loc["a", "weekend_share"] == pytest.approx(2 / 6)


def test_share_columns_are_unique_and_safe():
    assert share_columns(["A-b", "a b", "", "ça va"], "tp_") == {
        "A-b": "tp_a_b",
        "a b": "tp_a_b_2",
        "": "tp_x",
        "ça va": "tp_a_va",
    }


def test_every_feature_is_described():
    con = three_customers()
    f = customer_features(con, as_of=CUTOFF)
    labels = f.attrs["labels"]
    for column in f.columns.drop("customer_id"):
        if column.startswith((TOUCHPOINT_PREFIX, RECENT_TOUCHPOINT_PREFIX, CHANNEL_PREFIX)):
            assert labels[column] in describe_feature(column, labels)
        else:
            assert column in FEATURE_DESCRIPTIONS


def test_every_feature_is_in_the_features_doc_with_its_description():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "FEATURES.md").read_text()
    for column, description in FEATURE_DESCRIPTIONS.items():
        assert f"| `{column}` |" in doc and description in doc, column
    for prefix in (TOUCHPOINT_PREFIX, RECENT_TOUCHPOINT_PREFIX, CHANNEL_PREFIX):
        assert f"`{prefix}<" in doc


def test_table_written_by_duckdb_equals_the_frame():
    con = three_customers()
    query = write_customer_features(con, "features_table", timezone="America/New_York")
    frame = customer_features(con, timezone="America/New_York")
    table = con.execute("select * from features_table order by customer_id").df()
    pd.testing.assert_frame_equal(table, frame, check_dtype=False)
    assert query.labels == frame.attrs["labels"] and query.as_of == frame.attrs["as_of"]

"""Churn-specific features as of a cutoff: recent behaviour against the customer's own history.

customer_features describes who a customer is; these say how the last weeks differ from their own
usual rhythm, which is what precedes churn: overdue relative to their usual gap between sessions,
fewer sessions than their own earlier rate, more support-like and negative events lately, and the
touchpoints among their very last events. Only events at or before the cutoff are read.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from cjm.db import exact_avg_sql
from cjm.personas.features import as_utc, customer_filter, log_end, share_columns

LAST_EVENTS_PREFIX = "last5_"
LAST_EVENTS = 5
# Days of the "recent" windows: two weeks is short enough to catch a fade, long enough to hold a
# session for most customers; the customer's own rate before them is the comparison.
RECENT_DAYS = 14

CHURN_FEATURE_DESCRIPTIONS: dict[str, str] = {
    "recency_ratio": "days since the last session start divided by the customer's average days "
    "between sessions (missing with one session)",
    "recency_vs_longest_gap": "days since the last session start divided by the longest gap "
    "between two of the customer's sessions so far (missing with one session)",
    "longest_gap_days": "longest gap in days between two consecutive session starts",
    "sessions_last_14d": "sessions started in the 14 days before the cutoff",
    "sessions_usual_14d": "the customer's own sessions per 14 days before those 14 days "
    "(missing when they are newer than 28 days)",
    "session_rate_ratio_14d": "sessions in the last 14 days divided by the customer's usual "
    "sessions per 14 days before them (missing when newer than 28 days)",
    "negative_events_30d": "events with sentiment below -0.3 in the 30 days before the cutoff",
    "sentiment_last_30d": "average sentiment of events in the last 30 days (missing without any)",
    "sentiment_change": "average sentiment in the last 30 days minus the average before them "
    "(missing when either has none)",
    "exit_stage_events_30d": "events of stage 'exit' (cancel, unsubscribe ...) in the last 30 days",
    "bgnbd_p_quiet": "BG/NBD chance of no active day in the horizon, fitted on the history "
    "before the cutoff",
}


def churn_feature_descriptions(columns: list[str], labels: dict[str, str]) -> dict[str, str]:
    """Plain-words descriptions of the columns churn_features made."""
    out = {}
    for c in columns:
        if c in CHURN_FEATURE_DESCRIPTIONS:
            out[c] = CHURN_FEATURE_DESCRIPTIONS[c]
        elif c.startswith(LAST_EVENTS_PREFIX):
            name = labels.get(c, c[len(LAST_EVENTS_PREFIX) :])
            out[c] = f"number of '{name}' events among the customer's last {LAST_EVENTS} events"
    return out


def last_event_labels(touchpoints: list[str]) -> dict[str, str]:
    """Column -> touchpoint name of the last5_ columns."""
    return {c: t for t, c in share_columns(touchpoints, LAST_EVENTS_PREFIX).items()}


def churn_features(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None,
    touchpoints: list[str],
    customers: str | None = None,
) -> pd.DataFrame:
    """One row per customer with events at or before as_of; columns in CHURN_FEATURE_DESCRIPTIONS
    plus one last5_<touchpoint> count per touchpoint of the fixed vocabulary.

    customers: a table with a customer_id column; only those customers are described.
    """
    sql, params = churn_features_query(as_utc(as_of) or log_end(con), touchpoints, customers)
    df = con.execute(sql, params).df()
    df["customer_id"] = df["customer_id"].astype(str)
    for c in ("recency_ratio", "recency_vs_longest_gap", "longest_gap_days", "sessions_usual_14d"):
        df[c] = df[c].astype(float)
    return df


def churn_features_query(
    as_of: datetime, touchpoints: list[str], customers: str | None = None
) -> tuple[str, dict]:
    """SQL and parameters of churn_features, to run or to embed in a larger query."""
    last_cols = share_columns(touchpoints, LAST_EVENTS_PREFIX)
    # Touchpoint names come from the data: they travel as a list parameter, never as SQL text.
    last_out = "".join(
        f",\n        count(*) filter (where touchpoint = ($last_vocab::varchar[])[{i}])::bigint"
        f" as {c}"
        for i, c in enumerate(last_cols.values(), 1)
    )
    sql = f"""
    with base as (
        -- the cutoff filter comes first: nothing after as_of reaches any feature
        select customer_id, event_id, event_index, event_time, session_id, touchpoint, stage,
               sentiment
        from events where event_time <= $as_of{customer_filter(customers)}
    ),
    sess as (
        select customer_id, session_id, min(event_time) as started_at
        from base group by customer_id, session_id
    ),
    gaps as (
        select *, epoch(started_at - lag(started_at) over (
            partition by customer_id order by started_at, session_id)) / 86400.0 as gap_days
        from sess
    ),
    sess_agg as (
        select customer_id,
            count(*) as sessions,
            min(started_at) as first_start,
            max(started_at) as last_start,
            max(gap_days) as longest_gap_days,
            {exact_avg_sql("gap_days")} as mean_gap_days,
            count(*) filter (where started_at > $as_of - interval {RECENT_DAYS} day)
                as sessions_last_14d,
            count(*) filter (where started_at <= $as_of - interval {RECENT_DAYS} day)
                as sessions_before_14d
        from gaps group by customer_id
    ),
    ev_agg as (
        select customer_id,
            count(*) filter (where sentiment < -0.3 and event_time > $as_of - interval 30 day)
                as negative_events_30d,
            {exact_avg_sql("sentiment", "event_time > $as_of - interval 30 day")}
                as sentiment_last_30d,
            {exact_avg_sql("sentiment", "event_time <= $as_of - interval 30 day")}
                as sentiment_before_30d,
            count(*) filter (where stage = 'exit' and event_time > $as_of - interval 30 day)
                as exit_stage_events_30d
        from base group by customer_id
    ),
    tail as (
        select customer_id, touchpoint from base
        qualify row_number() over (
            partition by customer_id order by event_time desc, event_index desc, event_id desc
        ) <= {LAST_EVENTS}
    ),
    tail_agg as (
        select customer_id{last_out}
        from tail group by customer_id
    )
    select
        s.customer_id,
        epoch($as_of - s.last_start) / 86400.0 / nullif(s.mean_gap_days, 0) as recency_ratio,
        epoch($as_of - s.last_start) / 86400.0 / nullif(s.longest_gap_days, 0)
            as recency_vs_longest_gap,
        s.longest_gap_days,
        s.sessions_last_14d::bigint as sessions_last_14d,
        -- the customer's own rate before the recent window, per 14 days of their history there
        case when s.first_start <= $as_of - interval {2 * RECENT_DAYS} day then
            s.sessions_before_14d * {RECENT_DAYS}.0
            / (epoch($as_of - interval {RECENT_DAYS} day - s.first_start) / 86400.0)
        end as sessions_usual_14d,
        case when s.first_start <= $as_of - interval {2 * RECENT_DAYS} day then
            s.sessions_last_14d / greatest(s.sessions_before_14d * {RECENT_DAYS}.0
                / (epoch($as_of - interval {RECENT_DAYS} day - s.first_start) / 86400.0), 0.25)
        end as session_rate_ratio_14d,
        e.negative_events_30d::bigint as negative_events_30d,
        e.sentiment_last_30d,
        e.sentiment_last_30d - e.sentiment_before_30d as sentiment_change,
        e.exit_stage_events_30d::bigint as exit_stage_events_30d{
        "".join(f", t.{c}" for c in last_cols.values())
    }
    from sess_agg s join ev_agg e using (customer_id) join tail_agg t using (customer_id)
    order by s.customer_id
    """
    return sql, {"as_of": as_of} | ({"last_vocab": list(last_cols)} if last_cols else {})

"""Per-customer behavioural features as of a cutoff, computed in DuckDB from the events table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from cjm.build.models import model_sql
from cjm.config import FUNNEL_STAGES
from cjm.db import quote_ident

MAX_TOUCHPOINTS = 30
MAX_CHANNELS = 15
TOUCHPOINT_PREFIX = "tp_"
RECENT_TOUCHPOINT_PREFIX = "tp30_"
CHANNEL_PREFIX = "ch_"

# Stage order used for "furthest stage"; exit is an outcome, not progress, so it has no rank.
STAGE_RANKS = {stage: rank for rank, stage in enumerate(FUNNEL_STAGES, 1)}

# Plain-words descriptions of the fixed features; reasons and model cards quote them.
FEATURE_DESCRIPTIONS: dict[str, str] = {
    "recency_days": "days since the last event",
    "frequency": "number of sessions",
    "event_count": "number of events",
    "tenure_days": "days since the first event",
    "monetary": "total revenue (missing when the log carries no revenue)",
    "events_per_session": "average events per session",
    "mean_session_seconds": "average session length in seconds (first to last event)",
    "sessions_per_week": "sessions per week since the first event (first week counts as a week)",
    "mean_days_between_sessions": "average days between session starts (missing with one session)",
    "days_between_last_sessions": "days between the starts of the last two sessions "
    "(missing with one session)",
    "weekend_share": "share of events on Saturday or Sunday (local time)",
    "night_share": "share of events between 22:00 and 06:00 (local time)",
    "morning_share": "share of events between 06:00 and 12:00 (local time)",
    "afternoon_share": "share of events between 12:00 and 18:00 (local time)",
    "evening_share": "share of events between 18:00 and 22:00 (local time)",
    "furthest_stage_rank": "furthest journey stage reached (0 none/unmapped, 1 awareness, "
    "2 consideration, 3 purchase, 4 retention, 5 advocacy)",
    "is_converted": "1 if the customer ever had a conversion event",
    "days_to_convert": "days from the first event to the first conversion (missing when not "
    "converted)",
    "mean_sentiment": "average sentiment of events in [-1, 1] (0 when none carried sentiment)",
    "sentiment_missing": "1 if none of the customer's events carried sentiment",
    "same_touchpoint_share": "share of steps that repeat the previous touchpoint "
    "(missing with a single event)",
    "retention_loop_share": "share of steps that stay within the retention stage, e.g. support "
    "chat to ticket (missing with a single event)",
    "backward_step_share": "share of steps that go back to an earlier stage, e.g. checkout to "
    "product view (missing with a single event)",
    "events_last_7d": "events in the 7 days before the cutoff",
    "events_last_30d": "events in the 30 days before the cutoff",
    "events_prev_30d": "events in the 30 days before that (31 to 60 days before the cutoff)",
    "activity_trend": "(last 30 days - previous 30 days) / (both), from -1 (stopped) to +1 "
    "(new or growing); 0 without events in either window",
}


def sanitise(name: str) -> str:
    """A lower-case identifier fragment for a touchpoint or channel name."""
    cleaned = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")[:40]
    return cleaned or "x"


def share_columns(names: list[str], prefix: str) -> dict[str, str]:
    """Map each name to a unique column `prefix + sanitised name` (collisions get _2, _3...)."""
    columns: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = prefix + sanitise(name)
        column, i = base, 2
        while column in taken:
            column, i = f"{base}_{i}", i + 1
        taken.add(column)
        columns[name] = column
    return columns


def describe_feature(column: str, labels: dict[str, str] | None = None) -> str:
    """Plain-words description of any feature column, including the per-touchpoint ones."""
    if column in FEATURE_DESCRIPTIONS:
        return FEATURE_DESCRIPTIONS[column]
    label = (labels or {}).get(column)
    for prefix, text in (
        (RECENT_TOUCHPOINT_PREFIX, "number of '{}' events in the 30 days before the cutoff"),
        (TOUCHPOINT_PREFIX, "share of events that are '{}'"),
        (CHANNEL_PREFIX, "share of events in channel '{}'"),
    ):
        if column.startswith(prefix):
            return text.format(label or column[len(prefix) :])
    return column


def as_utc(as_of: datetime | None) -> datetime | None:
    """The cutoff as an aware UTC datetime (naive values are taken as UTC)."""
    if as_of is None or as_of.tzinfo is not None:
        return as_of
    return as_of.replace(tzinfo=UTC)  # naive cutoffs are UTC, like every stored timestamp


def customer_filter(customers: str | None) -> str:
    """SQL to append to a where clause on events: only the customers in the table `customers`."""
    if customers is None:
        return ""
    return f" and customer_id in (select customer_id from {quote_ident(customers)})"


def log_end(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """Time of the latest event in the log (None for an empty log)."""
    row = con.execute("select max(event_time) from events").fetchone()
    return row[0] if row else None


def top_values(
    con: duckdb.DuckDBPyConnection, column: str, as_of: datetime | None = None, n: int = 30
) -> list[str]:
    """The n most common non-null values of an events column before as_of (ties by name)."""
    if column not in ("touchpoint", "channel"):
        raise ValueError(f"top_values works on touchpoint or channel, not {column!r}")
    cutoff = "" if as_of is None else "and event_time <= $as_of"
    rows = con.execute(
        f"""
        select {column} as v, count(*) as c from events
        where {column} is not null {cutoff}
        group by v order by c desc, v limit {int(n)}
        """,
        {} if as_of is None else {"as_of": as_utc(as_of)},
    ).fetchall()
    return [r[0] for r in rows]


@dataclass
class FeatureQuery:
    """The customer_features SQL with its parameters and the vocabulary it was built for."""

    sql: str
    params: dict
    touchpoints: list[str]
    channels: list[str]
    as_of: datetime

    @property
    def labels(self) -> dict[str, str]:
        """Column -> original touchpoint/channel name of the tp_/tp30_/ch_ columns."""
        return vocabulary_labels(self.touchpoints, self.channels)


def customer_features(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None = None,
    touchpoints: list[str] | None = None,
    channels: list[str] | None = None,
    timezone: str = "UTC",
    customers: str | None = None,
) -> pd.DataFrame:
    """One row per customer with events at or before as_of: the features in FEATURE_DESCRIPTIONS.

    Local time (weekend, night) is in `timezone`; `touchpoints`/`channels` fix the vocabulary of
    the tp_/tp30_/ch_ columns (default: the most common values before as_of).
    """
    query = feature_query(con, as_of, touchpoints, channels, timezone, customers)
    df = con.execute(query.sql, query.params).df()
    df["customer_id"] = df["customer_id"].astype(str)
    # Vocabulary travels with the frame so callers can reuse it and label columns in plain words.
    df.attrs["touchpoints"] = list(query.touchpoints)
    df.attrs["channels"] = list(query.channels)
    df.attrs["labels"] = query.labels
    df.attrs["as_of"] = query.as_of
    return df


def write_customer_features(
    con: duckdb.DuckDBPyConnection,
    table: str = "customer_features",
    as_of: datetime | None = None,
    timezone: str = "UTC",
) -> FeatureQuery:
    """customer_features computed and stored by DuckDB as `table`, never passing through pandas.

    At millions of customers the frame of ~60 columns would take gigabytes; the table spills to
    disk instead. Returns the query, whose vocabulary labels the tp_/tp30_/ch_ columns.
    """
    query = feature_query(con, as_of, timezone=timezone)
    con.execute(
        f"create or replace table {quote_ident(table)} as "
        f"select * replace (customer_id::varchar as customer_id) from ({query.sql})",
        query.params,
    )
    return query


def feature_query(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None = None,
    touchpoints: list[str] | None = None,
    channels: list[str] | None = None,
    timezone: str = "UTC",
    customers: str | None = None,
) -> FeatureQuery:
    """The SQL of customer_features (ordered by customer_id) for this log, cutoff and vocabulary;
    `customers` as in customer_features_query."""
    # An empty log has no end; any cutoff then selects nothing and gives the empty frame.
    as_of = as_utc(as_of) or log_end(con) or datetime(1970, 1, 1, tzinfo=UTC)
    if touchpoints is None:
        touchpoints = top_values(con, "touchpoint", as_of, MAX_TOUCHPOINTS)
    if channels is None:
        channels = top_values(con, "channel", as_of, MAX_CHANNELS)
    sql, params = customer_features_query(as_of, touchpoints, channels, timezone, customers)
    return FeatureQuery(sql, params, list(touchpoints), list(channels), as_of)


def customer_features_query(
    as_of: datetime,
    touchpoints: list[str],
    channels: list[str],
    timezone: str = "UTC",
    customers: str | None = None,
) -> tuple[str, dict]:
    """SQL and parameters of customer_features, to run or to embed in a larger query.

    customers: a table or view with a customer_id column; only those customers are described
    (their features are the same as in a run over everyone).
    """
    # The query (sql/analytics/customer_features.sql) gives the mixes as maps by vocabulary
    # position; only what depends on the caller is built here: whose events it reads (a table
    # name: every customer's, or those in `customers`) and one column per touchpoint or channel,
    # named after the log's own values.
    sql = (
        "with feature_events as not materialized "
        f"(select * from events where true{customer_filter(customers)})\n"
        f"select * exclude (tp_n, tp_n30, ch_n){_mix_select(touchpoints, channels)}\n"
        f"from ({model_sql('analytics', 'customer_features')})\norder by customer_id"
    )
    # STAGE_RANKS counts 1, 2, 3...: a stage's rank is its position in the list.
    stages = sorted(STAGE_RANKS, key=STAGE_RANKS.get)
    params = {"as_of": as_of, "tz": timezone, "stages": stages}
    return sql, params | {"tp_vocab": list(touchpoints), "ch_vocab": list(channels)}


def _mix_select(touchpoints: list[str], channels: list[str]) -> str:
    """`, <expression> as <column>` for every tp_, tp30_ and ch_ column, read from the maps."""
    share = ", coalesce({0}[{1}] / event_count, 0)::double as {2}"
    recent = ", coalesce(tp_n30[{0}], 0)::bigint as {1}"
    columns = [
        share.format("tp_n", i, quote_ident(c))
        for i, c in enumerate(share_columns(touchpoints, TOUCHPOINT_PREFIX).values())
    ]
    columns += [
        recent.format(i, quote_ident(c))
        for i, c in enumerate(share_columns(touchpoints, RECENT_TOUCHPOINT_PREFIX).values())
    ]
    columns += [
        share.format("ch_n", i, quote_ident(c))
        for i, c in enumerate(share_columns(channels, CHANNEL_PREFIX).values())
    ]
    return "".join(columns)


def vocabulary_labels(touchpoints: list[str], channels: list[str]) -> dict[str, str]:
    """Column -> original touchpoint/channel name for the per-touchpoint and per-channel columns."""
    labels = {c: t for t, c in share_columns(touchpoints, TOUCHPOINT_PREFIX).items()}
    labels |= {c: t for t, c in share_columns(touchpoints, RECENT_TOUCHPOINT_PREFIX).items()}
    labels |= {c: h for h, c in share_columns(channels, CHANNEL_PREFIX).items()}
    return labels


def feature_labels(features: pd.DataFrame) -> dict[str, str]:
    """Column -> original touchpoint/channel name, falling back to the column without prefix."""
    labels = dict(features.attrs.get("labels", {}))
    for column in features.columns:
        for prefix in (RECENT_TOUCHPOINT_PREFIX, TOUCHPOINT_PREFIX, CHANNEL_PREFIX):
            if column.startswith(prefix):
                labels.setdefault(column, column[len(prefix) :])
                break
    return labels

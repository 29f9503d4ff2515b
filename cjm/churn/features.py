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

from cjm.churn.queries import analytics_sql, composed, scope_variables, set_variables
from cjm.db import quote_ident
from cjm.personas.features import as_utc, log_end, share_columns

LAST_EVENTS_PREFIX = "last5_"
LAST_EVENTS = 5

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
    as_of = as_utc(as_of) or log_end(con)
    set_variables(con, churn_features_variables(as_of, touchpoints) | scope_variables(customers))
    sql = composed(churn_features_sql(touchpoints), customers=customers)
    df = con.execute(f"{sql} order by customer_id").df()
    df["customer_id"] = df["customer_id"].astype(str)
    for c in ("recency_ratio", "recency_vs_longest_gap", "longest_gap_days", "sessions_usual_14d"):
        df[c] = df[c].astype(float)
    return df


def churn_features_sql(touchpoints: list[str]) -> str:
    """sql/analytics/churn_features.sql (over scoped_events) with its last_counts list as one
    last5_<touchpoint> column per touchpoint of the vocabulary."""
    # The one part built here: the columns are named for the log's touchpoints, so their list
    # depends on the data; the names come from share_columns, the touchpoints travel as a variable.
    columns = share_columns(touchpoints, LAST_EVENTS_PREFIX).values()
    named = "".join(
        f", last_counts[{i}]::bigint as {quote_ident(c)}" for i, c in enumerate(columns, 1)
    )
    body = analytics_sql("churn_features")
    return f"select * exclude (last_counts){named} from (\n{body}\n)"


def churn_features_variables(as_of: datetime, touchpoints: list[str]) -> dict[str, object]:
    """The variables churn_features_sql reads: the cutoff and the touchpoints counted."""
    return {
        "cjm_churn_as_of": as_of,
        "cjm_churn_last_vocab": list(share_columns(touchpoints, LAST_EVENTS_PREFIX)),
        "cjm_churn_last_events": LAST_EVENTS,
    }

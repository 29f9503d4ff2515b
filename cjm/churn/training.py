"""Training rows for the churn model: point-in-time features and labels at each cutoff, bounded."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from cjm.churn.bgnbd import activity_summary
from cjm.churn.definition import (
    ChurnDefinition,
    churn_labels,
    drop_table,
    hash_order,
)
from cjm.churn.features import (
    churn_features,
)
from cjm.churn.probabilistic import fit_bgnbd, p_quiet
from cjm.config_sections import ChurnSettings
from cjm.db import quote_ident
from cjm.personas.features import (
    as_utc,
    customer_features,
    log_end,
)

# Customers are drawn for training until their cutoffs not yet inactive add up to this many times
# churn.max_train_rows: customers who left through an exit touchpoint give fewer rows.
TRAIN_OVERSAMPLE = 1.25


def model_features(
    con: duckdb.DuckDBPyConnection,
    as_of: datetime | None,
    touchpoints: list[str],
    channels: list[str],
    timezone: str,
    horizon_days: int | None = None,
    customers: str | None = None,
    bgnbd_fit_customers: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Everything the churn model sees about each customer as of a cutoff (nothing after it).

    With horizon_days, also the BG/NBD chance of no active day in that horizon (fitted on the
    history up to the cutoff only, of at most bgnbd_fit_customers customers): the
    probability-alive model's summary of frequency and recency, which the boosting model can
    refine with behaviour it cannot see. customers: a table with a customer_id column; only those
    customers are described (default all).
    """
    feats = customer_features(con, as_of, touchpoints, channels, timezone, customers)
    extra = churn_features(con, as_of, touchpoints, customers)
    feats = feats.merge(extra, on="customer_id", how="left")
    if horizon_days is not None and len(feats):
        t = as_utc(as_of) or log_end(con)
        fitted = fit_bgnbd(con, t, bgnbd_fit_customers, random_state)
        summary = activity_summary(con, t, customers)
        feats["bgnbd_p_quiet"] = p_quiet(
            fitted, summary, feats["customer_id"], timedelta(days=horizon_days)
        )
    return feats


def training_frame(
    con: duckdb.DuckDBPyConnection,
    definition: ChurnDefinition,
    cutoff: datetime,
    vocabulary: tuple[list[str], list[str]],
    timezone: str,
    states: dict[datetime, str],
    settings: ChurnSettings,
    random_state: int,
    customers: str | None,
) -> pd.DataFrame:
    labels = churn_labels(con, definition, cutoff, states, customers)
    touchpoints, channels = vocabulary
    # Features only for the labelled customers (active at the cutoff): on a log of many churners
    # most customers seen by a cutoff are not.
    labelled = "_cjm_churn_labelled"
    con.register(labelled, labels[["customer_id"]])
    try:
        feats = model_features(
            con,
            cutoff,
            touchpoints,
            channels,
            timezone,
            definition.horizon_days,
            labelled,
            settings.bgnbd_fit_customers,
            random_state,
        )
    finally:
        con.unregister(labelled)
    frame = feats.merge(
        labels[["customer_id", "churned", "customer_state"]], on="customer_id", how="inner"
    )
    frame["is_exited"] = (frame.pop("customer_state") == "exited").astype(float)
    frame["cutoff"] = cutoff
    return frame


def bounded_sample(frame: pd.DataFrame, random_state: int, max_rows: int) -> pd.DataFrame:
    """At most max_rows rows of frame in a reproducible random order (a uniform sample when there
    are more).

    Shuffled because the calibration folds are contiguous: rows in cutoff order would give a fold
    that never sees the later cutoffs (and a feature only defined there would be empty in it).
    """
    rng = np.random.default_rng(random_state)
    rows = rng.permutation(len(frame))[:max_rows]
    return frame.iloc[rows].reset_index(drop=True)


def training_customers(
    con: duckdb.DuckDBPyConnection,
    cutoffs: list[datetime],
    max_rows: int,
    random_state: int,
) -> tuple[str | None, int, int]:
    """The customers whose (customer, cutoff) rows are trained on: all, or (more than max_rows
    possible rows) a random sample in a temporary table. Returns (table or None, sampled, all).

    A customer gives a row at each cutoff they have been seen by (active, lapsed or exited: every
    customer is scored). One pass over the events counts those cutoffs; customers are taken in
    random order while the counts add up to TRAIN_OVERSAMPLE * max_rows, and bounded_sample then
    keeps max_rows rows.
    """
    active_at = " + ".join(f"(min(event_time) <= $c{i})::integer" for i in range(len(cutoffs)))
    rows_sql = f"""
        select customer_id, {active_at} as n
        from events where event_time <= $last group by customer_id
    """
    params = {f"c{i}": c for i, c in enumerate(cutoffs)}
    params |= {"last": cutoffs[-1]}
    total, rows = con.execute(f"select count(*), sum(n) from ({rows_sql})", params).fetchall()[0]
    total, rows = int(total), int(rows or 0)
    if rows <= max_rows:
        return None, total, total
    name = "_cjm_churn_training_customers"
    con.execute(
        f"""
        create or replace temp table {quote_ident(name)} as
        select customer_id from (
            select customer_id, sum(n) over (
                order by {hash_order(random_state)} rows unbounded preceding
            ) as upto
            from ({rows_sql})
        ) where upto <= $budget
        """,
        params | {"budget": TRAIN_OVERSAMPLE * max_rows},
    )
    sampled = int(con.execute(f"select count(*) from {quote_ident(name)}").fetchall()[0][0])
    if sampled == total:
        drop_table(con, name)
        return None, total, total
    return name, sampled, total


def usable_features(frame: pd.DataFrame, candidates: list[str]) -> list[str]:
    """Features with at least two distinct values in frame: a column with no values at all (no
    revenue in the log) or only one carries nothing and breaks binning."""
    return [c for c in candidates if frame[c].nunique(dropna=True) >= 2]

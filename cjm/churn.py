"""Churn definition, point-in-time training, forward-holdout metrics, scoring and reasons.

Definition (one rule used everywhere: state, labels, patterns), with D = inactivity_days:
- State at time t: a customer is churned if their last event at or before t is at least D days
  old (churned_at = last event + D), or their latest exit-touchpoint event is not followed by an
  event in another session (churned_at = the exit event; coming back later makes them active).
- Label at cutoff c, for customers with events at or before c who are not churned at c: 1 if they
  are churned at c + horizon. Only events up to c + horizon are read, so the label is fully
  observed; a short lapse that ends inside the horizon is not churn. risk_score is the calibrated
  chance of that label: "will count as churned `horizon_days` from now".
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from cjm.bgnbd import BGNBD, activity_summary, activity_summary_query
from cjm.churn_features import (
    LAST_EVENTS_PREFIX,
    churn_feature_descriptions,
    churn_features,
    churn_features_query,
    last_event_labels,
)
from cjm.config import ChurnSettings
from cjm.db import quote_ident, write_table
from cjm.features import (
    CHANNEL_PREFIX,
    MAX_CHANNELS,
    MAX_TOUCHPOINTS,
    RECENT_TOUCHPOINT_PREFIX,
    STAGE_RANKS,
    TOUCHPOINT_PREFIX,
    as_utc,
    customer_features,
    customer_features_query,
    customer_filter,
    describe_feature,
    log_end,
    top_values,
    vocabulary_labels,
)

# Auto inactivity rule: the 90th percentile of gaps between a customer's consecutive sessions (90%
# of observed returns happen sooner), rounded up to whole days and clamped to [7, 365]; with fewer
# than 30 observed gaps the percentile is noise, so 30 days is used instead.
AUTO_PERCENTILE = 0.9
AUTO_MIN_DAYS, AUTO_MAX_DAYS, AUTO_FALLBACK_DAYS, AUTO_MIN_GAPS = 7, 365, 30, 30
# Fewer examples of either class than this and a calibrated model (3-fold) is not meaningful.
MIN_CLASS_COUNT = 10
MAX_REASONS = 3
REASON_CANDIDATES = 12
# A behaviour is cited when making it typical lowers the risk by at least this much, absolute
# and as a share of the customer's risk.
REASON_MIN_EFFECT, REASON_MIN_SHARE = 0.01, 0.05
REASON_SAMPLE = 1000
REASON_BATCH_ROWS = 200_000
# Customers are drawn for training until their cutoffs not yet inactive add up to this many times
# churn.max_train_rows: customers who left through an exit touchpoint give fewer rows.
TRAIN_OVERSAMPLE = 1.25
# Typical values (medians, quartiles) and the candidate reasons come from the active customers
# among at most this many drawn at random: enough for a stable median, independent of batches.
REFERENCE_CUSTOMERS = 100_000
# scikit-learn's OpenMP pools default to one thread per core. On a shared machine (other jobs,
# DuckDB) every boosting split then waits at a barrier for a descheduled thread, which made fits and
# predictions 20-50x slower; training is on a bounded sample, so one thread is fast and predictable.
MODEL_THREADS = 1

CHURN_RISK_COLUMNS = [
    "customer_id",
    "risk_score",
    "risk_tier",
    "reasons",
    "persona_id",
    "last_seen_at",
    "scored_at",
    "revenue",
    "value_at_risk",
    "last_touchpoint",
    "last_channel",
    "rank",
]
METRIC_COLUMNS = [
    "model",
    "roc_auc",
    "pr_auc",
    "precision_at_top10pct",
    "brier",
    "n_train",
    "n_holdout",
    "positives",
    "train_positives",
    "holdout_cutoff",
    "note",
]

MODELS = ("churn_model", "recency_baseline", "bgnbd_baseline")
CALIBRATION_DTYPES = {
    "model": str,
    "bin": "int64",
    "bin_low": float,
    "bin_high": float,
    "mean_predicted": float,
    "observed_rate": float,
    "count": "int64",
}
CALIBRATION_COLUMNS = list(CALIBRATION_DTYPES)
# A small ridge on the BG/NBD parameters: plain maximum likelihood can run off to a corner (a or b
# near 0 or huge) on short logs with few repeat customers.
BGNBD_PENALIZER = 0.001


@dataclass(frozen=True)
class ChurnDefinition:
    """What churn means for this log (resolved from settings)."""

    inactivity_days: int
    exit_touchpoints: tuple[str, ...]
    horizon_days: int
    inactivity_source: Literal["config", "auto"]
    note: str


@dataclass
class ChurnResult:
    """Scored customers, holdout metrics, model card; pipeline is None when no model was fit.

    churn_risk is None when the scored customers were written to a table (score_churn's
    risk_table) instead.
    """

    churn_risk: pd.DataFrame | None
    metrics: pd.DataFrame
    model_card: dict
    definition: ChurnDefinition | None
    pipeline: Pipeline | None = None
    cutoffs: list[datetime] = field(default_factory=list)
    calibration: pd.DataFrame = field(default_factory=lambda: _empty_calibration())


# Exit touchpoints travel as a list parameter ($exits), never as SQL text.
_EXIT_SQL = "coalesce(list_contains($exits::varchar[], touchpoint), false)"


def resolve_churn_definition(
    con: duckdb.DuckDBPyConnection, settings: ChurnSettings, as_of: datetime | None = None
) -> ChurnDefinition:
    """Fix the inactivity threshold: from settings, or from session gaps when 'auto'."""
    exits = tuple(settings.exit_touchpoints)
    exit_text = f"; exit touchpoints: {', '.join(exits)}" if exits else "; no exit touchpoints"
    if not exits:
        # Stage 'exit' comes from name keywords ('cancel_page' too): it hints, never decides.
        hinted = [
            r[0]
            for r in con.execute(
                "select distinct touchpoint from events where stage = 'exit' order by 1 limit 5"
            ).fetchall()
        ]
        if hinted:
            exit_text += (
                f" configured (touchpoints in stage 'exit': {', '.join(hinted)}; list the ones "
                "that mean leaving in churn.exit_touchpoints to count them as churn)"
            )
    if settings.inactivity_days != "auto":
        days = int(settings.inactivity_days)
        note = f"inactivity threshold {days} days from the configuration{exit_text}"
        return ChurnDefinition(days, exits, settings.horizon_days, "config", note)
    # The gap before a session is its first event's seconds_since_previous (the time since the
    # customer's previous session ended), so no sessions are rebuilt from events: 0.16 s instead
    # of 3.2 s at 10M events. Rounded to the microsecond, the precision of the times it came from.
    row = con.execute(
        """
        select
            quantile_cont(round(seconds_since_previous, 6) / 86400.0, $q),
            count(seconds_since_previous)
        from events
        where is_session_start and ($as_of is null or event_time <= $as_of)
        """,
        {"as_of": as_utc(as_of), "q": AUTO_PERCENTILE},
    ).fetchone()
    pctl, n_gaps = (row[0], int(row[1])) if row else (None, 0)
    if n_gaps < AUTO_MIN_GAPS or pctl is None:
        days = AUTO_FALLBACK_DAYS
        why = (
            f"only {n_gaps} gaps between sessions in the log (need {AUTO_MIN_GAPS}), "
            f"so the default of {days} days is used"
        )
    else:
        days = min(max(math.ceil(pctl), AUTO_MIN_DAYS), AUTO_MAX_DAYS)
        why = (
            f"90% of the {n_gaps:,} gaps between a customer's consecutive sessions are at most "
            f"{pctl:.1f} days; rounded up and kept within {AUTO_MIN_DAYS}..{AUTO_MAX_DAYS} days"
        )
    note = f"inactivity threshold {days} days chosen automatically: {why}{exit_text}"
    return ChurnDefinition(days, exits, settings.horizon_days, "auto", note)


def customer_churn_state(
    con: duckdb.DuckDBPyConnection,
    definition: ChurnDefinition,
    as_of: datetime | None = None,
    customers: str | None = None,
) -> pd.DataFrame:
    """Per customer at as_of (default log end): last_seen_at, is_churned, churned_at, reason.

    customers: a table with a customer_id column; only those customers are looked at.
    """
    t = as_utc(as_of) or log_end(con)
    sql, params = churn_state_query(definition, t, customers)
    df = con.execute(f"{sql} order by customer_id", params).df()
    df["customer_id"] = df["customer_id"].astype(str)
    df["is_churned"] = df["is_churned"].astype(bool)
    return df


def write_churn_state(
    con: duckdb.DuckDBPyConnection, definition: ChurnDefinition, table: str
) -> int:
    """Write customer_churn_state at the log end to `table`, by customer id; returns its rows.

    The same rows as customer_churn_state, without bringing millions of customers into pandas.
    """
    sql, params = churn_state_query(definition, log_end(con))
    con.execute(
        f"create or replace table {quote_ident(table)} as {sql} order by customer_id", params
    )
    return int(con.execute(f"select count(*) from {quote_ident(table)}").fetchone()[0])


def churn_state_query(
    definition: ChurnDefinition, as_of: datetime, customers: str | None = None
) -> tuple[str, dict]:
    """SQL and parameters of customer_churn_state (unordered), to run or embed in a query."""
    # ev is not materialised: both readers scan events again rather than DuckDB buffering every
    # event for them (0.25 s -> 0.18 s at 10M events).
    sql = f"""
    with ev as not materialized (
        select customer_id, event_time, session_id, {_EXIT_SQL} as is_exit
        from events where event_time <= $t{customer_filter(customers)}
    ), c as (
        select customer_id, max(event_time) as last_seen_at,
               max(event_time) filter (where is_exit) as last_exit,
               arg_max(session_id, event_time) filter (where is_exit) as exit_session
        from ev group by customer_id
    ), back as (
        -- events later in the same session as the exit (a survey, a goodbye page) are not a return
        select c.customer_id,
               bool_or(ev.event_time > c.last_exit
                       and ev.session_id is distinct from c.exit_session) as returned
        from c join ev using (customer_id) where c.last_exit is not null
        group by c.customer_id
    ), s as (
        select c.*, c.last_exit is not null and not coalesce(b.returned, false) as exited,
               c.last_seen_at + to_days($d) <= $t as inactive
        from c left join back b using (customer_id)
    )
    select customer_id, last_seen_at, exited or inactive as is_churned,
           case when exited then last_exit when inactive then last_seen_at + to_days($d) end
               as churned_at,
           case when exited then 'exit_touchpoint' when inactive then 'inactivity' end
               as churn_reason
    from s
    """
    params = {
        "t": as_of,
        "d": definition.inactivity_days,
        "exits": list(definition.exit_touchpoints),
    }
    return sql, params


def churn_labels(
    con: duckdb.DuckDBPyConnection,
    definition: ChurnDefinition,
    as_of: datetime,
    states: dict[datetime, str] | None = None,
    customers: str | None = None,
) -> pd.DataFrame:
    """Customers active at as_of; churned = they count as churned at as_of + horizon.

    states: optional cache of churn states by time, as temporary tables (time -> table name),
    filled as they are computed (cutoffs a horizon apart share them: one cutoff's label time is
    the next one's cutoff); it must hold states of the same `customers` (a table with a
    customer_id column; default all), and the caller drops them with drop_states. The states stay
    in DuckDB: at 4M customers each would be about 450 MB of pandas.
    """
    as_of = as_utc(as_of)
    end = as_of + timedelta(days=definition.horizon_days)
    last = log_end(con)
    if last is None or end > last:
        seen = "is empty" if last is None else f"ends {last:%Y-%m-%d}"
        raise ValueError(
            f"labels at {as_of:%Y-%m-%d} need events up to {end:%Y-%m-%d}; the log {seen}"
        )
    own = states is None
    states = {} if states is None else states
    try:
        for t in (as_of, end):
            if t not in states:
                states[t] = _state_table(con, definition, t, customers)
        out = con.execute(
            f"""
            select before.customer_id, after.is_churned as churned, after.churned_at
            from {quote_ident(states[as_of])} as before
            inner join {quote_ident(states[end])} as after using (customer_id)
            where not before.is_churned
            order by before.customer_id
            """
        ).df()
    finally:
        if own:
            drop_states(con, states)
    out["customer_id"] = out["customer_id"].astype(str)
    out["churned"] = out["churned"].astype(bool)
    return out


_STATE_TABLES = itertools.count()


def _state_table(
    con: duckdb.DuckDBPyConnection, definition: ChurnDefinition, t: datetime, customers: str | None
) -> str:
    """A temporary table of the churn state at t (customer_churn_state's rows); its name."""
    name = f"_cjm_churn_state_{next(_STATE_TABLES)}"
    sql, params = churn_state_query(definition, t, customers)
    con.execute(f"create temp table {quote_ident(name)} as {sql}", params)
    return name


def drop_states(con: duckdb.DuckDBPyConnection, states: dict[datetime, str]) -> None:
    """Drop the state tables of a churn_labels cache and empty it."""
    for table in states.values():
        _drop(con, table)
    states.clear()


def _log_start(con: duckdb.DuckDBPyConnection) -> datetime | None:
    row = con.execute("select min(event_time) from events").fetchone()
    return row[0] if row else None


def cutoff_step_days(horizon_days: int) -> int:
    """Days between training cutoffs: weekly, or a quarter horizon for long horizons."""
    return max(7, horizon_days // 4) if horizon_days >= 7 else horizon_days


def training_cutoffs(start: datetime, end: datetime, horizon_days: int, n: int) -> list[datetime]:
    """Up to n cutoffs cutoff_step_days apart: latest at end - horizon, none before start +
    horizon/2.

    Cutoffs closer than a horizon overlap in their label windows: that is fine for training (more
    examples of the same rule) and the forward holdout keeps its training cutoffs a full horizon
    before the holdout cutoff (see _holdout_metrics).
    """
    horizon = timedelta(days=horizon_days)
    step = timedelta(days=cutoff_step_days(horizon_days))
    cutoffs = [end - horizon - step * i for i in range(n)]
    # A cutoff needs a horizon after it (the label) and some history before it (behaviour): half a
    # horizon, so a log of three horizons still gives a training cutoff and a holdout.
    return sorted(c for c in cutoffs if c >= start + horizon / 2)


def make_churn_pipeline(random_state: int) -> Pipeline:
    """Gradient boosting (handles missing values natively) with sigmoid calibration, 3 folds.

    100 rounds at learning rate 0.1 rank as well as 200 at 0.05 on the forward holdout at half the
    fit and predict time (per-round overhead dominates on small logs); above 10,000 rows the
    booster stops early on a validation slice (scikit-learn's early_stopping="auto").
    """
    booster = HistGradientBoostingClassifier(
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        random_state=random_state,
    )
    return Pipeline([("model", CalibratedClassifierCV(booster, method="sigmoid", cv=3))])


def make_recency_baseline() -> Pipeline:
    """Logistic regression on days since last event: what the model must beat."""
    return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())])


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
        feats["bgnbd_p_quiet"] = _p_quiet(
            fitted, summary, feats["customer_id"], timedelta(days=horizon_days)
        )
    return feats


def _training_frame(
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
    frame = feats.merge(labels[["customer_id", "churned"]], on="customer_id", how="inner")
    frame["cutoff"] = cutoff
    return frame


def _bounded(frame: pd.DataFrame, random_state: int, max_rows: int) -> pd.DataFrame:
    """At most max_rows rows of frame in a reproducible random order (a uniform sample when there
    are more).

    Shuffled because the calibration folds are contiguous: rows in cutoff order would give a fold
    that never sees the later cutoffs (and a feature only defined there would be empty in it).
    """
    rng = np.random.default_rng(random_state)
    rows = rng.permutation(len(frame))[:max_rows]
    return frame.iloc[rows].reset_index(drop=True)


def _hash_order(random_state: int) -> str:
    """SQL ordering customers at random, the same for the same random_state on any machine and in
    any row order (md5 of the id, ties by id)."""
    return f"md5_number(customer_id || ':{int(random_state)}'), customer_id"


def _customer_sample(
    con: duckdb.DuckDBPyConnection, name: str, as_of: datetime, n: int | None, random_state: int
) -> str | None:
    """A temporary table `name` of at most n random customers with events at or before as_of;
    None (and no table) when there are not more than n of them."""
    if n is None:
        return None
    seen = con.execute(
        "select count(distinct customer_id) from events where event_time <= $t", {"t": as_of}
    ).fetchone()[0]
    if seen <= n:
        return None
    con.execute(
        f"""
        create or replace temp table {quote_ident(name)} as
        select customer_id from events where event_time <= $t group by customer_id
        order by {_hash_order(random_state)} limit {int(n)}
        """,
        {"t": as_of},
    )
    return name


def _drop(con: duckdb.DuckDBPyConnection, table: str | None) -> None:
    if table is not None:
        con.execute(f"drop table if exists {quote_ident(table)}")


def _training_customers(
    con: duckdb.DuckDBPyConnection,
    cutoffs: list[datetime],
    inactivity_days: int,
    max_rows: int,
    random_state: int,
) -> tuple[str | None, int, int]:
    """The customers whose (customer, cutoff) rows are trained on: all, or (more than max_rows
    possible rows) a random sample in a temporary table. Returns (table or None, sampled, all).

    A customer gives a row at each cutoff they are not churned at. One pass over the events counts
    the cutoffs each customer is not yet inactive at (an event in the inactivity_days before it;
    exits are left out, so this is an upper bound); customers are taken in random order while
    those counts add up to TRAIN_OVERSAMPLE * max_rows, and _bounded then keeps max_rows rows.
    """
    # One filtered max per cutoff: the cutoffs are few (churn.training_cutoffs <= 52).
    active_at = " + ".join(
        f"coalesce(max(event_time) filter (where event_time <= $c{i}) > $c{i} - to_days($d), "
        "false)::integer"
        for i in range(len(cutoffs))
    )
    rows_sql = f"""
        select customer_id, {active_at} as n
        from events where event_time <= $last group by customer_id
    """
    params = {f"c{i}": c for i, c in enumerate(cutoffs)}
    params |= {"last": cutoffs[-1], "d": inactivity_days}
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
                order by {_hash_order(random_state)} rows unbounded preceding
            ) as upto
            from ({rows_sql})
        ) where upto <= $budget
        """,
        params | {"budget": TRAIN_OVERSAMPLE * max_rows},
    )
    sampled = int(con.execute(f"select count(*) from {quote_ident(name)}").fetchall()[0][0])
    if sampled == total:
        _drop(con, name)
        return None, total, total
    return name, sampled, total


def _usable(frame: pd.DataFrame, candidates: list[str]) -> list[str]:
    """Features with at least two distinct values in frame: a column with no values at all (no
    revenue in the log) or only one carries nothing and breaks binning."""
    return [c for c in candidates if frame[c].nunique(dropna=True) >= 2]


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    top = max(1, math.ceil(0.1 * len(p)))
    order = np.argsort(-p, kind="stable")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "precision_at_top10pct": float(y[order[:top]].mean()),
        "brier": float(brier_score_loss(y, p)),
    }


def _metric_rows(note: str, **counts: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"model": m, "note": note, **counts} for m in MODELS]
    return pd.DataFrame(rows).reindex(columns=METRIC_COLUMNS), _empty_calibration()


def _empty_calibration() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CALIBRATION_DTYPES.items()})


def _empty_risk() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "risk_score": pd.Series(dtype=float),
            "risk_tier": pd.Series(dtype=str),
            "reasons": pd.Series(dtype=str),
            "persona_id": pd.Series(dtype="Int64"),
            "last_seen_at": pd.Series(dtype="datetime64[us, UTC]"),
            "scored_at": pd.Series(dtype="datetime64[us, UTC]"),
            "revenue": pd.Series(dtype=float),
            "value_at_risk": pd.Series(dtype=float),
            "last_touchpoint": pd.Series(dtype=str),
            "last_channel": pd.Series(dtype=str),
            "rank": pd.Series(dtype="Int64"),
        }
    )


def _not_trained(
    reason: str, definition: ChurnDefinition | None, cutoffs: list[datetime], scored_at
) -> ChurnResult:
    card = {
        "status": "not_trained",
        "reason": reason,
        "definition": asdict(definition) if definition else None,
        "cutoffs": [c.isoformat() for c in cutoffs],
        "scored_at": scored_at.isoformat() if scored_at is not None else None,
    }
    metrics, calibration = _metric_rows(f"not computed: {reason}")
    card["metrics"] = json.loads(metrics.to_json(orient="records", date_format="iso"))
    return ChurnResult(_empty_risk(), metrics, card, definition, None, cutoffs, calibration)


def _holdout_metrics(
    frames: list[pd.DataFrame],
    cutoffs: list[datetime],
    features: list[str],
    random_state: int,
    horizon: timedelta,
    max_rows: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    hold = frames[-1]
    # Only cutoffs whose labels were fully seen by the holdout cutoff: a strict forward holdout.
    earlier = [f for f, c in zip(frames[:-1], cutoffs, strict=False) if c + horizon <= cutoffs[-1]]
    if not earlier:
        return _metric_rows(
            "not computed: no training cutoff lies a full horizon before the holdout cutoff"
        )
    train = _bounded(pd.concat(earlier, ignore_index=True), random_state, max_rows)
    features = _usable(train, features)
    y_tr, y_ho = train["churned"].to_numpy(int), hold["churned"].to_numpy(int)
    counts = {
        "n_train": len(train),
        "n_holdout": len(hold),
        "positives": int(y_ho.sum()),
        "train_positives": int(y_tr.sum()),
        "holdout_cutoff": cutoffs[-1],
    }
    if min(y_tr.sum(), len(y_tr) - y_tr.sum()) < MIN_CLASS_COUNT:
        return _metric_rows(
            f"not computed: the cutoffs before the holdout have {int(y_tr.sum())} churners and "
            f"{int(len(y_tr) - y_tr.sum())} stayers; need {MIN_CLASS_COUNT} of each",
            **counts,
        )
    if y_ho.min() == y_ho.max():
        return _metric_rows(
            "not computed: every holdout customer has the same label, so ranking cannot be scored",
            **counts,
        )
    model = make_churn_pipeline(random_state).fit(train[features], y_tr)
    base = make_recency_baseline().fit(train[["recency_days"]], y_tr)
    predictions = {
        "churn_model": model.predict_proba(hold[features])[:, 1],
        "recency_baseline": base.predict_proba(hold[["recency_days"]])[:, 1],
        # the holdout frame's BG/NBD feature is this baseline: fitted before the holdout cutoff
        "bgnbd_baseline": hold["bgnbd_p_quiet"].to_numpy(float),
    }
    note = "forward holdout: trained on earlier cutoffs, scored on the latest one"
    rows = [{"model": m, **_scores(y_ho, p)} for m, p in predictions.items()]
    metrics = pd.DataFrame([{**r, **counts, "note": note} for r in rows])
    calibration = pd.concat(
        [calibration_table(m, y_ho, p) for m, p in predictions.items()], ignore_index=True
    )
    return metrics.reindex(columns=METRIC_COLUMNS), calibration


def fit_bgnbd(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    max_customers: int | None = None,
    random_state: int = 0,
) -> BGNBD:
    """BG/NBD fitted on the history before cutoff of all customers, or of max_customers of them
    drawn at random (fixed by random_state): four parameters need far fewer than millions."""
    sample = _customer_sample(con, "_cjm_churn_bgnbd_fit", cutoff, max_customers, random_state)
    try:
        summary = activity_summary(con, cutoff, sample)
    finally:
        _drop(con, sample)
    return BGNBD(penalizer=BGNBD_PENALIZER).fit(summary["x"], summary["t_x"], summary["T"])


def _p_quiet(
    fitted: BGNBD, summary: pd.DataFrame, customers: pd.Series, horizon: timedelta
) -> np.ndarray:
    rows = summary.set_index("customer_id").reindex(customers.astype(str))
    days = horizon.total_seconds() / 86400
    return np.asarray(fitted.p_no_purchase(rows["x"], rows["t_x"], rows["T"], days), dtype=float)


def bgnbd_churn_probability(
    con: duckdb.DuckDBPyConnection,
    cutoff: datetime,
    customers: pd.Series,
    horizon: timedelta,
    max_fit_customers: int | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """The BG/NBD baseline: P(no active day in the horizon after cutoff), fitted on the history
    before the cutoff (of at most max_fit_customers customers; the model needs no labels)."""
    fitted = fit_bgnbd(con, cutoff, max_fit_customers, random_state)
    return _p_quiet(fitted, activity_summary(con, cutoff), customers, horizon)


def calibration_table(model: str, y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability table: predictions in equal-width bins, mean predicted vs observed rate."""
    p = np.asarray(p, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": np.asarray(y, dtype=float)})
    out = frame.groupby("bin").agg(
        mean_predicted=("p", "mean"), observed_rate=("y", "mean"), count=("y", "size")
    )
    out = out.reset_index()
    out.insert(0, "model", model)
    out["bin_low"], out["bin_high"] = out["bin"] / bins, (out["bin"] + 1) / bins
    return out[CALIBRATION_COLUMNS].astype({"bin": "int64", "count": "int64"})


@dataclass(frozen=True)
class ScoringOutput:
    """Where score_churn's scored customers go and what they are restricted to.

    personas: table of customer_id, persona_id; customers: table of the customer ids that may be
    scored (default: every active customer); on_batch: applied to each batch of scored rows
    (pattern reasons); risk_table: the ranked rows are written to this table and not returned, so
    at millions of customers one batch at a time is in memory.
    """

    personas: str | None = None
    customers: str | None = None
    on_batch: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    risk_table: str | None = None


def score_churn(
    con: duckdb.DuckDBPyConnection,
    settings: ChurnSettings,
    random_state: int,
    as_of: datetime | None = None,
    timezone: str = "UTC",
    output: ScoringOutput = ScoringOutput(),
    definition: ChurnDefinition | None = None,
) -> ChurnResult:
    """Train on point-in-time cutoffs, measure on a forward holdout, score active customers.

    definition: the churn definition already resolved from settings at the log end (default:
    resolved here).
    """
    with threadpool_limits(limits=MODEL_THREADS):
        result = _score_churn(con, settings, random_state, as_of, timezone, output, definition)
    if output.risk_table is not None and result.churn_risk is not None:
        write_table(con, output.risk_table, result.churn_risk)
        result = replace(result, churn_risk=None)
    return result


def _score_churn(
    con: duckdb.DuckDBPyConnection,
    settings: ChurnSettings,
    random_state: int,
    as_of: datetime | None,
    timezone: str,
    output: ScoringOutput,
    definition: ChurnDefinition | None,
) -> ChurnResult:
    as_of = as_utc(as_of)
    start, end = _log_start(con), as_of or log_end(con)
    if start is None or end is None:
        return _not_trained("the events table is empty", None, [], None)
    if definition is None:
        definition = resolve_churn_definition(con, settings, end)
    cutoffs = training_cutoffs(start, end, definition.horizon_days, settings.training_cutoffs)
    if not cutoffs:
        span = (end - start).total_seconds() / 86400
        need = 1.5 * definition.horizon_days
        return _not_trained(
            f"the log spans {span:.1f} days; training needs at least {need:g} days (half a "
            f"horizon of history before a cutoff and a full {definition.horizon_days}-day horizon "
            "after it to see who churned)",
            definition,
            [],
            end,
        )
    # Vocabulary as known at the holdout cutoff, so the holdout is scored like a real run would be.
    touchpoints = top_values(con, "touchpoint", cutoffs[-1], MAX_TOUCHPOINTS)
    channels = top_values(con, "channel", cutoffs[-1], MAX_CHANNELS)
    sample, n_sampled, n_customers = _training_customers(
        con, cutoffs, definition.inactivity_days, settings.max_train_rows, random_state
    )
    states: dict[datetime, str] = {}
    try:
        frames = [
            _training_frame(
                con,
                definition,
                c,
                (touchpoints, channels),
                timezone,
                states,
                settings,
                random_state,
                sample,
            )
            for c in cutoffs
        ]
    finally:
        drop_states(con, states)
        _drop(con, sample)
    data = pd.concat(frames, ignore_index=True)
    candidates = [c for c in data.columns if c not in ("customer_id", "churned", "cutoff")]
    features = _usable(data, candidates)
    unused = [c for c in candidates if c not in features]
    y = data["churned"].to_numpy(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < MIN_CLASS_COUNT:
        return _not_trained(
            f"across {len(cutoffs)} cutoff(s) there are {n_pos} customers who churned within "
            f"{definition.horizon_days} days and {n_neg} who stayed; a model needs at least "
            f"{MIN_CLASS_COUNT} of each",
            definition,
            cutoffs,
            end,
        )
    metrics, calibration = _holdout_metrics(
        frames,
        cutoffs,
        features,
        random_state,
        timedelta(days=definition.horizon_days),
        settings.max_train_rows,
    )
    # Metrics come from the model without the holdout; the scoring model also learns from it.
    fit = _bounded(data, random_state, settings.max_train_rows)
    del frames
    pipeline = make_churn_pipeline(random_state).fit(fit[features], fit["churned"].to_numpy(int))
    base_rate = float(y.mean())
    high, medium = min(2 * base_rate, (1 + base_rate) / 2), base_rate
    labels = vocabulary_labels(touchpoints, channels) | last_event_labels(touchpoints)
    scoring = _Scoring(pipeline, features, labels, (high, medium), random_state, output)
    risk, n_scored = _score_active(
        con, scoring, definition, end, (touchpoints, channels), timezone, settings
    )

    if len(fit) < len(data) or sample is not None:
        training_sample = (
            f"uniform random sample of {len(fit):,} of {len(data):,} (customer, cutoff) rows"
            + (
                f" of {n_sampled:,} of {n_customers:,} customers drawn at random"
                if sample is not None
                else ""
            )
            + f" (at most churn.max_train_rows = {settings.max_train_rows:,} rows)"
        )
    else:
        training_sample = "all (customer, cutoff) rows"
    card = {
        "status": "trained",
        "reason": None if n_scored else "no active customers to score at the end of the log",
        "definition": asdict(definition),
        "cutoffs": [c.isoformat() for c in cutoffs],
        "holdout_cutoff": cutoffs[-1].isoformat() if len(cutoffs) > 1 else None,
        "scored_at": end.isoformat(),
        "estimator": "HistGradientBoostingClassifier, sigmoid-calibrated (CalibratedClassifierCV, "
        "3 folds), refit on all cutoffs for scoring; metrics from a fit without the holdout",
        "n_train": len(fit),
        "max_train_rows": settings.max_train_rows,
        "training_customers": n_sampled,
        "training_sample": training_sample,
        "train_positives": n_pos,
        "base_rate": base_rate,
        "tier_thresholds": {
            "high": high,
            "medium": medium,
            "rule": "high: at least twice the base churn rate (capped halfway between it and 1); "
            "medium: at least the base rate; low: below",
        },
        "features": features,
        "features_without_data": unused,
        "feature_descriptions": {f: describe_feature(f, labels) for f in features}
        | churn_feature_descriptions(features, labels),
        "reasons_method": "a cited behaviour (a feature, or related features together), set to the "
        "typical (median) active customer's value, lowers this customer's risk by at least "
        f"{REASON_MIN_EFFECT:.0%} and by at least {REASON_MIN_SHARE:.0%} of it; largest first; "
        f"typical values from up to {REFERENCE_CUSTOMERS:,} customers drawn at random",
        "bgnbd_fit_customers": settings.bgnbd_fit_customers,
        "metrics": json.loads(metrics.to_json(orient="records", date_format="iso")),
        "warnings": _warnings(metrics),
    }
    return ChurnResult(risk, metrics, card, definition, pipeline, cutoffs, calibration)


@dataclass(frozen=True)
class _Scoring:
    """What scoring a batch of customers needs besides their features."""

    pipeline: Pipeline
    features: list[str]
    labels: dict[str, str]
    thresholds: tuple[float, float]
    random_state: int
    output: ScoringOutput


def _scoring_query(
    definition: ChurnDefinition,
    end: datetime,
    vocabulary: tuple[list[str], list[str]],
    timezone: str,
    customers: str | None = None,
    personas: str | None = None,
) -> tuple[str, dict]:
    """Model features, BG/NBD inputs, last contact and persona of the customers active at end,
    by id."""
    touchpoints, channels = vocabulary
    f_sql, f_params = customer_features_query(end, touchpoints, channels, timezone, customers)
    c_sql, c_params = churn_features_query(end, touchpoints, customers)
    a_sql, a_params = activity_summary_query(end, customers)
    s_sql, s_params = churn_state_query(definition, end, customers)
    sql = f"""
    with f as ({f_sql}), cf as ({c_sql}), bg as ({a_sql}), st as ({s_sql}),
    contact as (
        select customer_id,
               arg_max(touchpoint, (event_time, event_index)) as last_touchpoint,
               arg_max(channel, (event_time, event_index)) as last_channel
        from events where event_time <= $as_of{customer_filter(customers)} group by customer_id
    )
    select f.*, cf.* exclude (customer_id),
           bg.x as _bgnbd_x, bg.t_x as _bgnbd_t_x, bg."T" as _bgnbd_T,
           st.last_seen_at, contact.last_touchpoint, contact.last_channel,
           {"p.persona_id" if personas else "null::bigint"} as _persona_id
    from f join st using (customer_id)
    left join cf using (customer_id) left join bg using (customer_id)
    left join contact using (customer_id)
    {f"left join {quote_ident(personas)} p using (customer_id)" if personas else ""}
    where not st.is_churned
    order by customer_id
    """
    return sql, f_params | c_params | a_params | s_params


def _score_active(
    con: duckdb.DuckDBPyConnection,
    scoring: _Scoring,
    definition: ChurnDefinition,
    end: datetime,
    vocabulary: tuple[list[str], list[str]],
    timezone: str,
    settings: ChurnSettings,
) -> tuple[pd.DataFrame | None, int]:
    """Score every customer active at end, settings.score_batch_customers at a time (by id);
    returns the ranked rows (None when they went to the output's risk_table) and their count.

    Each batch is scored on its own, against a reference fixed before the first one (BG/NBD fit,
    typical values, which behaviours are candidate reasons): a customer's score and reasons do not
    depend on the batch size or on the other customers in their batch.
    """
    fitted = fit_bgnbd(con, end, settings.bgnbd_fit_customers, scoring.random_state)
    batch = settings.score_batch_customers
    output = scoring.output
    reference = None
    sample = _customer_sample(
        con, "_cjm_churn_reference", end, REFERENCE_CUSTOMERS, scoring.random_state
    )
    horizon = timedelta(days=definition.horizon_days)
    try:
        if sample is not None or batch < REFERENCE_CUSTOMERS:
            # Not all active customers come in the first batch: the reference is read first.
            sql, params = _scoring_query(definition, end, vocabulary, timezone, sample)
            ref = con.execute(sql, params).df()
            if len(ref):
                X = _model_input(ref, scoring.features, fitted, horizon)
                reference = _reason_reference(
                    scoring.pipeline, X, scoring.labels, scoring.random_state
                )
            del ref
    finally:
        _drop(con, sample)
    # Features only for the customers active at end (and allowed), fixed in a table the query
    # filters on.
    active = "_cjm_churn_active"
    s_sql, s_params = churn_state_query(definition, end)
    allowed = ""
    if output.customers is not None:
        allowed = f" and customer_id in (select customer_id from {quote_ident(output.customers)})"
    con.execute(
        f"create or replace temp table {quote_ident(active)} as "
        f"select customer_id from ({s_sql}) where not is_churned{allowed}",
        s_params,
    )
    # The scored rows collect in a table on a cursor of their own: the batches stream on con.
    store = con.cursor()
    try:
        store.execute(f"create temp table {_SCORED} ({_SCORED_COLUMNS})")
        _score_batches(
            con, store, scoring, definition, end, vocabulary, timezone, settings, fitted, reference
        )
        n_scored = int(store.execute(f"select count(*) from {_SCORED}").fetchone()[0])
        return _ranked(store, output.risk_table), n_scored
    finally:
        store.close()
        _drop(con, active)


_SCORED = "_cjm_churn_scored"
_SCORED_COLUMNS = """
    customer_id varchar, risk_score double, risk_tier varchar, reasons varchar, persona_id bigint,
    last_seen_at timestamptz, scored_at timestamptz, revenue double, value_at_risk double,
    last_touchpoint varchar, last_channel varchar
"""


def _ranked(store: duckdb.DuckDBPyConnection, risk_table: str | None) -> pd.DataFrame | None:
    """The scored rows ranked riskiest first (ties: more revenue, then id): written to risk_table,
    or returned."""
    columns = ", ".join(quote_ident(c) for c in CHURN_RISK_COLUMNS if c != "rank")
    sql = f"""
        select {columns}, row_number() over (
            order by risk_score desc, revenue desc nulls last, customer_id
        ) as rank
        from {_SCORED} order by rank
    """
    if risk_table is not None:
        store.execute(f"create or replace table {quote_ident(risk_table)} as {sql}")
        return None
    risk = store.execute(sql).df()
    if risk.empty:
        return _empty_risk()
    for c in ("last_seen_at", "scored_at"):
        risk[c] = risk[c].dt.tz_convert("UTC")
    return risk.astype({"persona_id": "Int64", "rank": "Int64"})


def _score_batches(
    con: duckdb.DuckDBPyConnection,
    store: duckdb.DuckDBPyConnection,
    scoring: _Scoring,
    definition: ChurnDefinition,
    end: datetime,
    vocabulary: tuple[list[str], list[str]],
    timezone: str,
    settings: ChurnSettings,
    fitted: BGNBD,
    reference: _ReasonReference | None,
) -> None:
    """Score the active customers one batch at a time, streamed in customer order, into the
    scored table on store."""
    horizon = timedelta(days=definition.horizon_days)
    output = scoring.output
    sql, params = _scoring_query(
        definition, end, vocabulary, timezone, "_cjm_churn_active", output.personas
    )
    # The batches stream from a relation, which needs the connection free of unfinished results
    # (a fetchone() leaves one): one statement fetched to the end makes sure.
    con.execute("select 1").fetchall()
    reader = con.sql(sql, params=params).to_arrow_reader(settings.score_batch_customers)
    for chunk in reader:
        current = chunk.to_pandas()
        if current.empty:
            continue
        X = _model_input(current, scoring.features, fitted, horizon)
        if reference is None:
            # the first batch holds every active customer: it is the reference itself
            reference = _reason_reference(scoring.pipeline, X, scoring.labels, scoring.random_state)
        rows = _score_batch(current, X, scoring, reference, end)
        if output.on_batch is not None:
            rows = output.on_batch(rows)
        store.register("_cjm_churn_batch", rows)
        store.execute(f"insert into {_SCORED} by name select * from _cjm_churn_batch")
        store.unregister("_cjm_churn_batch")


def _model_input(
    current: pd.DataFrame, features: list[str], fitted: BGNBD, horizon: timedelta
) -> pd.DataFrame:
    """The model's feature matrix from a scoring query's rows (BG/NBD feature added)."""
    current["customer_id"] = current["customer_id"].astype(str)
    days = horizon.total_seconds() / 86400
    x, t_x, T = (current[c].to_numpy(float) for c in ("_bgnbd_x", "_bgnbd_t_x", "_bgnbd_T"))
    current["bgnbd_p_quiet"] = np.asarray(fitted.p_no_purchase(x, t_x, T, days), dtype=float)
    return current[features].astype(float)


def _score_batch(
    current: pd.DataFrame,
    X: pd.DataFrame,
    scoring: _Scoring,
    reference: _ReasonReference,
    end: datetime,
) -> pd.DataFrame:
    """Risk rows (without rank) of one batch of active customers."""
    high, medium = scoring.thresholds
    p = scoring.pipeline.predict_proba(X)[:, 1]
    risk = pd.DataFrame(
        {
            "customer_id": current["customer_id"].to_numpy(),
            "risk_score": p,
            "risk_tier": np.where(p >= high, "high", np.where(p >= medium, "medium", "low")),
            "reasons": _reasons(
                scoring.pipeline, X, scoring.labels, scoring.random_state, p, reference
            ),
            "last_seen_at": current["last_seen_at"].to_numpy(),
            "scored_at": pd.Timestamp(end),
            "revenue": current["monetary"].to_numpy(float).round(2),
        }
    )
    risk["persona_id"] = pd.array(current["_persona_id"].to_numpy(float), dtype="Int64")
    # Revenue so far weighted by the risk: what the retention team stands to lose.
    risk["value_at_risk"] = (risk["risk_score"] * risk["revenue"]).round(2)
    risk["last_touchpoint"] = current["last_touchpoint"].to_numpy()
    risk["last_channel"] = current["last_channel"].to_numpy()
    return risk


def add_pattern_reasons(risk: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """Cite a significant churn pattern in a customer's last events among their reasons.

    It goes first when the customer had no model reason, else it takes the last of the
    MAX_REASONS slots if all are used: a known precursor sequence is the most concrete thing a
    retention agent can ask about.
    """
    if matches.empty or risk.empty:
        return risk
    found = matches.drop_duplicates("customer_id").set_index("customer_id")
    out = risk.copy()
    hit = out["customer_id"].isin(found.index).to_numpy()
    if not hit.any():
        return out
    rows = found.loc[out.loc[hit, "customer_id"]]
    steps = rows["pattern"].astype(str).str.replace(" ... ", ", later ", regex=False)
    lifts = rows["lift"].astype(float).map(lambda x: f"{x:.1f}")
    cited = ("followed " + steps + " (churn lift " + lifts + ")").to_numpy(dtype=object)
    texts = out["reasons"].to_numpy(dtype=object).copy()
    for i, (reasons, text) in enumerate(zip(texts[hit], cited, strict=True)):
        parts = [] if reasons == _NOTHING_STANDS_OUT else reasons.split("; ")
        cited[i] = "; ".join(parts[: MAX_REASONS - 1] + [text])
    texts[hit] = cited
    out["reasons"] = texts.tolist()
    return out


def _warnings(metrics: pd.DataFrame) -> list[str]:
    """Plain-words cautions a reader of the risk list should see before acting on it."""
    m = metrics.set_index("model")
    model, base = m.loc["churn_model"], m.loc["recency_baseline"]
    if pd.isna(model["roc_auc"]):
        return [f"holdout metrics {model['note']}; scores are unvalidated"]
    out = []
    if model["roc_auc"] < 0.6:
        out.append(
            f"the model ranks holdout customers little better than chance (ROC AUC "
            f"{model['roc_auc']:.2f}); treat scores with caution"
        )
    if model["roc_auc"] < base["roc_auc"]:
        out.append(
            f"days since last visit alone ranks better (ROC AUC {base['roc_auc']:.2f} vs "
            f"{model['roc_auc']:.2f})"
        )
    if min(model["positives"], model["n_holdout"] - model["positives"]) < 30:
        out.append(
            f"the holdout is small ({int(model['n_holdout'])} customers, "
            f"{int(model['positives'])} churned): metrics are rough"
        )
    return out


def _num(x: float) -> str:
    if pd.isna(x):
        return "n/a"
    if abs(x) >= 10 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.0f}%"


_STAGE_NAMES = {0: "none", **{r: s for s, r in STAGE_RANKS.items()}}
_NOTHING_STANDS_OUT = "no single behaviour stands out from the typical customer"
# Columns a reason's wording may quote besides its own family's (see _reason_text).
_REASON_CONTEXT = (
    "mean_days_between_sessions",
    "events_last_30d",
    "events_prev_30d",
    "event_count",
    "tenure_days",
    "sessions_usual_14d",
)
# New churn features explained together with the behaviour they measure.
_REASON_GROUPS = {
    "recency_days": "recency",
    "bgnbd_p_quiet": "recency",
    "events_last_7d": "recency",
    "recency_ratio": "recency",
    "recency_vs_longest_gap": "recency",
    "longest_gap_days": "recency",
    "activity_trend": "activity",
    "events_last_30d": "activity",
    "events_prev_30d": "activity",
    "sessions_last_14d": "sessions14",
    "sessions_usual_14d": "sessions14",
    "session_rate_ratio_14d": "sessions14",
    "negative_events_30d": "mood",
    "sentiment_last_30d": "mood",
    "sentiment_change": "mood",
}

# Reason wording for fixed features: (template with {v} customer value and {t} typical, formatter).
_REASON_FORMATS: dict[str, tuple[str, object]] = {
    "frequency": ("{v} sessions so far (typical customer: {t})", _num),
    "event_count": ("{v} events so far (typical customer: {t})", _num),
    "tenure_days": ("customer for {v} days (typical customer: {t})", _num),
    "monetary": ("revenue so far {v} (typical customer: {t})", _num),
    "events_per_session": ("{v} events per session (typical customer: {t})", _num),
    "mean_session_seconds": ("sessions last {v} seconds on average (typical customer: {t})", _num),
    "sessions_per_week": ("{v} sessions a week (typical customer: {t})", _num),
    "mean_days_between_sessions": ("a session every {v} days (typical customer: {t})", _num),
    "days_between_last_sessions": (
        "{v} days between the last two sessions (typical customer: {t})",
        _num,
    ),
    "events_last_7d": ("{v} events in the last 7 days (typical customer: {t})", _num),
    "events_last_30d": ("{v} events in the last 30 days (typical customer: {t})", _num),
    "events_prev_30d": ("{v} events 31-60 days ago (typical customer: {t})", _num),
    "weekend_share": ("{v} of events at weekends (typical customer: {t})", _pct),
    "night_share": ("{v} of events at night, 22:00-06:00 (typical customer: {t})", _pct),
    "same_touchpoint_share": ("{v} of steps repeat a touchpoint (typical customer: {t})", _pct),
    "retention_loop_share": ("{v} of steps stay in retention (typical customer: {t})", _pct),
    "mean_sentiment": ("average sentiment {v} (typical customer: {t})", lambda x: f"{x:+.2f}"),
    "exit_stage_events_30d": (
        "{v} exit-stage events (cancel, unsubscribe ...) in the last 30 days "
        "(typical customer: {t})",
        _num,
    ),
}


def _reason_families(columns: list[str], labels: dict[str, str]) -> dict[str, list[str]]:
    """Features that move together are explained together, else each hides the other's effect."""
    families: dict[str, list[str]] = {}
    grouped = _REASON_GROUPS
    for c in columns:
        if c.startswith((RECENT_TOUCHPOINT_PREFIX, TOUCHPOINT_PREFIX, LAST_EVENTS_PREFIX)):
            key = "touchpoint:" + labels.get(c, c)
        else:
            key = grouped.get(c, c)
        families.setdefault(key, []).append(c)
    return families


def _compare(template: str, v: str, t: str) -> str | None:
    # Values that print the same are no reason, whatever the model's split points say.
    if v == t:
        return None
    text = template.format(v=v, t=t)
    return re.sub(r"(?<![\d.,])1 ((?:[\w-]+ )?)(session|event|day)s\b", r"1 \1\2", text)


def _reason_text(
    key: str, members: list[str], row: dict, typical: pd.Series, labels: dict[str, str]
) -> str | None:
    """One reason in plain words with the customer's and the typical value; None if no contrast."""
    if key == "recency" and "recency_days" in members:
        v, t = row["recency_days"], typical["recency_days"]
        if not v > t:  # only a long absence is a reason
            return None
        usual = row.get("mean_days_between_sessions")
        if usual is not None and not pd.isna(usual):
            return _compare("no visit for {v} days, usually every {t}", _num(v), _num(usual))
        return _compare("no visit for {v} days (typical customer: {t})", _num(v), _num(t))
    if key == "days_between_last_sessions":
        v, usual = row["days_between_last_sessions"], row.get("mean_days_between_sessions")
        if usual is not None and not pd.isna(usual) and not pd.isna(v):
            template = "{v} days between their last two sessions, usually {t}"
            return _compare(template, _num(v), _num(usual))
    if key == "activity" and {"events_last_30d", "events_prev_30d"} <= set(row):
        last, prev = row["events_last_30d"], row["events_prev_30d"]
        direction = "down" if last < prev else "up" if last > prev else "flat"
        template = f"activity {direction}: {{v}} events in the last 30 days, {{t}} in the 30 before"
        return _compare(template, _num(last), _num(prev))
    if key == "sessions14" and "sessions_last_14d" in row:
        usual = row.get("sessions_usual_14d")
        if usual is None or pd.isna(usual):
            return None
        return _compare(
            "{v} sessions in the last 14 days (usual: {t})",
            _num(row["sessions_last_14d"]),
            _num(usual),
        )
    if key == "mood":
        n, s = row.get("negative_events_30d"), row.get("sentiment_last_30d")
        if n is not None and not pd.isna(n) and n > typical.get("negative_events_30d", 0):
            return _compare(
                "{v} negative-sentiment events in the last 30 days (typical customer: {t})",
                _num(n),
                _num(typical["negative_events_30d"]),
            )
        if s is not None and not pd.isna(s) and "sentiment_last_30d" in typical:
            return _compare(
                "average sentiment {v} in the last 30 days (typical customer: {t})",
                f"{s:+.2f}",
                f"{typical['sentiment_last_30d']:+.2f}",
            )
        return None
    if key.startswith("touchpoint:"):
        name = key.split(":", 1)[1]
        recent = [c for c in members if c.startswith(RECENT_TOUCHPOINT_PREFIX)]
        share = [c for c in members if c.startswith(TOUCHPOINT_PREFIX)]
        if recent and (not share or row[recent[0]] != typical[recent[0]]):
            c = recent[0]
            usual = _usual_per_30d(row, share[0] if share else None, row[c])
            if usual is not None:
                template = f"{{v}} {name} in the last 30 days (usual: {{t}})"
                return _compare(template, _num(row[c]), _num(usual))
            template = f"{{v}} {name} in the last 30 days (typical customer: {{t}})"
            return _compare(template, _num(row[c]), _num(typical[c]))
        last = [c for c in members if c.startswith(LAST_EVENTS_PREFIX)]
        if last and not share:
            template = f"{{v}} {name} among their last 5 events (typical customer: {{t}})"
            return _compare(template, _num(row[last[0]]), _num(typical[last[0]]))
        if not share:
            return None
        c = share[0]
        template = f"{name} is {{v}} of their events (typical customer: {{t}})"
        return _compare(template, _pct(row[c]), _pct(typical[c]))
    f = members[0]
    v, t = row[f], typical[f]
    if f.startswith(CHANNEL_PREFIX):
        template = f"{{v}} of their events via {labels.get(f, f)} (typical customer: {{t}})"
        return _compare(template, _pct(v), _pct(t))
    if f == "is_converted":
        return "has never converted" if v < 0.5 else "has converted (most customers have not)"
    if f == "sentiment_missing":
        return "no sentiment recorded" if v > 0.5 else "has sentiment recorded (most have none)"
    if f == "furthest_stage_rank":
        template = "furthest stage reached: {v} (typical customer: {t})"
        return _compare(
            template, _STAGE_NAMES.get(int(v), _num(v)), _STAGE_NAMES.get(int(t), _num(t))
        )
    if f in _REASON_FORMATS:
        template, fmt = _REASON_FORMATS[f]
        return _compare(template, fmt(v), fmt(t))
    return _compare(
        f"{describe_feature(f, labels)}: {{v}} (typical customer: {{t}})", _num(v), _num(t)
    )


def _usual_per_30d(row: dict, share_column: str | None, recent: float) -> float | None:
    """The customer's own count of a touchpoint per 30 days before the last 30 days."""
    if share_column is None or not {"event_count", "tenure_days"} <= set(row):
        return None
    earlier_days = row["tenure_days"] - 30
    if pd.isna(earlier_days) or earlier_days < 14:
        return None  # too new to have a usual
    earlier = max(row[share_column] * row["event_count"] - recent, 0)
    return round(earlier * 30 / earlier_days, 1)


def _what_if(
    pipeline: Pipeline,
    X: pd.DataFrame,
    families: list[list[str]],
    typical: pd.Series,
    base: np.ndarray,
) -> np.ndarray:
    """Risk drop per row (rows x families) when a family of features is set to typical values."""
    effects = np.zeros((len(X), len(families)))
    values = X.to_numpy(dtype=float)
    where = {c: i for i, c in enumerate(X.columns)}
    moves = [
        ([where[c] for c in members], typical[members].to_numpy(dtype=float))
        for members in families
    ]
    # One predict call per chunk of stacked copies: per-call overhead dominates small predictions.
    step = max(1, REASON_BATCH_ROWS // max(1, len(families)))
    for lo in range(0, len(X), step):
        chunk = values[lo : lo + step]
        copies, changed = [], []
        for idx, typical_values in moves:
            # A row already at the typical values predicts its own risk: its effect is exactly 0,
            # so only the rows that move are predicted (often most rows do not).
            rows = np.flatnonzero((chunk[:, idx] != typical_values).any(axis=1))
            moved = chunk[rows]
            moved[:, idx] = typical_values
            copies.append(moved)
            changed.append(rows)
        if not sum(len(rows) for rows in changed):
            continue
        p = pipeline.predict_proba(pd.DataFrame(np.concatenate(copies), columns=X.columns))[:, 1]
        at = 0
        for j, rows in enumerate(changed):
            effects[lo + rows, j] = base[lo + rows] - p[at : at + len(rows)]
            at += len(rows)
    return effects


@dataclass(frozen=True)
class _ReasonReference:
    """The typical active customer and the candidate reasons, fixed once for every batch."""

    typical: pd.Series
    usable: list[str]
    families: dict[str, list[str]]
    keys: list[str]
    q25: pd.Series
    q75: pd.Series


def _reason_reference(
    pipeline: Pipeline, X: pd.DataFrame, labels: dict[str, str], random_state: int
) -> _ReasonReference:
    """Typical values (medians), quartiles and the REASON_CANDIDATES families that move the risk
    most, from the reference customers X (rows in customer order)."""
    typical = X.median()
    usable = [c for c in X.columns if not pd.isna(typical[c])]
    families = _reason_families(usable, labels)
    keys = list(families)
    if len(keys) > REASON_CANDIDATES:
        # Rank families on a bounded sample so the full pass stays REASON_CANDIDATES wide.
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(len(X), size=min(len(X), REASON_SAMPLE), replace=False))
        rows = X.iloc[sample]
        base = pipeline.predict_proba(rows)[:, 1]
        sampled = _what_if(pipeline, rows, [families[k] for k in keys], typical, base)
        strength = np.abs(sampled).mean(axis=0)
        top = np.argsort(-strength, kind="stable")[:REASON_CANDIDATES]
        keys = [keys[j] for j in top]
    values = X[usable]
    q25, q75 = values.quantile(0.25), values.quantile(0.75)
    return _ReasonReference(typical, usable, families, keys, q25, q75)


def _reasons(
    pipeline: Pipeline,
    X: pd.DataFrame,
    labels: dict[str, str],
    random_state: int,
    base: np.ndarray | None = None,
    reference: _ReasonReference | None = None,
) -> list[str]:
    """Up to MAX_REASONS plain-words reasons per row: what-if a behaviour were typical.

    base: the rows' risk scores when already computed (pipeline.predict_proba(X)[:, 1]);
    reference: typical values and candidate reasons (default: from X itself).
    """
    if reference is None:
        reference = _reason_reference(pipeline, X, labels, random_state)
    typical, usable, families, keys = (
        reference.typical,
        reference.usable,
        reference.families,
        reference.keys,
    )
    if base is None:
        base = pipeline.predict_proba(X)[:, 1]
    effects = _what_if(pipeline, X, [families[k] for k in keys], typical, base)
    # Only cite a behaviour where the customer really differs: some member outside the middle
    # half of active customers (or off the typical value when that half is a single value). Trees
    # react to tiny differences near split points, which would make "2.1 vs 2.0" reasons.
    values = X[usable]
    q25, q75 = reference.q25, reference.q75
    unusual = (values < q25) | (values > q75) | ((q25 == q75) & (values != typical[usable]))
    for j, k in enumerate(keys):
        effects[~unusual[families[k]].any(axis=1).to_numpy(), j] = -np.inf
    # Small effects relative to the customer's own risk are noise, not reasons; but a customer with
    # no effect above the floor (risk spread thinly over many behaviours) still gets the unusual
    # behaviour that lowers the risk most when typical, rather than no reason at all.
    floor = np.maximum(REASON_MIN_EFFECT, REASON_MIN_SHARE * base)
    eligible = effects >= floor[:, None]
    thin = np.flatnonzero(~eligible.any(axis=1))
    if len(thin) and effects.shape[1]:
        best = effects[thin].argmax(axis=1)
        eligible[thin, best] = effects[thin, best] > 0
    # Texts per family, only where the family is eligible; customers share most values (counts,
    # stages), so each distinct combination is worded once.
    texts = np.full(effects.shape, None, dtype=object)
    context = [c for c in _REASON_CONTEXT if c in X.columns]
    for j, k in enumerate(keys):
        rows = np.flatnonzero(eligible[:, j])
        if not len(rows):
            continue
        needed = list(dict.fromkeys(families[k] + context))
        combos = np.ascontiguousarray(X[needed].to_numpy(dtype=float)[rows])
        # exact values, NaN included: distinct byte patterns of the rows
        keyed = combos.view(np.dtype((np.void, combos.dtype.itemsize * combos.shape[1])))
        _, first, inverse = np.unique(keyed.ravel(), return_index=True, return_inverse=True)
        worded = np.empty(len(first), dtype=object)
        for u, i in enumerate(first):
            row = dict(zip(needed, combos[i].tolist(), strict=True))
            worded[u] = _reason_text(k, families[k], row, typical, labels) or None
        texts[rows, j] = worded[inverse.ravel()]
    # Largest effect first (ties: family order), keep the first MAX_REASONS with words.
    order = np.argsort(-effects, axis=1, kind="stable")
    ranked = np.take_along_axis(texts, order, axis=1)
    out = np.full(len(X), "", dtype=object)
    taken = np.zeros(len(X), dtype=int)
    for col in ranked.T:
        use = np.not_equal(col, None) & (taken < MAX_REASONS)
        out[use] = out[use] + np.where(taken[use] > 0, "; ", "").astype(object) + col[use]
        taken[use] += 1
    out[taken == 0] = _NOTHING_STANDS_OUT
    return out.tolist()

"""The churn model and its baselines: factories, training frames, forward-holdout metrics."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

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
from cjm.churn.probabilistic import HorizonProbability, fit_bgnbd, p_quiet
from cjm.config import ChurnSettings
from cjm.db import quote_ident
from cjm.features import (
    as_utc,
    customer_features,
    log_end,
)

# Fewer examples of either class than this and a calibrated model (3-fold) is not meaningful.
MIN_CLASS_COUNT = 10
# The baselines' inputs: always among the scored features, so either baseline can be chosen.
BASELINE_INPUTS = ("recency_days", "bgnbd_p_quiet")
# churn_risk.score_source when BG/NBD extrapolated to the horizon scores everyone (no labels).
PROBABILISTIC_SOURCE = "bgnbd_horizon"
# The gate: a ranking gets risk tiers only when its forward-holdout ROC AUC is at least this and
# the lower end of its 95% bootstrap interval is above chance (0.5).
TRUSTED_AUC = 0.6
# ... and only when the holdout has at least this many customers of each outcome: with fewer the
# AUC and its interval rest on a handful of customers (helpdesk: 10 tickets not closed of 4,580).
SMALL_HOLDOUT = 30
AUC_CI_RESAMPLES, AUC_CI_ROWS = 200, 20_000

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


METRIC_COLUMNS = [
    "model",
    "roc_auc",
    "roc_auc_low",
    "roc_auc_high",
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
    calibration: pd.DataFrame = field(default_factory=lambda: empty_calibration())
    scorer: object | None = None  # the fitted estimator the published scores came from


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
    select = ColumnTransformer([("recency", "passthrough", ["recency_days"])])
    return Pipeline(
        [("select", select), ("scale", StandardScaler()), ("model", LogisticRegression())]
    )


def make_bgnbd_baseline() -> HorizonProbability:
    """BG/NBD's own P(no active day in the horizon), fitted on the history before each cutoff.

    Used as it is, not recalibrated: on short histories the early cutoffs' fits can rank backwards
    (on the bundled sample the pooled training cutoffs ranked at ROC AUC 0.46 while the holdout's
    ranked at 0.83), and a calibration fitted on them turned the holdout upside down.
    """
    return HorizonProbability("bgnbd_p_quiet")


def make_scorer(name: str, random_state: int) -> Pipeline:
    """A fresh estimator for one of MODELS (the names metrics and churn_risk.score_source use)."""
    factories = {
        "churn_model": lambda: make_churn_pipeline(random_state),
        "recency_baseline": make_recency_baseline,
        "bgnbd_baseline": make_bgnbd_baseline,
    }
    return factories[name]()


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
    inactivity_days: int,
    max_rows: int,
    random_state: int,
) -> tuple[str | None, int, int]:
    """The customers whose (customer, cutoff) rows are trained on: all, or (more than max_rows
    possible rows) a random sample in a temporary table. Returns (table or None, sampled, all).

    A customer gives a row at each cutoff they have been seen by (active, lapsed or exited: every
    customer is scored). One pass over the events counts those cutoffs; customers are taken in
    random order while the counts add up to TRAIN_OVERSAMPLE * max_rows, and bounded_sample then
    keeps max_rows rows. inactivity_days is kept for callers; the count no longer depends on it.
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


def holdout_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    top = max(1, math.ceil(0.1 * len(p)))
    order = np.argsort(-p, kind="stable")
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "precision_at_top10pct": float(y[order[:top]].mean()),
        "brier": float(brier_score_loss(y, p)),
    }


def metric_rows(note: str, **counts: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"model": m, "note": note, **counts} for m in MODELS]
    return pd.DataFrame(rows).reindex(columns=METRIC_COLUMNS), empty_calibration()


def empty_calibration() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in CALIBRATION_DTYPES.items()})


def empty_risk() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "customer_state": pd.Series(dtype=str),
            "risk_score": pd.Series(dtype=float),
            "risk_tier": pd.Series(dtype=str),
            "reasons": pd.Series(dtype=str),
            "persona_id": pd.Series(dtype="Int64"),
            "last_seen_at": pd.Series(dtype="datetime64[us, UTC]"),
            "scored_at": pd.Series(dtype="datetime64[us, UTC]"),
            "score_source": pd.Series(dtype=str),
            "revenue": pd.Series(dtype=float),
            "value_at_risk": pd.Series(dtype=float),
            "last_touchpoint": pd.Series(dtype=str),
            "last_channel": pd.Series(dtype=str),
            "rank": pd.Series(dtype="Int64"),
        }
    )


def not_trained(
    reason: str, definition: ChurnDefinition | None, cutoffs: list[datetime], scored_at
) -> ChurnResult:
    card = {
        "status": "not_trained",
        "reason": reason,
        "definition": asdict(definition) if definition else None,
        "cutoffs": [c.isoformat() for c in cutoffs],
        "scored_at": scored_at.isoformat() if scored_at is not None else None,
    }
    metrics, calibration = metric_rows(f"not computed: {reason}")
    card["metrics"] = json.loads(metrics.to_json(orient="records", date_format="iso"))
    return ChurnResult(empty_risk(), metrics, card, definition, None, cutoffs, calibration)


def holdout_metrics(
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
        return metric_rows(
            "not computed: no training cutoff lies a full horizon before the holdout cutoff"
        )
    train = bounded_sample(pd.concat(earlier, ignore_index=True), random_state, max_rows)
    features = usable_features(train, features)
    y_tr, y_ho = train["churned"].to_numpy(int), hold["churned"].to_numpy(int)
    counts = {
        "n_train": len(train),
        "n_holdout": len(hold),
        "positives": int(y_ho.sum()),
        "train_positives": int(y_tr.sum()),
        "holdout_cutoff": cutoffs[-1],
    }
    if min(y_tr.sum(), len(y_tr) - y_tr.sum()) < MIN_CLASS_COUNT:
        return metric_rows(
            f"not computed: the cutoffs before the holdout have {int(y_tr.sum())} churners and "
            f"{int(len(y_tr) - y_tr.sum())} stayers; need {MIN_CLASS_COUNT} of each",
            **counts,
        )
    if y_ho.min() == y_ho.max():
        return metric_rows(
            "not computed: every holdout customer has the same label, so ranking cannot be scored",
            **counts,
        )
    predictions = {}
    for name in MODELS:
        # The baselines read their own column from the whole frame; BG/NBD's was fitted on the
        # history before each cutoff, so the holdout's is a forward prediction too.
        columns = features if name == "churn_model" else list(train.columns)
        fitted = make_scorer(name, random_state).fit(train[columns], y_tr)
        predictions[name] = fitted.predict_proba(hold[columns])[:, 1]
    note = "forward holdout: trained on earlier cutoffs, scored on the latest one"
    intervals = auc_intervals(y_ho, predictions, random_state)
    rows = [{"model": m, **holdout_scores(y_ho, p), **intervals[m]} for m, p in predictions.items()]
    metrics = pd.DataFrame([{**r, **counts, "note": note} for r in rows])
    calibration = pd.concat(
        [calibration_table(m, y_ho, p) for m, p in predictions.items()], ignore_index=True
    )
    return metrics.reindex(columns=METRIC_COLUMNS), calibration


def auc_intervals(
    y: np.ndarray, predictions: dict[str, np.ndarray], random_state: int
) -> dict[str, dict[str, float]]:
    """95% bootstrap interval of each model's ROC AUC on the holdout (customers resampled; the same
    resamples for every model, so the intervals compare like with like)."""
    rng = np.random.default_rng(random_state)
    n = len(y)
    rows = np.arange(n) if n <= AUC_CI_ROWS else rng.choice(n, AUC_CI_ROWS, replace=False)
    draws: dict[str, list[float]] = {m: [] for m in predictions}
    for _ in range(AUC_CI_RESAMPLES):
        pick = rows[rng.integers(0, len(rows), len(rows))]
        if y[pick].min() == y[pick].max():
            continue
        for m, p in predictions.items():
            draws[m].append(roc_auc_score(y[pick], p[pick]))
    out = {}
    for m, values in draws.items():
        low, high = np.percentile(values, [2.5, 97.5]) if values else (np.nan, np.nan)
        out[m] = {"roc_auc_low": float(low), "roc_auc_high": float(high)}
    return out


@dataclass(frozen=True)
class Choice:
    """Which scorer the published scores come from, whether its ranking is trusted, and why."""

    source: str
    trusted: bool
    note: str


def choose_scorer(metrics: pd.DataFrame) -> Choice:
    """The gate before anything is published as risk (thresholds in the constants above)."""
    m = metrics.set_index("model")
    if m["roc_auc"].isna().all():
        note = str(m["note"].iloc[0])
        return Choice("bgnbd_baseline", False, f"holdout {note}; scores are unvalidated")
    baselines = m.loc[[b for b in MODELS if b != "churn_model"]]
    best = str(baselines["roc_auc"].idxmax())
    model_auc, best_auc = m.loc["churn_model", "roc_auc"], m.loc[best, "roc_auc"]
    source = "churn_model" if model_auc > best_auc else best
    auc, low = m.loc[source, "roc_auc"], m.loc[source, "roc_auc_low"]
    why = (
        f"the model beats the best baseline ({best}) on the forward holdout: ROC AUC "
        f"{model_auc:.3f} against {best_auc:.3f}"
        if source == "churn_model"
        else f"the model does not beat {best} on the forward holdout (ROC AUC {model_auc:.3f} "
        f"against {best_auc:.3f}), so the scores come from {best}"
    )
    row = m.loc[source]
    fewest = int(min(row["positives"], row["n_holdout"] - row["positives"]))
    trusted = bool(auc >= TRUSTED_AUC and low > 0.5 and fewest >= SMALL_HOLDOUT)
    if fewest < SMALL_HOLDOUT:
        why += (
            f"; the holdout has only {fewest} customers of one outcome ({int(row['n_holdout'])} "
            f"customers, {int(row['positives'])} went quiet): too few to trust any ranking, so "
            "no tiers are given"
        )
    elif not trusted:
        why += (
            f"; its holdout ROC AUC is {auc:.2f} (95% interval {low:.2f}-"
            f"{m.loc[source, 'roc_auc_high']:.2f}): below {TRUSTED_AUC} or not clearly better "
            "than chance, so no tiers are given; use the ranking with caution"
        )
    return Choice(source, trusted, why)


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

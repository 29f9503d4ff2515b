"""Train on the log's cutoffs and score customers in batches (score_churn)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cjm.churn.bgnbd import BGNBD, activity_summary_query
from cjm.churn.definition import (
    ChurnDefinition,
    churn_state_query,
    customer_sample,
    drop_states,
    drop_table,
    log_start,
    resolve_churn_definition,
    training_cutoffs,
)
from cjm.churn.features import (
    churn_feature_descriptions,
    churn_features_query,
    last_event_labels,
)
from cjm.churn.model import (
    MIN_CLASS_COUNT,
    MODEL_THREADS,
    REFERENCE_CUSTOMERS,
    ChurnResult,
    bounded_sample,
    empty_risk,
    holdout_metrics,
    make_churn_pipeline,
    not_trained,
    training_customers,
    training_frame,
    usable_features,
)
from cjm.churn.probabilistic import fit_bgnbd
from cjm.churn.reasons import (
    REASON_MIN_EFFECT,
    REASON_MIN_SHARE,
    ReasonReference,
    list_warnings,
    reason_reference,
    reasons_for,
)
from cjm.config import ChurnSettings
from cjm.db import quote_ident, write_table
from cjm.features import (
    MAX_CHANNELS,
    MAX_TOUCHPOINTS,
    as_utc,
    customer_features_query,
    customer_filter,
    describe_feature,
    log_end,
    top_values,
    vocabulary_labels,
)

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
    start, end = log_start(con), as_of or log_end(con)
    if start is None or end is None:
        return not_trained("the events table is empty", None, [], None)
    if definition is None:
        definition = resolve_churn_definition(con, settings, end)
    cutoffs = training_cutoffs(start, end, definition.horizon_days, settings.training_cutoffs)
    if not cutoffs:
        span = (end - start).total_seconds() / 86400
        need = 1.5 * definition.horizon_days
        return not_trained(
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
    sample, n_sampled, n_customers = training_customers(
        con, cutoffs, definition.inactivity_days, settings.max_train_rows, random_state
    )
    states: dict[datetime, str] = {}
    try:
        frames = [
            training_frame(
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
        drop_table(con, sample)
    data = pd.concat(frames, ignore_index=True)
    candidates = [c for c in data.columns if c not in ("customer_id", "churned", "cutoff")]
    features = usable_features(data, candidates)
    unused = [c for c in candidates if c not in features]
    y = data["churned"].to_numpy(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < MIN_CLASS_COUNT:
        return not_trained(
            f"across {len(cutoffs)} cutoff(s) there are {n_pos} customers who churned within "
            f"{definition.horizon_days} days and {n_neg} who stayed; a model needs at least "
            f"{MIN_CLASS_COUNT} of each",
            definition,
            cutoffs,
            end,
        )
    metrics, calibration = holdout_metrics(
        frames,
        cutoffs,
        features,
        random_state,
        timedelta(days=definition.horizon_days),
        settings.max_train_rows,
    )
    # Metrics come from the model without the holdout; the scoring model also learns from it.
    fit = bounded_sample(data, random_state, settings.max_train_rows)
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
        "warnings": list_warnings(metrics),
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
    sample = customer_sample(
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
                reference = reason_reference(
                    scoring.pipeline, X, scoring.labels, scoring.random_state
                )
            del ref
    finally:
        drop_table(con, sample)
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
        drop_table(con, active)


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
        return empty_risk()
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
    reference: ReasonReference | None,
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
            reference = reason_reference(scoring.pipeline, X, scoring.labels, scoring.random_state)
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
    reference: ReasonReference,
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
            "reasons": reasons_for(
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

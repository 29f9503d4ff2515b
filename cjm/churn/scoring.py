"""Train on the log's cutoffs and score customers in batches (score_churn)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cjm.churn.bgnbd import BGNBD, activity_summary_query
from cjm.churn.card import model_card, probabilistic_card
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
    churn_features_query,
    last_event_labels,
)
from cjm.churn.model import (
    BASELINE_INPUTS,
    MIN_CLASS_COUNT,
    MODEL_THREADS,
    PROBABILISTIC_SOURCE,
    REFERENCE_CUSTOMERS,
    ChurnResult,
    bounded_sample,
    choose_scorer,
    empty_risk,
    holdout_metrics,
    make_scorer,
    metric_rows,
    not_trained,
    training_customers,
    training_frame,
    usable_features,
)
from cjm.churn.probabilistic import HorizonProbability, fit_bgnbd
from cjm.churn.reasons import (
    ReasonReference,
    reason_reference,
    reasons_for,
    with_exit_reason,
)
from cjm.config import ChurnSettings
from cjm.db import quote_ident, write_table
from cjm.features import (
    MAX_CHANNELS,
    MAX_TOUCHPOINTS,
    as_utc,
    customer_features_query,
    customer_filter,
    log_end,
    top_values,
    vocabulary_labels,
)

CHURN_RISK_COLUMNS = [
    "customer_id",
    "customer_state",
    "risk_score",
    "risk_tier",
    "reasons",
    "persona_id",
    "last_seen_at",
    "scored_at",
    "score_source",
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
    # Vocabulary as known at the holdout cutoff, so the holdout is scored like a real run would be.
    known_at = cutoffs[-1] if cutoffs else end
    vocabulary = (
        top_values(con, "touchpoint", known_at, MAX_TOUCHPOINTS),
        top_values(con, "channel", known_at, MAX_CHANNELS),
    )
    labels = vocabulary_labels(*vocabulary) | last_event_labels(vocabulary[0])
    run = _Run(con, definition, end, vocabulary, labels, timezone, settings, random_state, output)
    if not cutoffs:
        span = (end - start).total_seconds() / 86400
        need = 1.5 * definition.horizon_days
        return _score_probabilistic(
            run,
            f"the log spans {span:.1f} days; labels for a {definition.horizon_days}-day horizon "
            f"need at least {need:g} days (half a horizon of history before a cutoff and the "
            "whole horizon after it)",
        )
    sample, n_sampled, n_customers = training_customers(
        con, cutoffs, definition.inactivity_days, settings.max_train_rows, random_state
    )
    states: dict[datetime, str] = {}
    try:
        frames = [
            training_frame(
                con, definition, c, vocabulary, timezone, states, settings, random_state, sample
            )
            for c in cutoffs
        ]
    finally:
        drop_states(con, states)
        drop_table(con, sample)
    data = pd.concat(frames, ignore_index=True)
    candidates = [c for c in data.columns if c not in ("customer_id", "churned", "cutoff")]
    features = usable_features(data, candidates)
    # The baselines' own inputs are always scored, so any of the three can be chosen.
    features += [c for c in BASELINE_INPUTS if c not in features]
    unused = [c for c in candidates if c not in features]
    y = data["churned"].to_numpy(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if min(n_pos, n_neg) < MIN_CLASS_COUNT:
        return _score_probabilistic(
            run,
            f"across {len(cutoffs)} cutoff(s) {n_pos} customers went quiet within "
            f"{definition.horizon_days} days and {n_neg} did not; a supervised model needs at "
            f"least {MIN_CLASS_COUNT} of each",
        )
    metrics, calibration = holdout_metrics(
        frames,
        cutoffs,
        features,
        random_state,
        timedelta(days=definition.horizon_days),
        settings.max_train_rows,
    )
    choice = choose_scorer(metrics)
    # Metrics come from fits without the holdout; the scoring fit also learns from it.
    fit = bounded_sample(data, random_state, settings.max_train_rows)
    del frames
    scorer = make_scorer(choice.source, random_state).fit(
        fit[features], fit["churned"].to_numpy(int)
    )
    # Tiers are relative to how often active customers go quiet: lapsed customers mostly do.
    active = (data["recency_days"] < definition.inactivity_days) & (data["is_exited"] == 0)
    base_rate = float(y[active.to_numpy()].mean()) if active.any() else float(y.mean())
    thresholds = (min(2 * base_rate, (1 + base_rate) / 2), base_rate) if choice.trusted else None
    scoring = _Scoring(scorer, features, labels, thresholds, random_state, output, choice.source)
    risk, n_scored = _score_customers(run, scoring)
    card = model_card(
        definition,
        cutoffs,
        end,
        settings,
        choice,
        metrics,
        training={
            "n_train": len(fit),
            "n_rows": len(data),
            "training_customers": n_sampled,
            "all_customers": n_customers,
            "sampled": sample is not None,
            "train_positives": n_pos,
            "base_rate": base_rate,
            "thresholds": thresholds,
        },
        features=(features, unused, labels),
    )
    card["reason"] = None if n_scored else "no identified customers to score"
    pipeline = scorer if choice.source == "churn_model" else None
    return ChurnResult(risk, metrics, card, definition, pipeline, cutoffs, calibration, scorer)


@dataclass(frozen=True)
class _Run:
    """What every scoring path of one score_churn call shares."""

    con: duckdb.DuckDBPyConnection
    definition: ChurnDefinition
    end: datetime
    vocabulary: tuple[list[str], list[str]]
    labels: dict[str, str]
    timezone: str
    settings: ChurnSettings
    random_state: int
    output: ScoringOutput


def _score_probabilistic(run: _Run, why: str) -> ChurnResult:
    """Every customer scored by BG/NBD extrapolated to the horizon, when no labels can judge it."""
    # The probabilistic score needs its inputs, and recency words its reasons.
    features = ["bgnbd_p_quiet", "recency_days", "mean_days_between_sessions"]
    scorer = HorizonProbability("bgnbd_p_quiet").fit(pd.DataFrame(columns=features))
    scoring = _Scoring(
        scorer, features, run.labels, None, run.random_state, run.output, PROBABILISTIC_SOURCE
    )
    risk, n_scored = _score_customers(run, scoring)
    card = probabilistic_card(run.definition, run.end, run.settings, why)
    card["reason"] = None if n_scored else "no identified customers to score"
    metrics, calibration = metric_rows(f"not computed: {why}")
    card["metrics"] = json.loads(metrics.to_json(orient="records", date_format="iso"))
    return ChurnResult(risk, metrics, card, run.definition, None, [], calibration, scorer)


@dataclass(frozen=True)
class _Scoring:
    """What scoring a batch of customers needs besides their features.

    thresholds: (high, medium) risk for the tiers, or None when the ranking is not trusted (every
    tier is then 'none'); source: the scorer's name in churn_risk.score_source.
    """

    pipeline: object
    features: list[str]
    labels: dict[str, str]
    thresholds: tuple[float, float] | None
    random_state: int
    output: ScoringOutput
    source: str


def _scoring_query(
    run: _Run, customers: str | None = None, personas: str | None = None, only_active=False
) -> tuple[str, dict]:
    """Model features, BG/NBD inputs, state, last contact and persona of the customers seen by
    the end of the log (only the active ones with only_active), by id."""
    touchpoints, channels = run.vocabulary
    end = run.end
    f_sql, f_params = customer_features_query(end, touchpoints, channels, run.timezone, customers)
    c_sql, c_params = churn_features_query(end, touchpoints, customers)
    a_sql, a_params = activity_summary_query(end, customers)
    s_sql, s_params = churn_state_query(run.definition, end, customers)
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
           (st.churn_reason is not distinct from 'exit_touchpoint')::double as is_exited,
           case when st.churn_reason = 'exit_touchpoint' then 'exited'
                when st.is_churned then 'lapsed' else 'active' end as customer_state,
           st.last_seen_at, contact.last_touchpoint, contact.last_channel,
           {"p.persona_id" if personas else "null::bigint"} as _persona_id
    from f join st using (customer_id)
    left join cf using (customer_id) left join bg using (customer_id)
    left join contact using (customer_id)
    {f"left join {quote_ident(personas)} p using (customer_id)" if personas else ""}
    {"where not st.is_churned" if only_active else ""}
    order by customer_id
    """
    return sql, f_params | c_params | a_params | s_params


def _score_customers(run: _Run, scoring: _Scoring) -> tuple[pd.DataFrame | None, int]:
    """Score every customer seen by the end of the log (active, lapsed or exited; only the
    output's allowed customers), settings.score_batch_customers at a time (by id); returns the
    ranked rows (None when they went to the output's risk_table) and their count.

    Each batch is scored on its own, against a reference fixed before the first one (BG/NBD fit,
    typical values of active customers, which behaviours are candidate reasons): a customer's
    score and reasons do not depend on the batch size or on the other customers in their batch.
    """
    con, settings, output = run.con, run.settings, scoring.output
    fitted = fit_bgnbd(con, run.end, settings.bgnbd_fit_customers, run.random_state)
    horizon = timedelta(days=run.definition.horizon_days)
    sample = customer_sample(
        con, "_cjm_churn_reference", run.end, REFERENCE_CUSTOMERS, run.random_state
    )
    try:
        # "Typical" is the typical active customer; a log with none compares with everyone.
        for only_active in (True, False):
            ref = con.execute(*_scoring_query(run, sample, only_active=only_active)).df()
            if len(ref):
                break
        X = _model_input(ref, scoring.features, fitted, horizon)
        reference = reason_reference(scoring.pipeline, X, scoring.labels, run.random_state)
        del ref
    finally:
        drop_table(con, sample)
    chosen = "_cjm_churn_customers"
    allowed = ""
    if output.customers is not None:
        allowed = f" where customer_id in (select customer_id from {quote_ident(output.customers)})"
    con.execute(
        f"create or replace temp table {chosen} as select distinct customer_id from events{allowed}"
    )
    # The scored rows collect in a table on a cursor of their own: the batches stream on con.
    store = con.cursor()
    try:
        store.execute(f"create temp table {_SCORED} ({_SCORED_COLUMNS})")
        sql, params = _scoring_query(run, chosen, output.personas)
        # The batches stream from a relation, which needs the connection free of unfinished
        # results (a fetchone() leaves one): one statement fetched to the end makes sure.
        con.execute("select 1").fetchall()
        reader = con.sql(sql, params=params).to_arrow_reader(settings.score_batch_customers)
        for chunk in reader:
            current = chunk.to_pandas()
            if current.empty:
                continue
            X = _model_input(current, scoring.features, fitted, horizon)
            rows = _score_batch(current, X, scoring, reference, run.end)
            if output.on_batch is not None:
                rows = output.on_batch(rows)
            store.register("_cjm_churn_batch", rows)
            store.execute(f"insert into {_SCORED} by name select * from _cjm_churn_batch")
            store.unregister("_cjm_churn_batch")
        n_scored = int(store.execute(f"select count(*) from {_SCORED}").fetchone()[0])
        return _ranked(store, output.risk_table), n_scored
    finally:
        store.close()
        drop_table(con, chosen)


_SCORED = "_cjm_churn_scored"
_SCORED_COLUMNS = """
    customer_id varchar, customer_state varchar, risk_score double, risk_tier varchar,
    reasons varchar, persona_id bigint, last_seen_at timestamptz, scored_at timestamptz,
    score_source varchar, revenue double, value_at_risk double, last_touchpoint varchar,
    last_channel varchar
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
    """Risk rows (without rank) of one batch of customers."""
    p = scoring.pipeline.predict_proba(X)[:, 1]
    texts = reasons_for(scoring.pipeline, X, scoring.labels, scoring.random_state, p, reference)
    exited = current["customer_state"].to_numpy() == "exited"
    if scoring.thresholds is None:
        tier = np.full(len(p), "none", dtype=object)
    else:
        high, medium = scoring.thresholds
        tier = np.where(p >= high, "high", np.where(p >= medium, "medium", "low"))
    risk = pd.DataFrame(
        {
            "customer_id": current["customer_id"].to_numpy(),
            "customer_state": current["customer_state"].to_numpy(),
            "risk_score": p,
            "risk_tier": tier,
            "reasons": with_exit_reason(texts, exited),
            "last_seen_at": current["last_seen_at"].to_numpy(),
            "scored_at": pd.Timestamp(end),
            "score_source": scoring.source,
            "revenue": current["monetary"].to_numpy(float).round(2),
        }
    )
    risk["persona_id"] = pd.array(current["_persona_id"].to_numpy(float), dtype="Int64")
    # Revenue so far weighted by the risk: what the retention team stands to lose.
    risk["value_at_risk"] = (risk["risk_score"] * risk["revenue"]).round(2)
    risk["last_touchpoint"] = current["last_touchpoint"].to_numpy()
    risk["last_channel"] = current["last_channel"].to_numpy()
    return risk

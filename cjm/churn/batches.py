"""Scoring every customer in batches streamed from DuckDB, with reasons, into churn_risk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from cjm.churn.bgnbd import BGNBD
from cjm.churn.definition import (
    ChurnDefinition,
    customer_sample,
    drop_table,
    state_variables,
)
from cjm.churn.features import churn_features_sql, churn_features_variables
from cjm.churn.model import (
    REFERENCE_CUSTOMERS,
    empty_risk,
)
from cjm.churn.probabilistic import fit_bgnbd
from cjm.churn.queries import analytics_sql, composed, scope_variables, set_variables
from cjm.churn.reasons import (
    NOTHING_STANDS_OUT,
    REASONS_NOT_COMPUTED,
    ReasonReference,
    reason_reference,
    reasons_for,
    with_exit_reason,
)
from cjm.churn.wording import in_entity_words
from cjm.config_sections import ChurnSettings
from cjm.db import quote_ident
from cjm.personas.features import customer_features_query

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
    entity: str = "customer"  # the noun reasons compare with ("typical ticket")


@dataclass(frozen=True)
class ScoringRun:
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


@dataclass(frozen=True)
class Scorer:
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
    run: ScoringRun, customers: str, personas: str | None = None
) -> tuple[str, dict]:
    """sql/analytics/churn_scoring.sql over the customers in the table `customers` seen by the
    end of the log, by id, and its parameters (it sets the DuckDB variables it reads)."""
    touchpoints, channels = run.vocabulary
    end = run.end
    f_sql, f_params = customer_features_query(end, touchpoints, channels, run.timezone, customers)
    set_variables(
        run.con,
        churn_features_variables(end, touchpoints)
        | state_variables(run.definition, end)
        | scope_variables(customers),
    )
    parts = {
        "customer_features": f_sql,
        "churn_features": churn_features_sql(touchpoints),
        "activity_summary": analytics_sql("churn_activity_summary"),
        "churn_state": analytics_sql("churn_state"),
        # A run without personas joins an empty table: every persona_id is null.
        "customer_personas": (
            "select customer_id, persona_id from " + quote_ident(personas)
            if personas
            else "select null::varchar as customer_id, null::bigint as persona_id limit 0"
        ),
    }
    sql = composed(analytics_sql("churn_scoring"), parts, customers)
    return f"{sql} order by customer_id", f_params


@dataclass(frozen=True)
class ScoredCounts:
    """How many customers were scored, how many of them got no reason, and how many had none
    computed (below the riskiest churn.max_reason_customers)."""

    scored: int
    without_reason: int
    reasons_not_computed: int = 0
    max_reason_customers: int | None = None

    def card(self) -> dict:
        """The model card's entries: the counts and the share with no reason."""
        share = self.without_reason / self.scored if self.scored else None
        return {
            "reason": None if self.scored else "no identified customers to score",
            "customers_scored": self.scored,
            "share_without_reason": share,
            "max_reason_customers": self.max_reason_customers,
            "reasons_not_computed": self.reasons_not_computed,
        }

    def warning(self) -> str | None:
        """The list's caution when the bound cut reasons, else None."""
        if not self.reasons_not_computed:
            return None
        return (
            f"reasons computed for the {self.scored - self.reasons_not_computed:,} riskiest of "
            f"{self.scored:,} customers (churn.max_reason_customers = "
            f"{self.max_reason_customers:,}); the other {self.reasons_not_computed:,} read "
            f"'{REASONS_NOT_COMPUTED}'"
        )


def score_customers(run: ScoringRun, scoring: Scorer) -> tuple[pd.DataFrame | None, ScoredCounts]:
    """Score every customer seen by the end of the log (active, lapsed or exited; only the
    output's allowed customers), settings.score_batch_customers at a time (by id); returns the
    ranked rows (None when they went to the output's risk_table) and their count.

    Each batch is scored on its own, against a reference fixed before the first one (BG/NBD fit,
    typical values of active customers, which behaviours are candidate reasons): a customer's
    score and reasons do not depend on the batch size or on the other customers in their batch.
    """
    con, settings = run.con, run.settings
    fitted = fit_bgnbd(con, run.end, settings.bgnbd_fit_customers, run.random_state)
    reference, risks = _reference(run, scoring, fitted)
    chosen = "_cjm_churn_customers"
    allowed = scoring.output.customers
    set_variables(con, scope_variables(allowed))
    sql = composed(analytics_sql("churn_scored_customers"), customers=allowed)
    con.execute(f"create or replace temp table {chosen} as {sql}")
    try:
        n_chosen = int(con.execute(f"select count(*) from {chosen}").fetchone()[0])
        reference = replace(
            reference, min_risk=reason_threshold(risks, n_chosen, settings.max_reason_customers)
        )
        return _score_batches(run, scoring, fitted, reference, chosen)
    finally:
        drop_table(con, chosen)


def _reference(
    run: ScoringRun, scoring: Scorer, fitted: BGNBD
) -> tuple[ReasonReference, np.ndarray]:
    """The reasons' reference (typical active customer, candidate reasons) and the risks, both
    from a random sample of REFERENCE_CUSTOMERS customers."""
    con, horizon = run.con, timedelta(days=run.definition.horizon_days)
    batch = run.settings.score_batch_customers
    sample = customer_sample(
        con, "_cjm_churn_reference", run.end, REFERENCE_CUSTOMERS, run.random_state
    )
    try:
        ref = pd.concat(list(_query_batches(run, sample, None, batch)), ignore_index=True)
        X = _model_input(ref, scoring.features, fitted, horizon)
        # "Typical" is the typical active customer; a log with none compares with everyone.
        active = (ref["customer_state"] == "active").to_numpy()
        typical = X[active].reset_index(drop=True) if active.any() else X
        reference = reason_reference(scoring.pipeline, typical, scoring.labels, run.random_state)
        risks = scoring.pipeline.predict_proba(X)[:, 1] if len(X) else np.zeros(0)
    finally:
        drop_table(con, sample)
    return reference, risks


def _score_batches(
    run: ScoringRun, scoring: Scorer, fitted: BGNBD, reference: ReasonReference, chosen: str
) -> tuple[pd.DataFrame | None, ScoredCounts]:
    """Score the customers of the table `chosen` batch by batch into a table; rank them."""
    output, horizon = scoring.output, timedelta(days=run.definition.horizon_days)
    # The scored rows collect in a table on a cursor of their own: the batches stream on con.
    store = run.con.cursor()
    try:
        store.execute(f"create temp table {_SCORED} ({_SCORED_COLUMNS})")
        batches = _query_batches(run, chosen, output.personas, run.settings.score_batch_customers)
        for current in batches:
            if current.empty:
                continue
            X = _model_input(current, scoring.features, fitted, horizon)
            rows = _score_batch(current, X, scoring, reference, run.end)
            if output.on_batch is not None:
                rows = output.on_batch(rows)
            # After the pattern reasons, which read the default wording.
            rows["reasons"] = in_entity_words(rows["reasons"].tolist(), output.entity)
            store.register("_cjm_churn_batch", rows)
            store.execute(f"insert into {_SCORED} by name select * from _cjm_churn_batch")
            store.unregister("_cjm_churn_batch")
        counts = store.execute(
            f"select count(*), count(*) filter (where reasons = $none), "
            f"count(*) filter (where not reasons_computed) from {_SCORED}",
            {"none": in_entity_words([NOTHING_STANDS_OUT], output.entity)[0]},
        ).fetchone()
        scored = ScoredCounts(
            int(counts[0]), int(counts[1]), int(counts[2]), run.settings.max_reason_customers
        )
        return _ranked(store, output.risk_table), scored
    finally:
        store.close()


def _query_batches(
    run: ScoringRun, customers: str | None, personas: str | None, batch_customers: int
) -> Iterator[pd.DataFrame]:
    """The scoring query's rows of the customers in the table `customers` (None: every customer
    seen by the end), batch_customers of them at a time in id order.

    Each batch is its own query on that batch's events: DuckDB's aggregates then hold one batch,
    where one query over every customer held all of them at once (its memory grew with the log).
    """
    con = run.con
    numbered, ids = "_cjm_churn_batch_numbers", "_cjm_churn_batch_ids"
    source = (
        "(select distinct customer_id from events where event_time <= $as_of)"
        if customers is None
        else quote_ident(customers)
    )
    con.execute(
        f"create or replace temp table {numbered} as select customer_id, "
        f"(row_number() over (order by customer_id) - 1) // $n as batch from {source}",
        {"n": batch_customers} | ({"as_of": run.end} if customers is None else {}),
    )
    try:
        n_batches = con.execute(f"select coalesce(max(batch) + 1, 0) from {numbered}").fetchall()
        for b in range(int(n_batches[0][0])):
            con.execute(
                f"create or replace temp table {ids} as "
                f"select customer_id from {numbered} where batch = $b",
                {"b": b},
            )
            sql, params = _scoring_query(run, ids, personas)
            yield con.sql(sql, params=params).to_arrow_table().to_pandas()
    finally:
        drop_table(con, ids)
        drop_table(con, numbered)


_SCORED = "_cjm_churn_scored"


_SCORED_COLUMNS = """
    customer_id varchar, customer_state varchar, risk_score double, risk_tier varchar,
    reasons varchar, persona_id bigint, last_seen_at timestamptz, scored_at timestamptz,
    score_source varchar, revenue double, value_at_risk double, last_touchpoint varchar,
    last_channel varchar, reasons_computed boolean
"""


def _ranked(store: duckdb.DuckDBPyConnection, risk_table: str | None) -> pd.DataFrame | None:
    """The scored rows ranked riskiest first (ties: more revenue, then id): written to risk_table,
    or returned."""
    sql = f"select * from (\n{analytics_sql('churn_risk')}\n) order by rank"
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
    scoring: Scorer,
    reference: ReasonReference,
    end: datetime,
) -> pd.DataFrame:
    """Risk rows (without rank) of one batch of customers."""
    p = scoring.pipeline.predict_proba(X)[:, 1]
    # Reasons (a dozen what-if predictions per customer) for the riskiest customers only, when
    # the list is longer than churn.max_reason_customers.
    computed = p >= reference.min_risk
    texts = np.full(len(p), REASONS_NOT_COMPUTED, dtype=object)
    if computed.any():
        rows = np.flatnonzero(computed)
        X_rows = X if computed.all() else X.iloc[rows]
        texts[rows] = reasons_for(
            scoring.pipeline, X_rows, scoring.labels, scoring.random_state, p[rows], reference
        )
    texts = texts.tolist()
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
    risk["reasons_computed"] = computed
    return risk


def reason_threshold(risks: np.ndarray, customers: int, max_customers: int | None) -> float:
    """The lowest risk that gets reasons: -inf when every customer does (no more than
    max_customers of them); else the risk above which max_customers of them are expected, from
    the risks of a random sample of them (risks)."""
    if max_customers is None or customers <= max_customers or not len(risks):
        return -np.inf
    return float(np.quantile(risks, 1 - max_customers / customers, method="higher"))

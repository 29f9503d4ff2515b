"""Train on the log's cutoffs and score customers in batches (score_churn)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cjm.churn.batches import ScoredCounts, Scorer, ScoringOutput, ScoringRun, score_customers
from cjm.churn.card import Training, model_card, probabilistic_card
from cjm.churn.definition import (
    ChurnDefinition,
    drop_states,
    drop_table,
    log_start,
    resolve_churn_definition,
    training_cutoffs,
)
from cjm.churn.features import (
    last_event_labels,
)
from cjm.churn.holdout import choose_scorer, holdout_metrics, metric_rows, not_trained
from cjm.churn.model import (
    BASELINE_INPUTS,
    LEARNED,
    MIN_CLASS_COUNT,
    MODEL_THREADS,
    PROBABILISTIC_SOURCE,
    ChurnResult,
    make_scorer,
)
from cjm.churn.probabilistic import HorizonProbability
from cjm.churn.training import (
    bounded_sample,
    training_customers,
    training_frame,
    usable_features,
)
from cjm.config_sections import ChurnSettings
from cjm.db import write_table
from cjm.personas.features import (
    MAX_CHANNELS,
    MAX_TOUCHPOINTS,
    as_utc,
    log_end,
    top_values,
    vocabulary_labels,
)


def score_churn(
    con: duckdb.DuckDBPyConnection,
    settings: ChurnSettings,
    random_state: int,
    as_of: datetime | None = None,
    timezone: str = "UTC",
    output: ScoringOutput | None = None,
    definition: ChurnDefinition | None = None,
) -> ChurnResult:
    """Train on point-in-time cutoffs, measure on a forward holdout, score active customers.

    definition: the churn definition already resolved from settings at the log end (default:
    resolved here).
    """
    output = output or ScoringOutput()
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
    run = ScoringRun(
        con, definition, end, vocabulary, labels, timezone, settings, random_state, output
    )
    if not cutoffs:
        span = (end - start).total_seconds() / 86400
        need = 1.5 * definition.horizon_days
        return _score_probabilistic(
            run,
            f"the log spans {span:.1f} days; labels for a {definition.horizon_days}-day horizon "
            f"need at least {need:g} days (half a horizon of history before a cutoff and the "
            "whole horizon after it)",
        )
    return _score_learned(run, cutoffs)


def _score_learned(run: ScoringRun, cutoffs: list[datetime]) -> ChurnResult:
    """Train on the cutoffs' labelled rows, choose the scorer on the forward holdout and score
    every customer with it; BG/NBD alone when either class is too rare to learn from."""
    definition, settings, random_state = run.definition, run.settings, run.random_state
    frames, sample, n_sampled, n_customers = training_frames(
        run.con, definition, cutoffs, run.vocabulary, run.timezone, settings, random_state
    )
    data = pd.concat(frames, ignore_index=True)
    features, unused = model_inputs(data)
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
    base_rate, thresholds = _risk_tiers(data, y, definition, choice.trusted)
    scoring = Scorer(
        scorer, features, run.labels, thresholds, random_state, run.output, choice.source
    )
    risk, counts = score_customers(run, scoring)
    training = Training(
        n_train=len(fit),
        n_rows=len(data),
        training_customers=n_sampled,
        all_customers=n_customers,
        sampled=sample,
        train_positives=n_pos,
        base_rate=base_rate,
        thresholds=thresholds,
    )
    card = model_card(
        definition,
        cutoffs,
        run.end,
        settings,
        choice,
        metrics,
        training,
        (features, unused, run.labels),
    )
    pipeline = scorer if choice.source in LEARNED else None
    card = _with_counts(card, counts)
    return ChurnResult(risk, metrics, card, definition, pipeline, cutoffs, calibration, scorer)


def _risk_tiers(
    data: pd.DataFrame, y: np.ndarray, definition: ChurnDefinition, trusted: bool
) -> tuple[float, tuple[float, float] | None]:
    """(base rate, (high, medium) tier thresholds or None when the ranking is not trusted)."""
    # Tiers are relative to how often active customers go quiet: lapsed customers mostly do.
    active = (data["recency_days"] < definition.inactivity_days) & (data["is_exited"] == 0)
    base_rate = float(y[active.to_numpy()].mean()) if active.any() else float(y.mean())
    thresholds = (min(2 * base_rate, (1 + base_rate) / 2), base_rate) if trusted else None
    return base_rate, thresholds


def _with_counts(card: dict, counts: ScoredCounts) -> dict:
    """The model card with the scored counts and their warning."""
    card |= counts.card()
    if counts.warning():
        card["warnings"] = [*card.get("warnings", []), counts.warning()]
    return card


def training_frames(
    con: duckdb.DuckDBPyConnection,
    definition: ChurnDefinition,
    cutoffs: list[datetime],
    vocabulary: tuple[list[str], list[str]],
    timezone: str,
    settings: ChurnSettings,
    random_state: int,
) -> tuple[list[pd.DataFrame], bool, int, int]:
    """The labelled rows at each cutoff, of all customers or of a sample (training_customers):
    (frames, whether sampled, customers drawn, customers seen by the last cutoff)."""
    sample, n_sampled, n_customers = training_customers(
        con, cutoffs, settings.max_train_rows, random_state
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
    return frames, sample is not None, n_sampled, n_customers


def model_inputs(data: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(features the model uses, candidate features without data) of the training rows."""
    candidates = [c for c in data.columns if c not in ("customer_id", "churned", "cutoff")]
    features = usable_features(data, candidates)
    # The baselines' own inputs are always scored, so any of the three can be chosen.
    features += [c for c in BASELINE_INPUTS if c not in features]
    return features, [c for c in candidates if c not in features]


def _score_probabilistic(run: ScoringRun, why: str) -> ChurnResult:
    """Every customer scored by BG/NBD extrapolated to the horizon, when no labels can judge it."""
    # The probabilistic score needs its inputs, and recency words its reasons.
    features = ["bgnbd_p_quiet", "recency_days", "mean_days_between_sessions"]
    scorer = HorizonProbability("bgnbd_p_quiet").fit(pd.DataFrame(columns=features))
    scoring = Scorer(
        scorer, features, run.labels, None, run.random_state, run.output, PROBABILISTIC_SOURCE
    )
    risk, counts = score_customers(run, scoring)
    card = _with_counts(probabilistic_card(run.definition, run.end, run.settings, why), counts)
    metrics, calibration = metric_rows(f"not computed: {why}")
    card["metrics"] = json.loads(metrics.to_json(orient="records", date_format="iso"))
    return ChurnResult(risk, metrics, card, run.definition, None, [], calibration, scorer)

"""Touchpoint roles: pain point, moment of truth, point of delight or neutral, with the reason.

Role (the first rule that matches wins). Thresholds: minimum reach m = max(5, 1% of customers).
A touchpoint below m is neutral. Lifts count only when the untouched group also has m customers
and at least m customers have each outcome (with ~100% conversion, lifts and removal effects only
mirror reach); sentiment counts over at least 10 rated events. Every role needs evidence: an
adjusted lift (cjm.journeys.lifts) beyond its threshold whose confidence interval excludes 1, or a
mean sentiment beyond its threshold whose interval excludes 0.
1. pain_point: adjusted churn or failure lift >= 1.5; adjusted conversion or success lift
   <= 0.67; or mean sentiment <= -0.3. A high share of events that end a session is not evidence
   on its own (in a process log it is staff pausing work); role_reason mentions it.
2. moment_of_truth: one of the 3 highest removal effects (cjm.journeys.removal) and >= 0.2, among
   touchpoints whose adjusted conversion lift is >= 1.2 with its interval above 1 (the memoryless
   chain also credits touchpoints that merely sit on long journeys of active customers).
3. point_of_delight: adjusted conversion or success lift >= 1.5; adjusted churn or failure lift
   <= 0.67; or mean sentiment >= 0.3.
4. neutral. Without any outcome to compare (no conversion, churn, success or failure contrast
   and no rated touchpoint) every role is neutral and role_reason says that roles need outcomes.
Pain comes first: a touchpoint that hurts needs fixing even when it matters or also delights.
Conversion touchpoints (events.is_conversion) are the outcome itself, so their conversion lift,
removal effect and drop-off never give a role (churn lift and sentiment still do); likewise the
configured outcome touchpoints for success and failure. role_reason states the numbers that gave
the role.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import pandas as pd

MIN_REACH, MIN_REACH_SHARE = 5, 0.01
HIGH_LIFT, LOW_LIFT = 1.5, 0.67
SENTIMENT_LOW, SENTIMENT_HIGH, MIN_SENTIMENT_COUNT = -0.3, 0.3, 10
# Every touchpoint ends some sessions; only a clear excess over the log's own rate is a pain.
DROP_OFF_MIN, DROP_OFF_RATIO = 0.5, 1.5
MOMENT_MIN_EFFECT, MOMENT_TOP = 0.2, 3
# A moment of truth's customers must also convert clearly more than similar customers without it.
MOMENT_MIN_LIFT = 1.2
NEED_OUTCOMES = "roles need outcomes"
OUTCOME_VERBS = (
    ("conversion", "converted"),
    ("churn", "churned"),
    ("success", "succeeded"),
    ("failure", "failed"),
)

Signal = tuple[pd.Series, Callable[[pd.Series], str]]


@dataclass(frozen=True)
class _Evidence:
    """What the rules may use: which touchpoints have the reach, which outcomes separate them."""

    min_reach: float
    eligible: pd.Series  # reach at least the minimum
    rated: pd.Series  # eligible, with enough rated events
    usable: dict[str, bool]  # outcome -> enough customers on each side
    compared: dict[str, pd.Series]  # outcome -> touchpoints whose lift may give a role


def _evidence(
    out: pd.DataFrame,
    customers: int,
    outcome_counts: Mapping[str, tuple[int, int]],
    outcome_touchpoints: frozenset[str],
) -> _Evidence:
    min_reach = max(MIN_REACH, MIN_REACH_SHARE * customers)
    eligible = out["reach"] >= min_reach
    # A lift against a handful of untouched customers is noise, so both groups need the reach.
    contrast = eligible & (customers - out["reach"] >= min_reach)
    rated = eligible & (out["sentiment_count"] >= MIN_SENTIMENT_COUNT)
    # When (nearly) every customer has an outcome, or none does, it tells touchpoints apart by
    # nothing but their reach.
    usable = {name: min(yes_no) >= min_reach for name, yes_no in outcome_counts.items()}
    is_outcome = out["touchpoint"].isin(outcome_touchpoints)
    compared = {
        "conversion": contrast & ~out["is_conversion"],
        "churn": contrast,
        "success": contrast & ~is_outcome,
        "failure": contrast & ~is_outcome,
    }
    return _Evidence(min_reach, eligible, rated, usable, compared)


def lift_text(name: str, row: pd.Series, entity_plural: str) -> str:
    """The words of one adjusted lift (and the plain rates, where the row has them)."""
    text = (
        f"{name} lift {row[name + '_lift_adjusted']:.2f} (95% CI {row[name + '_lift_low']:.2f}-"
        f"{row[name + '_lift_high']:.2f}) against {entity_plural} of similar activity"
    )
    if name + "_rate_with" in row:
        text += (
            f"; rate {row[name + '_rate_with']:.2f} with it vs "
            f"{row[name + '_rate_without']:.2f} without"
        )
    return text


def _sentiment_text(r: pd.Series) -> str:
    return (
        f"mean sentiment {r.mean_sentiment:.2f} (95% CI {r.sentiment_low:.2f} to "
        f"{r.sentiment_high:.2f}) over {r.sentiment_count} events"
    )


def _signals(out: pd.DataFrame, evidence: _Evidence, entity_plural: str) -> dict[str, list[Signal]]:
    """role -> (which touchpoints show it, how to say so) for pain points and points of delight."""

    def lift(name: str, high: bool) -> pd.Series:
        if not evidence.usable.get(name, False):
            return pd.Series(False, index=out.index)
        adjusted = out[f"{name}_lift_adjusted"]
        compared = evidence.compared[name]
        if high:  # beyond the threshold, and the whole interval above 1
            return compared & (adjusted >= HIGH_LIFT) & (out[f"{name}_lift_low"] > 1)
        return compared & (adjusted <= LOW_LIFT) & (out[f"{name}_lift_high"] < 1)

    def text(name: str) -> Callable[[pd.Series], str]:
        return lambda r: lift_text(name, r, entity_plural)

    sentiment, rated = out["mean_sentiment"], evidence.rated
    return {
        "pain_point": [
            (lift("churn", True), text("churn")),
            (lift("failure", True), text("failure")),
            (lift("conversion", False), text("conversion")),
            (lift("success", False), text("success")),
            (rated & (sentiment <= SENTIMENT_LOW) & (out["sentiment_high"] < 0), _sentiment_text),
        ],
        "point_of_delight": [
            (lift("conversion", True), text("conversion")),
            (lift("success", True), text("success")),
            (lift("churn", False), text("churn")),
            (lift("failure", False), text("failure")),
            (rated & (sentiment >= SENTIMENT_HIGH) & (out["sentiment_low"] > 0), _sentiment_text),
        ],
    }


def _moments(out: pd.DataFrame, evidence: _Evidence) -> tuple[pd.Series, pd.Series]:
    """(is a moment of truth, rank by removal effect among the candidates)."""
    # Candidates: not the outcome itself, not a step (nearly) everyone takes, and not credited
    # merely for lying on long journeys of active customers.
    backed = evidence.compared["conversion"] & evidence.usable.get("conversion", False)
    effect = out["removal_effect"].where(
        backed
        & (out["conversion_lift_adjusted"] >= MOMENT_MIN_LIFT)
        & (out["conversion_lift_low"] > 1)
    )
    rank = effect.rank(ascending=False, method="min")
    return (rank <= MOMENT_TOP) & (effect >= MOMENT_MIN_EFFECT), rank


def _silent_reasons(
    evidence: _Evidence, outcome_counts: Mapping[str, tuple[int, int]], entity_plural: str
) -> tuple[str, str]:
    """(what a neutral touchpoint adds about outcomes not compared, the no-outcome reason)."""
    usable = evidence.usable
    one_sided = "".join(
        f"; {name} not compared ({yes} of {yes + no} {entity_plural} {verb})"
        for name, verb in [("conversion", "converted"), ("churn", "churned")]
        for yes, no in [outcome_counts.get(name, (0, 0))]
        if not usable.get(name, False) and yes + no
    )
    known = [
        f"{yes:,} of {yes + no:,} {entity_plural} {verb}" if yes + no else f"no {name} known"
        for name, verb in OUTCOME_VERBS
        if name in outcome_counts
        for yes, no in [outcome_counts[name]]
    ]
    no_signal = (
        f"{NEED_OUTCOMES}: no outcome separates {evidence.min_reach:g} or more {entity_plural} on "
        f"each side ({', '.join(known)}) and no touchpoint has {MIN_SENTIMENT_COUNT} rated "
        "events; configure outcomes (success and failure touchpoints) or conversion_touchpoints"
    )
    return one_sided, no_signal


@dataclass(frozen=True)
class _Rules:
    """Everything the role of one touchpoint is decided from."""

    evidence: _Evidence
    signals: dict[str, list[Signal]]
    moment: pd.Series
    rank: pd.Series
    has_signal: bool
    one_sided: str
    no_signal: str
    drop_off_base: float
    entity_plural: str


def _role(i: int, row: pd.Series, rules: _Rules) -> tuple[str, str]:
    """(role, role_reason) of the touchpoint in row `i`."""
    pain = [say(row) for flags, say in rules.signals["pain_point"] if flags[i]]
    delight = [say(row) for flags, say in rules.signals["point_of_delight"] if flags[i]]
    min_reach = rules.evidence.min_reach
    if not rules.evidence.eligible[i]:
        return "neutral", f"reach {row['reach']} is below the minimum {min_reach:g}"
    if not rules.has_signal:
        return "neutral", rules.no_signal
    if pain:
        return "pain_point", "; ".join(pain)
    if rules.moment[i]:
        return "moment_of_truth", (
            f"removing it loses {row['removal_effect']:.0%} of conversions "
            f"(rank {int(rules.rank[i])} by removal effect); "
            + lift_text("conversion", row, rules.entity_plural)
        )
    if delight:
        return "point_of_delight", "; ".join(delight)
    reason = "no metric passes its threshold" + rules.one_sided
    drop_off_bar = max(DROP_OFF_MIN, DROP_OFF_RATIO * rules.drop_off_base)
    if row["drop_off_rate"] >= drop_off_bar and not row["is_conversion"]:
        reason += (
            f"; {row['drop_off_rate']:.0%} of its events end the session (log-wide "
            f"{rules.drop_off_base:.0%}), but no outcome or sentiment shows harm"
        )
    return "neutral", reason


def assign_roles(
    out: pd.DataFrame,
    customers: int,
    drop_off_base: float,
    outcome_counts: Mapping[str, tuple[int, int]],
    outcome_touchpoints: frozenset[str],
    entity_plural: str = "customers",
) -> pd.DataFrame:
    """role and role_reason by the rule in the module docstring; outcomes as (yes, no) counts."""
    evidence = _evidence(out, customers, outcome_counts, outcome_touchpoints)
    moment, rank = _moments(out, evidence)
    one_sided, no_signal = _silent_reasons(evidence, outcome_counts, entity_plural)
    rules = _Rules(
        evidence=evidence,
        signals=_signals(out, evidence, entity_plural),
        moment=moment,
        rank=rank,
        has_signal=any(evidence.usable.values()) or bool(evidence.rated.any()),
        one_sided=one_sided,
        no_signal=no_signal,
        drop_off_base=drop_off_base,
        entity_plural=entity_plural,
    )
    roles, reasons = [], []
    for i, row in out.iterrows():
        role, reason = _role(i, row, rules)
        roles.append(role)
        reasons.append(reason)
    out["role"] = pd.Series(roles, index=out.index, dtype=object)
    out["role_reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out

"""Touchpoint insights: reach, conversion and churn lift, sentiment, drop-off, removal effect, role.

Metrics (one row per touchpoint; customers are the rows of `journeys`):
- reach: customers with the touchpoint; reach_share = reach / customers.
- conversion_lift = P(converted | touched) / P(converted | not touched), converted being
  journeys.is_converted; churn_lift likewise from churn_state.is_churned (customers missing from
  churn_state count in neither churn rate). NaN when a rate is undefined or the untouched rate is
  0 (nobody converts, everybody has the touchpoint, ...); all churn columns NaN without churn_state.
- <outcome>_lift_adjusted, <outcome>_lift_low, <outcome>_lift_high: the same lifts against
  customers of similar activity (cjm.journeys.lifts), for conversion, churn, and the configured
  success and failure outcomes (a customer succeeded / failed when any of its events is one of the
  `outcomes:` touchpoints).
- mean_sentiment / sentiment_count over the touchpoint's events that carry a sentiment;
  sentiment_low / sentiment_high: 95% interval of the mean.
- drop_off_rate: share of the touchpoint's events that are the last event of their session;
  journey_end_rate: share that are the customer's last event.
- removal_effect (cjm.journeys.removal): the share of conversions lost without the touchpoint.
  Only the `max_removal_touchpoints` (default 1000) touchpoints of highest reach get one, the
  rest NaN.
- role and role_reason (cjm.journeys.roles).

The counts come from DuckDB (cjm.journeys.counts); only per-touchpoint counts reach pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from cjm.config import EntityNoun, OutcomeSettings
from cjm.journeys.counts import ChurnState, Groups, insight_counts
from cjm.journeys.lifts import ADJUSTED_COLUMNS, Z95, add_adjusted_lifts, rates
from cjm.journeys.removal import touchpoint_removal_effects
from cjm.journeys.roles import NEED_OUTCOMES, assign_roles

INSIGHT_COLUMNS = [
    "touchpoint",
    "reach",
    "reach_share",
    "event_count",
    "conversion_rate_with",
    "conversion_rate_without",
    "conversion_lift",
    "churn_rate_with",
    "churn_rate_without",
    "churn_lift",
    "mean_sentiment",
    "sentiment_count",
    "drop_off_rate",
    "journey_end_rate",
    "removal_effect",
    *ADJUSTED_COLUMNS,
    "sentiment_low",
    "sentiment_high",
    "is_conversion",
    "role",
    "role_reason",
]
MAX_REMOVAL_TOUCHPOINTS = 1000


def roles_note(insights: pd.DataFrame) -> str | None:
    """The run-summary note when roles could not be judged for want of outcomes, else None."""
    reasons = insights.get("role_reason", pd.Series(dtype=object)).dropna()
    needing = reasons[reasons.str.startswith(NEED_OUTCOMES)]
    if len(needing):
        return f"touchpoint roles: all neutral, {needing.iloc[0]}"
    return None


def touchpoint_insights(
    con: duckdb.DuckDBPyConnection,
    churn_state: ChurnState,
    max_removal_touchpoints: int = MAX_REMOVAL_TOUCHPOINTS,
    *,
    outcomes: OutcomeSettings | None = None,
    entity: EntityNoun | None = None,
) -> pd.DataFrame:
    """One row per touchpoint: reach, lifts, sentiment, drop-off, removal effect, role.

    `churn_state` (customer_id, is_churned) is a frame or the name of a table with one row per
    customer; a table stays in DuckDB, so millions of customers never pass through pandas.
    `outcomes` (success and failure touchpoints) add the success and failure lifts; `entity` is
    the noun of role_reason (default customers).
    """
    return grouped_touchpoint_insights(
        con, churn_state, None, max_removal_touchpoints, outcomes=outcomes, entity=entity
    )[None]


def grouped_touchpoint_insights(
    con: duckdb.DuckDBPyConnection,
    churn_state: ChurnState,
    groups: Groups,
    max_removal_touchpoints: int = MAX_REMOVAL_TOUCHPOINTS,
    *,
    outcomes: OutcomeSettings | None = None,
    entity: EntityNoun | None = None,
) -> dict[object, pd.DataFrame]:
    """touchpoint_insights within each group of customers, from one pass over the events.

    `groups` is (table, column): the table has customer_id and puts each customer in at most one
    group, named by the column;
    customers in none are left out. Each group is analysed as if its customers were the whole log
    (its own customers, outcomes, activity strata and chain). Returns group_id -> insights (None ->
    all customers when `groups` is None); a group without events is absent.
    """
    outcomes = outcomes or OutcomeSettings()
    marked = (tuple(outcomes.success), tuple(outcomes.failure))
    counts = insight_counts(con, churn_state, groups, marked)
    context = _Context(
        churn_state is not None,
        outcomes,
        (entity or EntityNoun()).plural,
        max_removal_touchpoints,
    )
    totals, steps, reach, strata = counts.outcomes, counts.steps, counts.reach, counts.strata
    if groups is None:
        return {None: _insights(steps, reach, strata, totals.iloc[0], context)}
    out = {}
    steps_by, reach_by = steps.groupby("group_id"), reach.groupby("group_id")
    strata_by = strata.groupby("group_id")
    for _, row in totals.sort_values("group_id").iterrows():
        gid = row["group_id"].item() if hasattr(row["group_id"], "item") else row["group_id"]
        if gid not in reach_by.groups:
            continue
        out[gid] = _insights(
            steps_by.get_group(gid).reset_index(drop=True),
            reach_by.get_group(gid).reset_index(drop=True),
            strata_by.get_group(gid).reset_index(drop=True),
            row,
            context,
        )
    return out


@dataclass(frozen=True)
class _Context:
    """What every group's insights share: churn known, outcome settings, noun, removal cap."""

    has_churn: bool
    outcomes: OutcomeSettings
    entity_plural: str
    max_removal_touchpoints: int


def empty_insights() -> pd.DataFrame:
    """A correctly typed touchpoint_insights frame without rows."""
    return _insights(
        pd.DataFrame(columns=_STEP_COLUMNS).astype(_STEP_TYPES),
        pd.DataFrame(columns=_REACH_COLUMNS).astype("int64").astype({"touchpoint": object}),
        pd.DataFrame(columns=_STRATA_COLUMNS).astype("int64"),
        pd.Series({"customers": 0, "converted": 0, "churn_known": 0, "churned": 0}),
        _Context(False, OutcomeSettings(), "customers", 0),
    )


_STEP_COLUMNS = [
    "previous",
    "touchpoint",
    "n",
    "sentiment_sum",
    "sentiment_n",
    "sentiment_sq",
    "session_ends",
    "journey_ends",
    "to_conversion",
    "is_conversion",
]
_STEP_TYPES = (
    {"previous": object, "touchpoint": object, "sentiment_sum": float, "sentiment_sq": float}
    | {c: "int64" for c in ("n", "sentiment_n", "session_ends", "journey_ends", "to_conversion")}
    | {"is_conversion": bool}
)
_REACH_COLUMNS = [
    "touchpoint",
    "stratum",
    "reach",
    "converted_with",
    "churn_known_with",
    "churned_with",
    "succeeded_with",
    "failed_with",
]
_STRATA_COLUMNS = [
    "stratum",
    "customers",
    "converted",
    "churn_known",
    "churned",
    "succeeded",
    "failed",
]


def _insights(
    steps: pd.DataFrame,
    reach: pd.DataFrame,
    strata: pd.DataFrame,
    outcomes: pd.Series,
    context: _Context,
) -> pd.DataFrame:
    """The insight rows of one set of customers from its step, reach and stratum counts."""
    customers, converted = int(outcomes["customers"]), int(outcomes["converted"])
    churn_known, churned = int(outcomes["churn_known"]), int(outcomes["churned"])
    steps = steps.drop(columns="group_id", errors="ignore")
    by_stratum = reach.drop(columns="group_id", errors="ignore")
    strata = strata.drop(columns="group_id", errors="ignore")
    out = _touchpoint_rows(steps, by_stratum, customers)
    (
        out["conversion_rate_with"],
        out["conversion_rate_without"],
        out["conversion_lift"],
    ) = rates(out["converted_with"], out["reach"], converted, customers)
    if not context.has_churn:
        for column in ("churn_rate_with", "churn_rate_without", "churn_lift"):
            out[column] = np.nan
    else:
        (
            out["churn_rate_with"],
            out["churn_rate_without"],
            out["churn_lift"],
        ) = rates(out["churned_with"], out["churn_known_with"], churned, churn_known)
    add_adjusted_lifts(out, by_stratum, strata, context.has_churn)
    _add_sentiment_and_ends(out)
    out["removal_effect"] = np.nan
    if len(out):
        # out is ordered by reach, so its head holds the most-reached touchpoints.
        chosen = out.index[: max(int(context.max_removal_touchpoints), 0)]
        effects = touchpoint_removal_effects(steps, out.loc[chosen, "touchpoint"])
        out.loc[chosen, "removal_effect"] = effects
    total_events = out["event_count"].sum()
    drop_off_base = out["session_ends"].sum() / total_events if total_events else 0.0
    counts = {
        "conversion": (converted, customers - converted),
        "churn": (churned, churn_known - churned),
    }
    for name, column, touchpoints in (
        ("success", "succeeded", context.outcomes.success),
        ("failure", "failed", context.outcomes.failure),
    ):
        if touchpoints:
            yes = int(strata[column].sum())
            counts[name] = (yes, customers - yes)
    out = assign_roles(
        out,
        customers,
        float(drop_off_base),
        counts,
        frozenset(context.outcomes.success + context.outcomes.failure),
        context.entity_plural,
    )
    return out[INSIGHT_COLUMNS]


def _touchpoint_rows(steps: pd.DataFrame, by_stratum: pd.DataFrame, customers: int) -> pd.DataFrame:
    """One row per touchpoint with its reach, outcome counts and step sums, most reached first."""
    reach = by_stratum.drop(columns="stratum").groupby("touchpoint", as_index=False).sum()
    per_tp = steps.groupby("touchpoint").agg(
        event_count=("n", "sum"),
        sentiment_sum=("sentiment_sum", "sum"),
        sentiment_sq=("sentiment_sq", "sum"),
        sentiment_count=("sentiment_n", "sum"),
        session_ends=("session_ends", "sum"),
        journey_ends=("journey_ends", "sum"),
        is_conversion=("is_conversion", "any"),
    )
    out = reach.merge(per_tp.reset_index(), on="touchpoint")
    out = out.sort_values(["reach", "touchpoint"], ascending=[False, True], ignore_index=True)
    out["reach_share"] = out["reach"] / customers if customers else np.nan
    return out


def _add_sentiment_and_ends(out: pd.DataFrame) -> None:
    """Mean sentiment with its 95% interval, drop-off and journey-end rates, in place."""
    count = out["sentiment_count"].astype("int64")
    out["sentiment_count"] = count
    mean = (out["sentiment_sum"] / count).where(count > 0)
    out["mean_sentiment"] = mean
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = ((out["sentiment_sq"] - count * mean**2) / (count - 1)).clip(lower=0)
        half = Z95 * np.sqrt(variance / count)
    out["sentiment_low"] = (mean - half).where(count > 1)
    out["sentiment_high"] = (mean + half).where(count > 1)
    out["drop_off_rate"] = out["session_ends"] / out["event_count"]
    out["journey_end_rate"] = out["journey_ends"] / out["event_count"]
    out["is_conversion"] = out["is_conversion"].astype(bool)

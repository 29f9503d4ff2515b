"""Touchpoint insights: reach, conversion and churn lift, sentiment, drop-off, removal effect, role.

Metrics (one row per touchpoint; customers are the rows of `journeys`):
- reach: customers with the touchpoint; reach_share = reach / customers.
- conversion_lift = P(converted | touched) / P(converted | not touched), converted being
  journeys.is_converted; churn_lift likewise from churn_state.is_churned (customers missing from
  churn_state count in neither churn rate). NaN when a rate is undefined or the untouched rate is
  0 (nobody converts, everybody has the touchpoint, ...); all churn columns NaN without churn_state.
- mean_sentiment / sentiment_count over the touchpoint's events that carry a sentiment.
- drop_off_rate: share of the touchpoint's events that are the last event of their session;
  journey_end_rate: share that are the customer's last event.
- removal_effect (Markov-chain attribution): per customer, events in event_index order give
  (start) -> first touchpoint -> ... -> last touchpoint -> (conversion) if the journey converted,
  else (null). With transition probabilities estimated from all customers, P is the probability of
  absorption in (conversion) from (start), solved exactly from (I - Q) x = r (sparse LU).
  Removing t sends every transition into t to (null); removal_effect = (P - P_without_t) / P.
  No re-solve per touchpoint is needed: walks that never visit t are unchanged and walks that do
  are lost, so P - P_without_t = h(t) * x(t), with x(t) the conversion probability from t and
  h(t) = N[start, t] / N[t, t] the probability of ever reaching t (N = (I - Q)^-1, one
  back-solve per touchpoint). Only the `max_removal_touchpoints` (default 1000) touchpoints of
  highest reach get a removal effect, the rest NaN; NaN for all when P == 0.

Activity-adjusted lifts: customers who touch more touchpoints are the more active ones, and active
customers convert more and churn less, so "with vs without" mostly compares engaged customers with
disengaged ones. Each lift is therefore also computed within strata of customers of similar
activity (their number of events: 1..8 each, then bins 1.5x wide) and pooled with the
Mantel-Haenszel risk ratio, with its 95% confidence interval (Greenland-Robins variance):
<outcome>_lift_adjusted, <outcome>_lift_low, <outcome>_lift_high for conversion, churn, and the
configured success and failure outcomes (a customer succeeded / failed when any of its events is
one of the `outcomes:` touchpoints). sentiment_low / sentiment_high: 95% interval of the mean.

Role (the first rule that matches wins). Thresholds: minimum reach m = max(5, 1% of customers).
A touchpoint below m is neutral. Lifts count only when the untouched group also has m customers
and at least m customers have each outcome (with ~100% conversion, lifts and removal effects only
mirror reach); sentiment counts over at least 10 rated events. Every role needs evidence: an
adjusted lift beyond its threshold whose confidence interval excludes 1, or a mean sentiment
beyond its threshold whose interval excludes 0.
1. pain_point: adjusted churn or failure lift >= 1.5; adjusted conversion or success lift
   <= 0.67; or mean sentiment <= -0.3. A high share of events that end a session is not evidence
   on its own (in a process log it is staff pausing work); role_reason mentions it.
2. moment_of_truth: one of the 3 highest removal effects and >= 0.2, among touchpoints whose
   adjusted conversion lift is >= 1.2 with its interval above 1 (the memoryless chain also
   credits touchpoints that merely sit on long journeys of active customers).
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from cjm.config_sections import EntityNoun, OutcomeSettings
from cjm.db import exact_sum_sql, quote_ident

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"

# Outcomes whose lifts are adjusted for activity: name -> (touched-and-yes column, touched column,
# total-yes column, total column) in the stratified counts.
ADJUSTED = {
    "conversion": ("converted_with", "reach", "converted", "customers"),
    "churn": ("churned_with", "churn_known_with", "churned", "churn_known"),
    "success": ("succeeded_with", "reach", "succeeded", "customers"),
    "failure": ("failed_with", "reach", "failed", "customers"),
}
ADJUSTED_COLUMNS = [f"{o}_lift_{part}" for o in ADJUSTED for part in ("adjusted", "low", "high")]

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

MIN_REACH, MIN_REACH_SHARE = 5, 0.01
HIGH_LIFT, LOW_LIFT = 1.5, 0.67
SENTIMENT_LOW, SENTIMENT_HIGH, MIN_SENTIMENT_COUNT = -0.3, 0.3, 10
# Every touchpoint ends some sessions; only a clear excess over the log's own rate is a pain.
DROP_OFF_MIN, DROP_OFF_RATIO = 0.5, 1.5
# Where most journeys that reach a touchpoint finish, ending the session is the journey's end.
JOURNEY_END_MAX = 0.5
MOMENT_MIN_EFFECT, MOMENT_TOP = 0.2, 3
# A moment of truth's customers must also convert clearly more than similar customers without it.
MOMENT_MIN_LIFT = 1.2
Z95 = 1.959964
# Activity strata: customers with 1..STRATUM_EXACT events each form their own stratum, then bins
# STRATUM_STEP times wider than the last.
STRATUM_EXACT, STRATUM_STEP = 8, 1.5
NEED_OUTCOMES = "roles need outcomes"
OUTCOME_VERBS = (
    ("conversion", "converted"),
    ("churn", "churned"),
    ("success", "succeeded"),
    ("failure", "failed"),
)
MAX_REMOVAL_TOUCHPOINTS = 1000
# Columns of the back-solve done at once: bounds memory to states x this many doubles.
_SOLVE_BATCH = 256

TransitionCounts = pd.DataFrame | Mapping[tuple[str, str], float]


def _transition_frame(transition_counts: TransitionCounts) -> pd.DataFrame:
    if isinstance(transition_counts, pd.DataFrame):
        frame = transition_counts[["from", "to", "count"]]
    else:
        frame = pd.DataFrame(
            [(a, b, c) for (a, b), c in transition_counts.items()], columns=["from", "to", "count"]
        )
    frame = frame.astype({"from": str, "to": str, "count": float})
    if (frame["count"] < 0).any():
        raise ValueError("transition counts must be non-negative")
    return frame


class _Chain:
    """Transient part of an absorbing chain: states, Q, r (one-step success probability)."""

    def __init__(self, frame: pd.DataFrame, start: str, success: str) -> None:
        # The success state absorbs whatever leaves it; every state without outgoing transitions
        # absorbs as a failure (null).
        frame = frame[(frame["from"] != success) & (frame["count"] > 0)]
        states = pd.Index(pd.unique(pd.concat([pd.Series([start]), frame["from"]])))
        self.states = states
        self.start = int(states.get_loc(start))
        totals = frame.groupby("from")["count"].sum()
        prob = frame["count"].to_numpy() / totals.loc[frame["from"]].to_numpy()
        rows = states.get_indexer(frame["from"])
        cols = states.get_indexer(frame["to"])
        inner = cols >= 0
        n = len(states)
        self.q = sp.csc_matrix((prob[inner], (rows[inner], cols[inner])), shape=(n, n))
        to_success = (frame["to"] == success).to_numpy()
        self.r = np.bincount(rows[to_success], weights=prob[to_success], minlength=n)
        try:
            self.lu = splu(sp.identity(n, format="csc") - self.q)
        except RuntimeError as error:
            raise ValueError(
                "the chain has states from which no walk is ever absorbed (a closed loop)"
            ) from error
        self.x = self.lu.solve(self.r)

    @property
    def probability(self) -> float:
        return float(min(max(self.x[self.start], 0.0), 1.0))

    def removal_effects(self, indices: np.ndarray) -> np.ndarray:
        """(P - P_without_state) / P for the given state indices (never start)."""
        p = self.probability
        out = np.full(len(indices), np.nan)
        if p <= 0:
            return out
        n = len(self.states)
        for lo in range(0, len(indices), _SOLVE_BATCH):
            batch = indices[lo : lo + _SOLVE_BATCH]
            unit = np.zeros((n, len(batch)))
            unit[batch, np.arange(len(batch))] = 1.0
            columns = self.lu.solve(unit)  # columns of N = (I - Q)^-1
            reach = columns[self.start] / columns[batch, np.arange(len(batch))]
            out[lo : lo + len(batch)] = np.clip(reach * self.x[batch] / p, 0.0, 1.0)
        return out


def absorption_probability(
    transition_counts: TransitionCounts, start: str = START, success: str = CONVERSION
) -> float:
    """Exact probability that a walk from `start` is absorbed in `success` (counts: from, to)."""
    return _Chain(_transition_frame(transition_counts), start, success).probability


def removal_effects(
    transition_counts: TransitionCounts,
    states: Iterable[str] | None = None,
    start: str = START,
    success: str = CONVERSION,
) -> pd.Series:
    """(P - P_without_s) / P per state s (default: every transient state but start), exactly."""
    chain = _Chain(_transition_frame(transition_counts), start, success)
    names = [s for s in chain.states if s != start] if states is None else list(states)
    if start in names or success in names:
        raise ValueError("start and success cannot be removed")
    indices = chain.states.get_indexer(names)
    effects = np.zeros(len(names))  # a state the chain never visits changes nothing
    known = indices >= 0
    effects[known] = chain.removal_effects(indices[known])
    if chain.probability <= 0:
        effects[:] = np.nan
    return pd.Series(effects, index=pd.Index(names, name="state"), name="removal_effect")


def _group_sql(groups: tuple[str, str] | None, alias: str) -> tuple[str, str]:
    """(join clause, leading select column) putting each row of `alias` in its customer's group."""
    if groups is None:
        return "", "null::bigint as group_id"
    table, column = groups
    return (
        f"join {quote_ident(table)} g on g.customer_id = {alias}.customer_id",
        f"g.{quote_ident(column)} as group_id",
    )


def _step_counts(
    con: duckdb.DuckDBPyConnection, groups: tuple[str, str] | None = None
) -> pd.DataFrame:
    """Events per (group, previous touchpoint, touchpoint): one ordered pass over the log."""
    # Sessions are runs of consecutive events of a customer, so an event ends its session when the
    # customer's next event is in another session or there is none; this avoids a second sort.
    # A group holds whole customers, so the per-customer window is the same with or without it.
    join, group = _group_sql(groups, "e")
    return con.execute(
        f"""
        with steps as (
            select {group}, e.customer_id, e.touchpoint, e.sentiment, e.is_conversion,
                   lag(e.touchpoint) over w as previous,
                   lead(e.session_id) over w is distinct from e.session_id as ends_session,
                   lead(e.event_index) over w is null as ends_journey
            from events e {join}
            window w as (partition by e.customer_id order by e.event_index)
        )
        select s.group_id, s.previous, s.touchpoint, count(*) as n,
               coalesce({exact_sum_sql("s.sentiment")}, 0) as sentiment_sum,
               count(s.sentiment) as sentiment_n,
               coalesce({exact_sum_sql("s.sentiment * s.sentiment")}, 0) as sentiment_sq,
               count(*) filter (where s.ends_session) as session_ends,
               count(*) filter (where s.ends_journey) as journey_ends,
               count(*) filter (where s.ends_journey and j.is_converted) as to_conversion,
               bool_or(coalesce(s.is_conversion, false)) as is_conversion
        from steps s left join journeys j using (customer_id)
        group by all
        -- a fixed row order: the per-touchpoint sums in pandas then add in the same order
        order by all
        """
    ).df()


def _customer_strata_sql(groups: tuple[str, str] | None) -> str:
    """CTE `strata`: each customer's group, activity stratum and configured outcomes (2 params)."""
    join, group = _group_sql(groups, "e")
    return f"""
        customers as (
            select {group}, e.customer_id, count(*) as n_events,
                   bool_or(list_contains(?::varchar[], e.touchpoint)) as succeeded,
                   bool_or(list_contains(?::varchar[], e.touchpoint)) as failed
            from events e {join}
            group by all
        ),
        strata as (
            select *,
                   case when n_events <= {STRATUM_EXACT} then n_events
                        else {STRATUM_EXACT}
                             + ceil(ln(n_events / {STRATUM_EXACT}) / ln({STRATUM_STEP}))
                   end::bigint as stratum
            from customers
        )"""


def _churn_sql(churn_view: str | None, alias: str) -> tuple[str, str]:
    """(join clause, count columns) for churn among the rows of `alias`."""
    if not churn_view:
        return "", "0 as churn_known_x, 0 as churned_x"
    return (
        f"left join {quote_ident(churn_view)} c on c.customer_id = {alias}.customer_id",
        "count(c.is_churned) as churn_known_x, count(*) filter (where c.is_churned) as churned_x",
    )


def _reach_counts(
    con: duckdb.DuckDBPyConnection,
    churn_view: str | None,
    groups: tuple[str, str] | None = None,
    outcomes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
) -> pd.DataFrame:
    """Customers per (group, touchpoint, activity stratum), and how many had each outcome."""
    churn_join, churn_cols = _churn_sql(churn_view, "p")
    join, group = _group_sql(groups, "e")
    churn_cols = churn_cols.replace("_x", "_with")
    return con.execute(
        f"""
        with {_customer_strata_sql(groups)},
        pairs as (select distinct {group}, e.customer_id, e.touchpoint from events e {join})
        select p.group_id, p.touchpoint, s.stratum, count(*) as reach,
               count(*) filter (where j.is_converted) as converted_with, {churn_cols},
               count(*) filter (where s.succeeded) as succeeded_with,
               count(*) filter (where s.failed) as failed_with
        from pairs p
        join strata s on s.customer_id = p.customer_id
        left join journeys j on j.customer_id = p.customer_id {churn_join}
        group by p.group_id, p.touchpoint, s.stratum
        """,
        [list(outcomes[0]), list(outcomes[1])],
    ).df()


def _stratum_counts(
    con: duckdb.DuckDBPyConnection,
    churn_view: str | None,
    groups: tuple[str, str] | None = None,
    outcomes: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
) -> pd.DataFrame:
    """Customers per (group, activity stratum), and how many had each outcome."""
    churn_join, churn_cols = _churn_sql(churn_view, "s")
    churn_cols = churn_cols.replace("churn_known_x", "churn_known").replace("churned_x", "churned")
    return con.execute(
        f"""
        with {_customer_strata_sql(groups)}
        select s.group_id, s.stratum, count(*) as customers,
               count(*) filter (where j.is_converted) as converted, {churn_cols},
               count(*) filter (where s.succeeded) as succeeded,
               count(*) filter (where s.failed) as failed
        from strata s
        left join journeys j on j.customer_id = s.customer_id {churn_join}
        group by s.group_id, s.stratum
        """,
        [list(outcomes[0]), list(outcomes[1])],
    ).df()


def _outcome_counts(
    con: duckdb.DuckDBPyConnection, churn_view: str | None, groups: tuple[str, str] | None = None
) -> pd.DataFrame:
    """Per group: customers, converted, customers with a known churn state, churned."""
    churn_join = (
        f"left join {quote_ident(churn_view)} c on c.customer_id = j.customer_id"
        if churn_view
        else "left join (select null::varchar as customer_id, null::boolean as is_churned) c "
        "on false"
    )
    join, group = _group_sql(groups, "j")
    # Without groups there is no group by, so an empty log still gives its one row of zeros.
    return con.execute(
        f"""
        select {group}, count(*) as customers,
               count(*) filter (where j.is_converted) as converted,
               count(c.is_churned) as churn_known, count(*) filter (where c.is_churned) as churned
        from journeys j {join} {churn_join}
        {"" if groups is None else "group by all"}
        """
    ).df()


def _chain_transitions(steps: pd.DataFrame) -> pd.DataFrame:
    """from, to, count of the journey chain; touchpoints prefixed so none is a reserved state."""
    to_tp = "t:" + steps["touchpoint"].astype(str)
    into = pd.DataFrame(
        {
            "from": ("t:" + steps["previous"].astype(str)).where(steps["previous"].notna(), START),
            "to": to_tp,
            "count": steps["n"],
        }
    )
    won = pd.DataFrame({"from": to_tp, "to": CONVERSION, "count": steps["to_conversion"]})
    lost = pd.DataFrame(
        {"from": to_tp, "to": NULL, "count": steps["journey_ends"] - steps["to_conversion"]}
    )
    frame = pd.concat([into, won, lost], ignore_index=True)
    return frame.groupby(["from", "to"], as_index=False)["count"].sum()


def _rates(
    hits: pd.Series, known: pd.Series, total_hits: int, total: int
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Rate with, rate without and their ratio; NaN where undefined."""
    hits, known = hits.astype(float), known.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_with = (hits / known).where(known > 0)
        rest = total - known
        rate_without = ((total_hits - hits) / rest).where(rest > 0)
        lift = (rate_with / rate_without).where(rate_without > 0)
    return rate_with, rate_without, lift


def adjusted_lift(touched: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Mantel-Haenszel risk ratio over strata with its 95% interval, per touchpoint.

    `touched`: touchpoint, stratum, n (customers who touched it), yes (of them, with the outcome);
    `totals`: stratum, n, yes over all customers of the stratum. The untouched group of a stratum
    is the rest. Returns touchpoint -> adjusted, low, high (NaN where undefined: no stratum with
    both groups, nobody with the outcome on one side).
    """
    m = touched.merge(totals, on="stratum", suffixes=("", "_all"))
    # Summed in a fixed order: DuckDB returns the strata in any order, and float sums would then
    # differ in their last bits between two builds of the same files.
    m = m.sort_values(["touchpoint", "stratum"], kind="stable", ignore_index=True)
    n1, a = m["n"].astype(float), m["yes"].astype(float)
    big_n = m["n_all"].astype(float)
    n0, b = big_n - n1, m["yes_all"].astype(float) - a
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = pd.DataFrame(
            {
                "touchpoint": m["touchpoint"],
                "r": (a * n0 / big_n).where(big_n > 0, 0.0),
                "s": (b * n1 / big_n).where(big_n > 0, 0.0),
                "p": ((n1 * n0 * (a + b) - a * b * big_n) / big_n**2).where(big_n > 0, 0.0),
            }
        )
        sums = parts.groupby("touchpoint")[["r", "s", "p"]].sum()
        lift = (sums["r"] / sums["s"]).where(sums["s"] > 0)
        se = np.sqrt(sums["p"] / (sums["r"] * sums["s"])).where((sums["r"] > 0) & (sums["s"] > 0))
        low, high = lift * np.exp(-Z95 * se), lift * np.exp(Z95 * se)
    return pd.DataFrame({"adjusted": lift, "low": low, "high": high})


def _lift_text(name: str, row: pd.Series, entity_plural: str) -> str:
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


def _assign_roles(
    out: pd.DataFrame,
    customers: int,
    drop_off_base: float,
    outcome_counts: Mapping[str, tuple[int, int]],
    outcome_touchpoints: frozenset[str],
    entity_plural: str = "customers",
) -> pd.DataFrame:
    """role and role_reason by the rule in the module docstring; outcomes as (yes, no) counts."""
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

    def lift(name: str, high: bool) -> pd.Series:
        if not usable.get(name, False):
            return pd.Series(False, index=out.index)
        adjusted = out[f"{name}_lift_adjusted"]
        if high:  # beyond the threshold, and the whole interval above 1
            return compared[name] & (adjusted >= HIGH_LIFT) & (out[f"{name}_lift_low"] > 1)
        return compared[name] & (adjusted <= LOW_LIFT) & (out[f"{name}_lift_high"] < 1)

    def text(name: str):  # noqa: ANN202
        return lambda r: _lift_text(name, r, entity_plural)

    def sentiment_text(r: pd.Series) -> str:
        return (
            f"mean sentiment {r.mean_sentiment:.2f} (95% CI {r.sentiment_low:.2f} to "
            f"{r.sentiment_high:.2f}) over {r.sentiment_count} events"
        )

    sentiment = out["mean_sentiment"]
    signals = {
        "pain_point": [
            (lift("churn", True), text("churn")),
            (lift("failure", True), text("failure")),
            (lift("conversion", False), text("conversion")),
            (lift("success", False), text("success")),
            (rated & (sentiment <= SENTIMENT_LOW) & (out["sentiment_high"] < 0), sentiment_text),
        ],
        "point_of_delight": [
            (lift("conversion", True), text("conversion")),
            (lift("success", True), text("success")),
            (lift("churn", False), text("churn")),
            (lift("failure", False), text("failure")),
            (rated & (sentiment >= SENTIMENT_HIGH) & (out["sentiment_low"] > 0), sentiment_text),
        ],
    }
    # Moment-of-truth candidates: not the outcome itself, not a step (nearly) everyone takes, and
    # not credited merely for lying on long journeys of active customers.
    backed = compared["conversion"] & usable.get("conversion", False)
    effect = out["removal_effect"].where(
        backed
        & (out["conversion_lift_adjusted"] >= MOMENT_MIN_LIFT)
        & (out["conversion_lift_low"] > 1)
    )
    rank = effect.rank(ascending=False, method="min")
    moment = (rank <= MOMENT_TOP) & (effect >= MOMENT_MIN_EFFECT)

    has_signal = any(usable.values()) or bool(rated.any())
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
        f"{NEED_OUTCOMES}: no outcome separates {min_reach:g} or more {entity_plural} on each "
        f"side ({', '.join(known)}) and no touchpoint has {MIN_SENTIMENT_COUNT} rated events; "
        "configure outcomes (success and failure touchpoints) or conversion_touchpoints"
    )
    drop_off_bar = max(DROP_OFF_MIN, DROP_OFF_RATIO * drop_off_base)
    roles, reasons = [], []
    for i, row in out.iterrows():
        pain = [say(row) for flags, say in signals["pain_point"] if flags[i]]
        delight = [say(row) for flags, say in signals["point_of_delight"] if flags[i]]
        if not eligible[i]:
            role, reason = "neutral", f"reach {row['reach']} is below the minimum {min_reach:g}"
        elif not has_signal:
            role, reason = "neutral", no_signal
        elif pain:
            role, reason = "pain_point", "; ".join(pain)
        elif moment[i]:
            role = "moment_of_truth"
            reason = (
                f"removing it loses {row['removal_effect']:.0%} of conversions "
                f"(rank {int(rank[i])} by removal effect); "
                + _lift_text("conversion", row, entity_plural)
            )
        elif delight:
            role, reason = "point_of_delight", "; ".join(delight)
        else:
            role, reason = "neutral", "no metric passes its threshold" + one_sided
            if row["drop_off_rate"] >= drop_off_bar and not row["is_conversion"]:
                reason += (
                    f"; {row['drop_off_rate']:.0%} of its events end the session (log-wide "
                    f"{drop_off_base:.0%}), but no outcome or sentiment shows harm"
                )
        roles.append(role)
        reasons.append(reason)
    out["role"] = pd.Series(roles, index=out.index, dtype=object)
    out["role_reason"] = pd.Series(reasons, index=out.index, dtype=object)
    return out


def roles_note(insights: pd.DataFrame) -> str | None:
    """The run-summary note when roles could not be judged for want of outcomes, else None."""
    reasons = insights.get("role_reason", pd.Series(dtype=object)).dropna()
    needing = reasons[reasons.str.startswith(NEED_OUTCOMES)]
    if len(needing):
        return f"touchpoint roles: all neutral, {needing.iloc[0]}"
    return None


def touchpoint_insights(
    con: duckdb.DuckDBPyConnection,
    churn_state: pd.DataFrame | str | None,
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
    churn_state: pd.DataFrame | str | None,
    groups: tuple[str, str] | None,
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
    cursor = con.cursor()  # the churn view lives on a cursor of our own and never leaks
    try:
        churn_view = None
        if isinstance(churn_state, str):
            churn_view = churn_state
        elif churn_state is not None:
            state = pd.DataFrame(
                {
                    "customer_id": churn_state["customer_id"].astype(str),
                    "is_churned": churn_state["is_churned"].astype("boolean"),
                }
            ).drop_duplicates("customer_id")
            churn_view = "_cjm_insights_churn_state"
            cursor.register(churn_view, state)
        totals = _outcome_counts(cursor, churn_view, groups)
        steps = _step_counts(cursor, groups)
        reach = _reach_counts(cursor, churn_view, groups, marked)
        strata = _stratum_counts(cursor, churn_view, groups, marked)
    finally:
        cursor.close()
    context = _Context(
        churn_view is not None,
        outcomes,
        (entity or EntityNoun()).plural,
        max_removal_touchpoints,
    )
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
    (
        out["conversion_rate_with"],
        out["conversion_rate_without"],
        out["conversion_lift"],
    ) = _rates(out["converted_with"], out["reach"], converted, customers)
    if not context.has_churn:
        for column in ("churn_rate_with", "churn_rate_without", "churn_lift"):
            out[column] = np.nan
    else:
        (
            out["churn_rate_with"],
            out["churn_rate_without"],
            out["churn_lift"],
        ) = _rates(out["churned_with"], out["churn_known_with"], churned, churn_known)
    for name, (yes_with, n_with, yes_all, n_all) in ADJUSTED.items():
        adjusted = adjusted_lift(
            by_stratum[["touchpoint", "stratum", n_with, yes_with]].set_axis(
                ["touchpoint", "stratum", "n", "yes"], axis=1
            ),
            strata[["stratum", n_all, yes_all]].set_axis(["stratum", "n", "yes"], axis=1),
        )
        unknown = name == "churn" and not context.has_churn
        for part in ("adjusted", "low", "high"):
            values = out["touchpoint"].map(adjusted[part]).astype(float)
            out[f"{name}_lift_{part}"] = np.nan if unknown else values
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

    out["removal_effect"] = np.nan
    if len(out):
        chain = _Chain(_chain_transitions(steps), START, CONVERSION)
        # out is ordered by reach, so its head holds the most-reached touchpoints.
        chosen = out.index[: max(int(context.max_removal_touchpoints), 0)]
        indices = chain.states.get_indexer("t:" + out.loc[chosen, "touchpoint"])
        out.loc[chosen, "removal_effect"] = chain.removal_effects(indices)

    total_events = out["event_count"].sum()
    drop_off_base = out["session_ends"].sum() / total_events if total_events else 0.0
    counts = {
        "conversion": (converted, customers - converted),
        "churn": (churned, churn_known - churned),
    }
    if context.outcomes.success:
        succeeded = int(strata["succeeded"].sum())
        counts["success"] = (succeeded, customers - succeeded)
    if context.outcomes.failure:
        failed = int(strata["failed"].sum())
        counts["failure"] = (failed, customers - failed)
    out = _assign_roles(
        out,
        customers,
        float(drop_off_base),
        counts,
        frozenset(context.outcomes.success + context.outcomes.failure),
        context.entity_plural,
    )
    return out[INSIGHT_COLUMNS]

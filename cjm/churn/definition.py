"""What churn means for a log: the inactivity threshold, each customer's state at a time,
labels at a cutoff and the training cutoffs.

One rule for the state (used by the list, patterns, personas and insights), D = inactivity_days:
- at time t a customer is `exited` if their latest exit-touchpoint event is not followed by an
  event in another session (churned_at = the exit event), `lapsed` if their last event at or
  before t is at least D days old (churned_at = last event + D), else `active`.
One question for the score, asked of every customer seen by a cutoff c, whatever their state:
- label 1 if they show no activity in (c, c + horizon], or have left through an exit touchpoint by
  c + horizon; so for a lapsed customer the score is the chance of not coming back within the
  horizon (the win-back list), for an active one the chance of going quiet. Only events up to
  c + horizon are read, so the label is fully observed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import duckdb
import pandas as pd

from cjm.churn.queries import analytics_sql, composed, scope_variables, set_variables
from cjm.config_sections import ChurnSettings
from cjm.db import quote_ident
from cjm.personas.features import as_utc, log_end

# Auto inactivity rule: the shortest quiet spell (from AUTO_GRID days) after which few customers
# come back. For D days: of the quiet spells that reached D days and can be followed for F more
# days before the log ends (open spells at the end included), the share that ended with a return
# within those F days, F = max(D, horizon_days): the horizon the scores look ahead. The threshold
# is the first D where that share is at most AUTO_RETURN_RATE, counted on at least AUTO_MIN_GAPS
# spells: a break is a spell most customers come back from; leaving is one they mostly do not.
# Shares and counts, so a handful of extreme events cannot move it. With no D reaching the rate,
# the D with the lowest share; with too few spells anywhere, AUTO_FALLBACK_DAYS.
AUTO_GRID = (7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)
AUTO_RETURN_RATE = 0.2
AUTO_FALLBACK_DAYS, AUTO_MIN_GAPS = 30, 30


@dataclass(frozen=True)
class ChurnDefinition:
    """What churn means for this log (resolved from settings)."""

    inactivity_days: int
    exit_touchpoints: tuple[str, ...]
    horizon_days: int
    inactivity_source: Literal["config", "auto"]
    note: str


def resolve_churn_definition(
    con: duckdb.DuckDBPyConnection,
    settings: ChurnSettings,
    as_of: datetime | None = None,
    failure_outcomes: Sequence[str] = (),
) -> ChurnDefinition:
    """Fix the exits (see exit_touchpoints) and the inactivity threshold: from settings, or from
    session gaps when 'auto'."""
    exits = exit_touchpoints(settings, failure_outcomes)
    exit_text = f"; exit touchpoints: {', '.join(exits)}" if exits else "; no exit touchpoints"
    if exits and settings.exit_touchpoints is None:
        exit_text += " (the failure outcomes, as churn.exit_touchpoints is not set)"
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
    days, why = _auto_inactivity(con, as_utc(as_of) or log_end(con), settings.horizon_days)
    note = f"inactivity threshold {days} days chosen automatically: {why}{exit_text}"
    return ChurnDefinition(days, exits, settings.horizon_days, "auto", note)


def exit_touchpoints(settings: ChurnSettings, failure_outcomes: Sequence[str]) -> tuple[str, ...]:
    """The touchpoints that count as leaving: churn.exit_touchpoints when set ([] for none), else
    the failure outcomes (a declined loan, an invalid ticket has left as surely as a cancel)."""
    if settings.exit_touchpoints is not None:
        return tuple(settings.exit_touchpoints)
    return tuple(failure_outcomes)


def _auto_inactivity(
    con: duckdb.DuckDBPyConnection, t: datetime | None, horizon_days: int
) -> tuple[int, str]:
    """The automatic threshold (see AUTO_GRID) and the numbers that chose it, in words."""
    if t is None:
        return AUTO_FALLBACK_DAYS, "the log is empty"
    counted = [
        (d, n, b / n) for d, n, b in _quiet_spells(con, t, horizon_days) if n >= AUTO_MIN_GAPS
    ]
    if not counted:
        return AUTO_FALLBACK_DAYS, (
            f"fewer than {AUTO_MIN_GAPS} quiet spells of {AUTO_GRID[0]} days or more can be "
            f"followed up in the log, so the default of {AUTO_FALLBACK_DAYS} days is used"
        )
    below = [c for c in counted if c[2] <= AUTO_RETURN_RATE]
    d, n, rate = below[0] if below else min(counted, key=lambda c: (c[2], c[0]))
    return d, _threshold_words(counted, (d, n, rate), bool(below), horizon_days)


def _quiet_spells(
    con: duckdb.DuckDBPyConnection, t: datetime, horizon_days: int
) -> list[tuple[int, int, int]]:
    """(days of the grid, quiet spells that can be followed, how many ended with a return)."""
    set_variables(
        con,
        {
            "cjm_churn_as_of": t,
            "cjm_churn_grid": list(AUTO_GRID),
            "cjm_churn_horizon_days": int(horizon_days),
        },
    )
    sql = analytics_sql("churn_quiet_spells")
    return con.execute(f"select * from (\n{sql}\n) order by d").fetchall()


def _threshold_words(
    counted: list[tuple[int, int, float]],
    chosen: tuple[int, int, float],
    reaches_rate: bool,
    horizon_days: int,
) -> str:
    """Why the threshold `chosen` (days, spells, share back) was picked from `counted`, in words."""
    d, n, rate = chosen
    shorter = [c for c in counted if c[0] < d]
    before = (
        f" (after {shorter[-1][0]} days: {shorter[-1][2]:.0%} of {shorter[-1][1]:,})"
        if shorter
        else ""
    )
    rule = (
        f"the shortest quiet spell after which at most {AUTO_RETURN_RATE:.0%} come back"
        if reaches_rate
        else f"no spell of {AUTO_GRID[0]}-{AUTO_GRID[-1]} days has at most "
        f"{AUTO_RETURN_RATE:.0%} coming back; this one has the fewest"
    )
    follow = max(d, horizon_days)
    return (
        f"of {n:,} quiet spells that reached {d} days and could be followed {follow} days more, "
        f"{rate:.0%} ended with a return{before}: {rule}"
    )


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
    sql, variables = churn_state_query(definition, t, customers)
    set_variables(con, variables)
    df = con.execute(f"{sql} order by customer_id").df()
    df["customer_id"] = df["customer_id"].astype(str)
    df["is_churned"] = df["is_churned"].astype(bool)
    return df


def write_churn_state(
    con: duckdb.DuckDBPyConnection, definition: ChurnDefinition, table: str
) -> int:
    """Write customer_churn_state at the log end to `table`, by customer id; returns its rows.

    The same rows as customer_churn_state, without bringing millions of customers into pandas.
    """
    sql, variables = churn_state_query(definition, log_end(con))
    set_variables(con, variables)
    con.execute(f"create or replace table {quote_ident(table)} as {sql} order by customer_id")
    return int(con.execute(f"select count(*) from {quote_ident(table)}").fetchone()[0])


def churn_state_query(
    definition: ChurnDefinition, as_of: datetime, customers: str | None = None
) -> tuple[str, dict]:
    """SQL of customer_churn_state (unordered) and the DuckDB variables it reads."""
    sql = composed(analytics_sql("churn_state"), customers=customers)
    return sql, state_variables(definition, as_of) | scope_variables(customers)


def state_variables(definition: ChurnDefinition, as_of: datetime) -> dict[str, object]:
    """The variables sql/analytics/churn_state.sql reads: the time and the definition."""
    return {
        "cjm_churn_as_of": as_of,
        "cjm_churn_inactivity_days": definition.inactivity_days,
        "cjm_churn_exits": list(definition.exit_touchpoints),
    }


def churn_labels(
    con: duckdb.DuckDBPyConnection,
    definition: ChurnDefinition,
    as_of: datetime,
    states: dict[datetime, str] | None = None,
    customers: str | None = None,
) -> pd.DataFrame:
    """Every customer seen by as_of with their state then; churned = no activity in the horizon
    after it, or left through an exit touchpoint by its end (see the module docstring).

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
        set_variables(
            con,
            {
                "cjm_churn_as_of": as_of,
                "cjm_churn_state_before": states[as_of],
                "cjm_churn_state_after": states[end],
            },
        )
        sql = analytics_sql("churn_labels")
        out = con.execute(f"select * from (\n{sql}\n) order by customer_id").df()
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
    sql, variables = churn_state_query(definition, t, customers)
    set_variables(con, variables)
    con.execute(f"create temp table {quote_ident(name)} as {sql}")
    return name


def drop_states(con: duckdb.DuckDBPyConnection, states: dict[datetime, str]) -> None:
    """Drop the state tables of a churn_labels cache and empty it."""
    for table in states.values():
        drop_table(con, table)
    states.clear()


def log_start(con: duckdb.DuckDBPyConnection) -> datetime | None:
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
    before the holdout cutoff (see holdout_metrics).
    """
    horizon = timedelta(days=horizon_days)
    step = timedelta(days=cutoff_step_days(horizon_days))
    cutoffs = [end - horizon - step * i for i in range(n)]
    # A cutoff needs a horizon after it (the label) and some history before it (behaviour): half a
    # horizon, so a log of three horizons still gives a training cutoff and a holdout.
    return sorted(c for c in cutoffs if c >= start + horizon / 2)


def hash_order(random_state: int) -> str:
    """SQL ordering customers at random, the same for the same random_state on any machine and in
    any row order (md5 of the id, ties by id)."""
    return f"md5_number(customer_id || ':{int(random_state)}'), customer_id"


def customer_sample(
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
        order by {hash_order(random_state)} limit {int(n)}
        """,
        {"t": as_of},
    )
    return name


def drop_table(con: duckdb.DuckDBPyConnection, table: str | None) -> None:
    if table is not None:
        con.execute(f"drop table if exists {quote_ident(table)}")

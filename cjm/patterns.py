"""Touchpoint sequences that precede churn: n-grams of each customer's last events, with lift.

For every customer, take their last `last_n` events (for churners: the last ones strictly before
churned_at, so an exit touchpoint itself is not part of its own precursor), and every contiguous
run of min_length..max_length touchpoints in them ('a > b > c'). A pattern's churn rate is the share
of customers having it who churned; lift divides that by the churn rate of all customers with at
least min_length such events (the customers who could have any pattern). Each pattern is tested
for over-representation of churners (one-sided Fisher exact test, i.e. hypergeometric tail) and
p-values are adjusted for the number of patterns tested (Benjamini-Hochberg). Kept: q <= max_q
and lift >= min_lift (a practically relevant rise, not just a significant one).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import hypergeom

PATTERN_COLUMNS = [
    "pattern",
    "length",
    "customer_count",
    "churned_count",
    "churn_rate",
    "lift",
    "p_value",
    "q_value",
]


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as the input."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(scaled[::-1])[::-1].clip(max=1.0)
    out = np.empty(m)
    out[order] = q
    return out


def churn_patterns(
    con: duckdb.DuckDBPyConnection,
    churn_state: pd.DataFrame,
    min_length: int = 2,
    max_length: int = 4,
    last_n: int = 6,
    min_customers: int = 5,
    max_q: float = 0.05,
    min_lift: float = 1.1,
) -> pd.DataFrame:
    """Significant churn-precursor sequences, ranked by lift then customer count."""
    if not 1 <= min_length <= max_length <= last_n:
        raise ValueError("need 1 <= min_length <= max_length <= last_n")
    state = churn_state[["customer_id", "is_churned", "churned_at"]].copy()
    state["customer_id"] = state["customer_id"].astype(str)
    state["is_churned"] = state["is_churned"].astype(bool)
    state["churned_at"] = pd.to_datetime(state["churned_at"], utc=True)
    view = "_cjm_patterns_churn_state"
    con.register(view, state)
    try:
        counts, population = _pattern_counts(con, view, min_length, max_length, last_n)
    finally:
        con.unregister(view)
    n_customers, n_churned = population
    empty = pd.DataFrame({c: pd.Series(dtype=float) for c in PATTERN_COLUMNS}).astype(
        {"pattern": str, "length": "int64", "customer_count": "int64", "churned_count": "int64"}
    )
    counts = counts[counts["customer_count"] >= min_customers]
    if counts.empty or n_churned == 0 or n_customers == 0:
        return empty
    overall = n_churned / n_customers
    out = counts.copy()
    out["churn_rate"] = out["churned_count"] / out["customer_count"]
    out["lift"] = out["churn_rate"] / overall
    # P(at least this many churners among the pattern's customers) when churn ignores the pattern.
    out["p_value"] = hypergeom.sf(
        out["churned_count"] - 1, n_customers, n_churned, out["customer_count"]
    )
    out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
    # With many customers a 0.2% lift is "significant" yet useless: both filters apply.
    out = out[(out["q_value"] <= max_q) & (out["lift"] >= min_lift)]
    out = out.sort_values(
        ["lift", "customer_count", "length", "pattern"],
        ascending=[False, False, True, True],
        kind="stable",
    )
    return out[PATTERN_COLUMNS].reset_index(drop=True)


def _pattern_counts(
    con: duckdb.DuckDBPyConnection, view: str, min_length: int, max_length: int, last_n: int
) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Per pattern: customers having it and churners among them; and the population sizes."""
    sql = f"""
        with ev as (
            select e.customer_id, e.touchpoint, e.event_time, e.event_index, e.event_id,
                   s.is_churned
            from events e join {view} s on s.customer_id = e.customer_id
            where e.touchpoint is not null
              and (not s.is_churned or s.churned_at is null or e.event_time < s.churned_at)
        ), tail as (
            select *, row_number() over (
                partition by customer_id order by event_time desc, event_index desc, event_id desc
            ) as back
            from ev qualify back <= {int(last_n)}
        ), population as (
            select count(*) as n_customers, count(*) filter (where is_churned) as n_churned
            from (
                select customer_id, any_value(is_churned) as is_churned
                from tail group by customer_id having count(*) >= {int(min_length)}
            )
        ), grams as (
            select customer_id, is_churned, list(touchpoint) over (
                partition by customer_id order by back desc
                rows between current row and {int(max_length) - 1} following
            ) as seq
            from tail
        ), expanded as (
            select distinct customer_id, is_churned, gram_length,
                   array_to_string(list_slice(seq, 1, gram_length), ' > ') as pattern
            from grams, range({int(min_length)}, {int(max_length) + 1}) as r(gram_length)
            where len(seq) >= gram_length
        ), counts as (
            select pattern, any_value(gram_length)::bigint as length,
                   count(*)::bigint as customer_count,
                   count(*) filter (where is_churned)::bigint as churned_count
            from expanded group by pattern
        )
        select p.n_customers, p.n_churned, c.*
        from population p left join counts c on true
        order by c.pattern
    """
    df = con.execute(sql).df()
    population = (
        (int(df["n_customers"].iloc[0]), int(df["n_churned"].iloc[0])) if len(df) else (0, 0)
    )
    counts = df.dropna(subset=["pattern"]).drop(columns=["n_customers", "n_churned"])
    counts = counts.astype({"length": "int64", "customer_count": "int64", "churned_count": "int64"})
    return counts.reset_index(drop=True), population

"""Touchpoint sequences that precede churn: sequences in each customer's last events, with lift.

For every customer, take their last `last_n` events (for churners: the last ones strictly before
churned_at, so an exit touchpoint itself is not part of its own precursor; for retained customers:
their last events so far, the same point in their journey), and in them every sequence of
min_length..max_length touchpoints, both contiguous ('a > b > c': directly one after the other)
and with gaps ('a ... b ... c': in this order, other events allowed between). A pattern's churn
rate is the share of customers having it who churned, with a 95% Wilson interval; lift divides
rate and interval by the churn rate of all customers with at least min_length such events (the
customers who could have any pattern). Each pattern is tested for over-representation of churners
(one-sided Fisher exact test, i.e. hypergeometric tail) and p-values are adjusted for the number of
patterns tested (Benjamini-Hochberg). Kept: q <= max_q and lift >= min_lift (a practically
relevant rise, not just a significant one), and only closed patterns: a pattern found in exactly
the same customers as a longer (or contiguous) one that contains it says nothing more. Ranked by
the lower end of the lift interval, so a rare pattern's lucky 100% does not outrank a pattern that
is both strong and common.
"""

from __future__ import annotations

from datetime import datetime
from itertools import combinations

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, hypergeom, norm

from cjm.churn.queries import analytics_sql, composed, set_variables

PATTERN_COLUMNS = [
    "pattern",
    "length",
    "is_contiguous",
    "customer_count",
    "churned_count",
    "churn_rate",
    "churn_rate_low",
    "churn_rate_high",
    "lift",
    "lift_low",
    "lift_high",
    "p_value",
    "q_value",
]
CONTIGUOUS, GAPPED = " > ", " ... "
CONFIDENCE = 0.95


def wilson_interval(k: np.ndarray, n: np.ndarray, confidence: float = CONFIDENCE):
    """Wilson score interval of the proportions k/n (arrays); good at small n and near 0 or 1."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), same order as the input."""
    return false_discovery_control(np.asarray(p_values, dtype=float), method="bh")


def churn_patterns(
    con: duckdb.DuckDBPyConnection,
    churn_state: str,
    min_length: int = 2,
    max_length: int = 4,
    last_n: int = 6,
    min_customers: int = 5,
    max_q: float = 0.05,
    min_lift: float = 1.1,
    retained_until: datetime | None = None,
) -> pd.DataFrame:
    """Significant churn-precursor sequences, ranked by the lower end of their lift interval.

    churn_state: a table or view with customer_churn_state's customer_id, is_churned and
    churned_at. retained_until: look at customers who are not churned only up to this time (the
    state time minus the inactivity threshold), so they are known to have come back after the
    events that are compared; without it a churner not yet detected (silent for less than the
    threshold) would count as retained, with their precursors. Default: all their events.
    """
    if not 1 <= min_length <= max_length <= last_n:
        raise ValueError("need 1 <= min_length <= max_length <= last_n")
    set_variables(
        con,
        {
            "cjm_pattern_states": churn_state,
            "cjm_pattern_retained_until": retained_until,
            "cjm_pattern_last_n": int(last_n),
            "cjm_pattern_min_length": int(min_length),
            "cjm_pattern_positions": _positions(min_length, max_length, last_n),
        },
    )
    counts, (n_customers, n_churned) = _pattern_counts(con)
    counts = counts[counts["customer_count"] >= min_customers]
    if counts.empty or n_churned == 0 or n_customers == 0:
        return _no_patterns()
    out = _pattern_statistics(counts, n_customers, n_churned)
    # With many customers a 0.2% lift is "significant" yet useless: both filters apply.
    out = out[(out["q_value"] <= max_q) & (out["lift"] >= min_lift)]
    out = _closed(out)
    out = out.sort_values(
        ["lift_low", "customer_count", "length", "is_contiguous", "pattern"],
        ascending=[False, False, True, False, True],
        kind="stable",
    )
    return out[PATTERN_COLUMNS].reset_index(drop=True)


def _no_patterns() -> pd.DataFrame:
    """An empty churn_patterns frame with its columns and types."""
    return pd.DataFrame({c: pd.Series(dtype=float) for c in PATTERN_COLUMNS}).astype(
        {
            "pattern": str,
            "length": "int64",
            "is_contiguous": bool,
            "customer_count": "int64",
            "churned_count": "int64",
        }
    )


def _pattern_statistics(counts: pd.DataFrame, n_customers: int, n_churned: int) -> pd.DataFrame:
    """Each pattern's churn rate and lift with their Wilson intervals, p-value and q-value."""
    overall = n_churned / n_customers
    out = counts.copy()
    out["churn_rate"] = out["churned_count"] / out["customer_count"]
    out["lift"] = out["churn_rate"] / overall
    low, high = wilson_interval(out["churned_count"], out["customer_count"])
    out["churn_rate_low"], out["churn_rate_high"] = low, high
    out["lift_low"], out["lift_high"] = low / overall, high / overall
    # P(at least this many churners among the pattern's customers) when churn ignores the pattern.
    out["p_value"] = hypergeom.sf(
        out["churned_count"] - 1, n_customers, n_churned, out["customer_count"]
    )
    out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
    return out


def _tokens(pattern: str) -> list[str]:
    return pattern.replace(GAPPED, CONTIGUOUS).split(CONTIGUOUS)


def _contains(longer: list[str], shorter: list[str]) -> bool:
    """shorter occurs in longer as a subsequence (order kept, gaps allowed)."""
    it = iter(longer)
    return all(token in it for token in shorter)


def _closed(patterns: pd.DataFrame) -> pd.DataFrame:
    """Drop a pattern when one that contains it has exactly the same customers and churners.

    'a ... b' held by the same customers as 'a > b', or 'b > c' by the same as 'a > b > c', adds
    nothing; equal counts of a containing pattern mean the same customer set (it is a subset).
    """
    keep = np.ones(len(patterns), dtype=bool)
    rows = patterns.reset_index(drop=True)
    for _, group in rows.groupby(["customer_count", "churned_count"], sort=False):
        if len(group) < 2:
            continue
        items = [
            (i, _tokens(p), bool(c))
            for i, p, c in zip(group.index, group["pattern"], group["is_contiguous"], strict=True)
        ]
        for i, tokens, contiguous in items:
            for j, other, other_contiguous in items:
                if i == j:
                    continue
                more_specific = len(other) > len(tokens) or (
                    len(other) == len(tokens) and other_contiguous and not contiguous
                )
                if more_specific and _contains(other, tokens):
                    keep[i] = False
                    break
    return rows[keep]


def _positions(min_length: int, max_length: int, last_n: int) -> list[dict]:
    """Every increasing choice of positions in a tail of last_n events: contiguous runs and, for
    gapped patterns, all subsequences (the events between may be anything)."""
    positions = []
    for k in range(min_length, max_length + 1):
        for idx in combinations(range(1, last_n + 1), k):
            contiguous = idx[-1] - idx[0] == k - 1
            for gapped in (False, True) if contiguous else (True,):
                positions.append(
                    {
                        "idx": list(idx),
                        "gram_length": k,
                        "is_contiguous": not gapped,
                        "last_position": idx[-1],
                    }
                )
    return positions


def _tail_patterns_query(tails: str, body: str) -> str:
    """`body` over tails (the query named `tails`) and tail_patterns: the patterns in each tail."""
    parts = {"tails": analytics_sql(tails), "tail_patterns": analytics_sql("tail_patterns")}
    return composed(analytics_sql(body), parts)


def _pattern_counts(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, tuple[int, int]]:
    """Per pattern: customers having it and churners among them; and the population sizes (the
    cjm_pattern_ variables set by churn_patterns)."""
    sql = _tail_patterns_query("churn_pattern_tails", "churn_pattern_counts")
    df = con.execute(f"{sql} order by pattern").df()
    population = (
        (int(df["n_customers"].iloc[0]), int(df["n_churned"].iloc[0])) if len(df) else (0, 0)
    )
    counts = df.dropna(subset=["pattern"]).drop(columns=["n_customers", "n_churned"])
    counts = counts.astype(
        {
            "length": "int64",
            "is_contiguous": bool,
            "customer_count": "int64",
            "churned_count": "int64",
        }
    )
    return counts.reset_index(drop=True), population


def customer_patterns(
    con: duckdb.DuckDBPyConnection,
    customers: pd.Series,
    patterns: pd.DataFrame,
    as_of: datetime,
    last_n: int = 6,
) -> pd.DataFrame:
    """For each given customer whose last `last_n` events (at or before as_of) hold one of the
    patterns: the highest-ranked one (customer_id, pattern, lift).

    Each customer's own patterns are listed from their tail the way churn_patterns lists them and
    looked up by name (a hash join), so the work grows with customers, not customers x patterns.
    """
    empty = pd.DataFrame(
        {"customer_id": pd.Series(dtype=str), "pattern": pd.Series(dtype=str), "lift": []}
    )
    if patterns.empty or customers.empty:
        return empty
    ranked = patterns.reset_index(drop=True)
    table = pd.DataFrame(
        {
            "pattern_rank": range(len(ranked)),
            "pattern": ranked["pattern"].astype(str),
            "lift": ranked["lift"].astype(float),
        }
    )
    lengths = ranked["pattern"].map(lambda p: len(_tokens(str(p))))
    positions = _positions(int(lengths.min()), min(int(lengths.max()), last_n), last_n)
    con.register("_cjm_pattern_table", table)
    con.register(
        "_cjm_pattern_customers", pd.DataFrame({"customer_id": customers.astype(str).unique()})
    )
    set_variables(
        con,
        {
            "cjm_churn_as_of": as_of,
            "cjm_pattern_customers": "_cjm_pattern_customers",
            "cjm_pattern_table": "_cjm_pattern_table",
            "cjm_pattern_last_n": int(last_n),
            "cjm_pattern_positions": positions,
        },
    )
    try:
        sql = _tail_patterns_query("customer_pattern_tails", "customer_pattern_matches")
        df = con.execute(f"{sql} order by customer_id").df()
    finally:
        con.unregister("_cjm_pattern_table")
        con.unregister("_cjm_pattern_customers")
    df["customer_id"] = df["customer_id"].astype(str)
    return df

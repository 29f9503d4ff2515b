"""Lifts of an outcome with a touchpoint against without it: plain and adjusted for activity.

Plain: rate with / rate without (customers missing from an outcome's known set count in neither
rate). NaN when a rate is undefined or the untouched rate is 0.

Activity-adjusted: customers who touch more touchpoints are the more active ones, and active
customers convert more and churn less, so "with vs without" mostly compares engaged customers with
disengaged ones. Each lift is therefore also computed within strata of customers of similar
activity (their number of events: 1..STRATUM_EXACT each, then bins STRATUM_STEP times wider; the
strata are made in sql/analytics/insight_customer_strata.sql) and pooled with the Mantel-Haenszel
risk ratio, with its 95% confidence interval (Greenland-Robins variance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

Z95 = 1.959964
# Activity strata: customers with 1..STRATUM_EXACT events each form their own stratum, then bins
# STRATUM_STEP times wider than the last.
STRATUM_EXACT, STRATUM_STEP = 8, 1.5

# Outcomes whose lifts are adjusted for activity: name -> (touched-and-yes column, touched column,
# total-yes column, total column) in the stratified counts.
ADJUSTED = {
    "conversion": ("converted_with", "reach", "converted", "customers"),
    "churn": ("churned_with", "churn_known_with", "churned", "churn_known"),
    "success": ("succeeded_with", "reach", "succeeded", "customers"),
    "failure": ("failed_with", "reach", "failed", "customers"),
}
ADJUSTED_COLUMNS = [f"{o}_lift_{part}" for o in ADJUSTED for part in ("adjusted", "low", "high")]


def rates(
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


def adjusted_lift(
    touched: pd.DataFrame, totals: pd.DataFrame, keys: tuple[str, ...] = ("touchpoint",)
) -> pd.DataFrame:
    """Mantel-Haenszel risk ratio over strata with its 95% interval, per touched group.

    `touched`: the `keys` naming a group (default: a touchpoint), stratum, n (customers in the
    group), yes (of them, with the outcome); `totals`: stratum (and any of `keys` the totals are
    per), n, yes over all customers they compare with. The rest of a stratum is the untouched
    group. Returns keys -> adjusted, low, high (NaN where undefined: no stratum with both groups,
    nobody with the outcome on one side).
    """
    on = [column for column in totals.columns if column not in ("n", "yes")]
    m = touched.merge(totals, on=on, suffixes=("", "_all"))
    # Summed in a fixed order: DuckDB returns the strata in any order, and float sums would then
    # differ in their last bits between two builds of the same files.
    m = m.sort_values([*keys, "stratum"], kind="stable", ignore_index=True)
    n1, a = m["n"].astype(float), m["yes"].astype(float)
    big_n = m["n_all"].astype(float)
    n0, b = big_n - n1, m["yes_all"].astype(float) - a
    with np.errstate(divide="ignore", invalid="ignore"):
        parts = pd.DataFrame(
            {
                **{key: m[key] for key in keys},
                "r": (a * n0 / big_n).where(big_n > 0, 0.0),
                "s": (b * n1 / big_n).where(big_n > 0, 0.0),
                "p": ((n1 * n0 * (a + b) - a * b * big_n) / big_n**2).where(big_n > 0, 0.0),
            }
        )
        sums = parts.groupby(keys[0] if len(keys) == 1 else list(keys))[["r", "s", "p"]].sum()
        lift = (sums["r"] / sums["s"]).where(sums["s"] > 0)
        se = np.sqrt(sums["p"] / (sums["r"] * sums["s"])).where((sums["r"] > 0) & (sums["s"] > 0))
        low, high = lift * np.exp(-Z95 * se), lift * np.exp(Z95 * se)
    return pd.DataFrame({"adjusted": lift, "low": low, "high": high})


def add_adjusted_lifts(
    out: pd.DataFrame, by_stratum: pd.DataFrame, strata: pd.DataFrame, has_churn: bool
) -> None:
    """Set the ADJUSTED_COLUMNS of `out` (one row per touchpoint) from the stratified counts.

    `by_stratum`: touchpoint, stratum and the touched columns of ADJUSTED; `strata`: stratum and
    the total columns. Churn columns are NaN when churn is unknown.
    """
    for name, (yes_with, n_with, yes_all, n_all) in ADJUSTED.items():
        adjusted = adjusted_lift(
            by_stratum[["touchpoint", "stratum", n_with, yes_with]].set_axis(
                ["touchpoint", "stratum", "n", "yes"], axis=1
            ),
            strata[["stratum", n_all, yes_all]].set_axis(["stratum", "n", "yes"], axis=1),
        )
        unknown = name == "churn" and not has_churn
        for part in ("adjusted", "low", "high"):
            values = out["touchpoint"].map(adjusted[part]).astype(float)
            out[f"{name}_lift_{part}"] = np.nan if unknown else values

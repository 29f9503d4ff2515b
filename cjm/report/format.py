"""How values read on the report page: counts, shares, money, changes and times, with a dash
for a missing value."""

from __future__ import annotations

import math

import pandas as pd


def missing(value: object) -> bool:
    """Whether a cell has no value (None, NaN or pandas' NA)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def fmt_int(value: object) -> str:
    """1234567 -> '1,234,567'; missing -> '–'."""
    return "–" if missing(value) else f"{int(value):,}"


def fmt_pct(value: object, digits: int = 0) -> str:
    """0.1234 -> '12%'."""
    return "–" if missing(value) else f"{float(value):.{digits}%}"


def fmt_num(value: object, digits: int = 2) -> str:
    """A plain number with fixed decimals."""
    return "–" if missing(value) else f"{float(value):,.{digits}f}"


def fmt_money(value: object) -> str:
    """Revenue without a currency symbol (the log does not say which currency)."""
    if missing(value):
        return "–"
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"


def fmt_delta(value: int | None, noun: str = "") -> str | None:
    """+12 / −3 / no change; None when there is no previous run."""
    if value is None:
        return None
    if value == 0:
        return "no change since last run"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value):,}{noun} since last run"


def fmt_time(value: object) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    if missing(value):
        return "–"
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def fmt_points(value: object) -> str:
    """A change of a rate in percentage points, signed."""
    if missing(value):
        return "–"
    points = float(value) * 100
    return f"{'+' if points >= 0 else '−'}{abs(points):.1f}"


def fmt_lift(value: object) -> str:
    """A ratio of rates: 1.234 -> '×1.23'."""
    return "–" if missing(value) else f"×{float(value):.2f}"

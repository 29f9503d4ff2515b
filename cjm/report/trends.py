"""The report's KPIs-over-time and stakeholders sections, from kpi_timeseries and touchpoint_owners
(read by cjm.report.data). Each says why it is empty: a database from before these tables, a log
of one period, no resource column, no pain point.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cjm.report.format import fmt_lift, fmt_pct, fmt_points, missing
from cjm.report.style import GRID, figure_html, label, layout, rgba

TREND_ROWS = 8  # latest periods listed under the trend chart
OWNERS_PER_TOUCHPOINT = 5
# Teams handling fewer customers at a pain point than this are left out: their rates are noise.
OWNER_MIN_CUSTOMERS = 5
RATE_COLOR, CHURN_COLOR, ACTIVE_COLOR = "#1c9fb8", "#e03131", "#adb5bd"


def trend_figure(trend: pd.DataFrame, noun: str = "customers") -> go.Figure:
    """Conversion rate per period with its 95% interval; active and churned below."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4]
    )
    x = trend["period_start"].astype(str).tolist()
    fig.add_trace(
        go.Scatter(
            x=x + x[::-1],
            y=trend["conversion_rate_high"].tolist() + trend["conversion_rate_low"].tolist()[::-1],
            fill="toself",
            fillcolor=rgba(RATE_COLOR, 0.15),
            line={"width": 0},
            hoverinfo="skip",
            name="95% interval",
        ),
        row=1,
        col=1,
    )
    partial = trend["is_partial"].fillna(False).astype(bool)
    fig.add_trace(
        go.Scatter(
            x=x,
            y=trend["conversion_rate"],
            mode="lines+markers",
            line={"color": RATE_COLOR, "width": 2},
            marker={
                "size": 8,
                "color": ["white" if p else RATE_COLOR for p in partial],
                "line": {"color": RATE_COLOR, "width": 2},
            },
            customdata=list(zip(trend["active_customers"], partial, strict=True)),
            hovertemplate=(
                "<b>%{x}</b><br>conversion rate %{y:.1%}<br>"
                f"of %{{customdata[0]:,}} active {label(noun)}<extra></extra>"
            ),
            name="Conversion rate",
        ),
        row=1,
        col=1,
    )
    for column, color, name in (
        ("active_customers", ACTIVE_COLOR, f"Active {label(noun)}"),
        ("churned_customers", CHURN_COLOR, f"Churned {label(noun)}"),
    ):
        fig.add_trace(
            go.Bar(x=x, y=trend[column], marker_color=color, name=name, opacity=0.85),
            row=2,
            col=1,
        )
    fig.update_yaxes(tickformat=".0%", gridcolor=GRID, row=1, col=1)
    fig.update_yaxes(gridcolor=GRID, row=2, col=1)
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.12})
    return layout(fig, 420)


def _compared(trend: pd.DataFrame) -> pd.Series | None:
    """The latest whole period that has a previous one (else the latest that has one)."""
    comparable = trend[trend["previous_conversion_rate"].notna()]
    whole = comparable[~comparable["is_partial"].fillna(False).astype(bool)]
    chosen = whole if len(whole) else comparable
    return chosen.iloc[-1] if len(chosen) else None


def change_sentence(row: pd.Series, period: str) -> str:
    """The latest change of the conversion rate with its interval, in words."""
    low, high = row["conversion_rate_change_low"], row["conversion_rate_change_high"]
    verdict = (
        "a real rise"
        if low > 0
        else "a real fall"
        if high < 0
        else "within chance: the interval includes no change"
    )
    rate, rate_low, rate_high, before = (
        fmt_pct(row[c], 1)
        for c in (
            "conversion_rate",
            "conversion_rate_low",
            "conversion_rate_high",
            "previous_conversion_rate",
        )
    )
    return (
        f"Conversion rate in the {period} from {row['period_start']:%Y-%m-%d}: "
        f"{rate} (95% interval {rate_low} to {rate_high}), "
        f"{fmt_points(row['conversion_rate_change'])} points "
        f"against the {period} before ({before}; 95% interval of "
        f"the change {fmt_points(low)} to {fmt_points(high)} points): {verdict}."
    )


def no_trend(note: str) -> dict:
    """The KPIs-over-time section when there is no trend to show, saying why."""
    return {"note": note, "period": None}


def trend_view(trend: pd.DataFrame | None, noun: str = "customers") -> dict:
    """The KPIs-over-time section: figure, change sentence and latest rows, or a note why not."""
    if trend is None:
        return no_trend("This database has no kpi_timeseries table (built by newer runs).")
    if len(trend) < 2:
        return no_trend("The log spans a single period, so there is no trend to show yet.")
    period = str(trend["period"].iloc[0])
    row = _compared(trend)
    rows = [
        {
            "period_start": f"{r.period_start:%Y-%m-%d}",
            "partial": bool(r.is_partial),
            "active": f"{int(r.active_customers):,}",
            "converted": f"{int(r.converted_customers):,}",
            "rate": fmt_pct(r.conversion_rate, 1),
            "change": fmt_points(r.conversion_rate_change),
            "churned": f"{int(r.churned_customers):,}",
            "sentiment": "–" if missing(r.mean_sentiment) else f"{r.mean_sentiment:+.2f}",
            "revenue": "–" if missing(r.revenue) else f"{r.revenue:,.0f}",
        }
        for r in trend.tail(TREND_ROWS).iloc[::-1].itertuples()
    ]
    return {
        "note": None,
        "period": period,
        "html": figure_html(trend_figure(trend, noun), "fig-trend"),
        "change": change_sentence(row, period) if row is not None else None,
        "rows": rows,
    }


def owners_view(owners: pd.DataFrame | None) -> dict:
    """The stakeholders section: the teams behind each pain point, or a note why there are none."""
    if owners is None:
        return {"note": "This database has no touchpoint_owners table (built by newer runs)."}
    if owners.attrs.get("rows", len(owners)) == 0:
        return {
            "note": "The log names no team or person behind its events: map that column as "
            "`columns: resource: <column>` in the config to see who is behind each touchpoint."
        }
    shown = owners[owners["customer_count"] >= OWNER_MIN_CUSTOMERS]
    if shown.empty:
        return {
            "note": "No touchpoint is a pain point (or none has a team handling "
            f"{OWNER_MIN_CUSTOMERS} or more at it), so no team is named here."
        }
    groups = []
    for touchpoint, rows in shown.groupby("touchpoint", sort=True):
        top = rows.head(OWNERS_PER_TOUCHPOINT)
        groups.append(
            {
                "touchpoint": touchpoint,
                "teams": [
                    {
                        "resource": r.resource,
                        "customers": f"{int(r.customer_count):,}",
                        "share": fmt_pct(r.share_of_touchpoint_events, 0),
                        "churn_lift": fmt_lift(r.churn_lift),
                        "conversion_lift": fmt_lift(r.conversion_lift),
                        "failure_lift": fmt_lift(r.failure_lift),
                        "sentiment": "–"
                        if missing(r.mean_sentiment)
                        else f"{r.mean_sentiment:+.2f}",
                    }
                    for r in top.itertuples()
                ],
                "more": max(len(rows) - len(top), 0),
            }
        )
    names = shown.sort_values("event_count", ascending=False)["resource"].drop_duplicates()
    return {"note": None, "groups": groups, "named": [str(n) for n in names.head(10)]}

"""The report's emotion curve: mean sentiment by journey stage and by touchpoint, with points on
too few rated events drawn hollow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cjm.report.data import JOURNEY_STAGES
from cjm.report.style import GRID, MUTED, NO_STAGE_COLOR, STAGE_COLORS, label, layout


def _sentiment_colors(values: pd.Series) -> list[str]:
    return [
        "#e03131" if v <= -0.3 else "#2f9e44" if v >= 0.3 else "#868e96" for v in values.fillna(0)
    ]


def _support_marker(colors: list[str], counts: pd.Series, min_events: int, size: int) -> dict:
    """Filled markers for points on at least min_events rated events, hollow ones below it."""
    thin = (counts < min_events).to_numpy()
    return {
        "size": size,
        "symbol": ["circle-open" if t else "circle" for t in thin],
        "color": colors,
        "line": {"width": [3 if t else 1 for t in thin], "color": colors},
    }


def thin_emotion_points(
    stage_sentiment: pd.DataFrame, touchpoints: pd.DataFrame, min_events: int
) -> list[str]:
    """'Purchase stage (12 events)' for every emotion-curve point below min_events events."""
    stages = [
        f"{s.capitalize()} stage ({n:,} events)"
        for s, n in zip(stage_sentiment["stage"], stage_sentiment["sentiment_count"], strict=True)
        if n < min_events
    ]
    rated = touchpoints[touchpoints["sentiment_count"] > 0]
    points = [
        f"{label(t)} ({n:,} events)"
        for t, n in zip(rated["touchpoint"], rated["sentiment_count"], strict=True)
        if n < min_events
    ]
    return stages + points


def emotion_figure(
    stage_sentiment: pd.DataFrame, touchpoints: pd.DataFrame, min_events: int = 1
) -> go.Figure:
    """Mean sentiment by stage and by touchpoint, touchpoints in stage and journey order.

    Each point is labelled with the number of rated events it averages; points on fewer than
    `min_events` are hollow.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.32, 0.68],
        horizontal_spacing=0.08,
        subplot_titles=("By journey stage", "By touchpoint, in journey order"),
    )
    fig.add_trace(_stage_trace(stage_sentiment, min_events), row=1, col=1)
    fig.add_trace(_touchpoint_trace(touchpoints, min_events), row=1, col=2)
    for col in (1, 2):
        fig.add_hline(y=0, line={"color": MUTED, "width": 1, "dash": "dot"}, row=1, col=col)
        fig.update_yaxes(range=[-1.05, 1.15], zeroline=False, gridcolor=GRID, row=1, col=col)
    fig.update_yaxes(title_text="mean sentiment (−1 … +1)", row=1, col=1)
    fig.update_xaxes(tickangle=-35, row=1, col=2)
    return layout(fig, 420, margin={"l": 16, "r": 16, "t": 40, "b": 16})


def _stage_trace(stage_sentiment: pd.DataFrame, min_events: int) -> go.Scatter:
    """The curve of mean sentiment by journey stage, points in the stages' colours."""
    stage_counts = stage_sentiment["sentiment_count"]
    return go.Scatter(
        x=[s.capitalize() for s in stage_sentiment["stage"]],
        y=stage_sentiment["mean_sentiment"],
        mode="lines+markers+text",
        line={"shape": "spline", "color": "#495057", "width": 3},
        marker=_support_marker(
            [STAGE_COLORS.get(s, NO_STAGE_COLOR) for s in stage_sentiment["stage"]],
            stage_counts,
            min_events,
            12,
        ),
        text=[f"n={n:,}" for n in stage_counts],
        textposition="top center",
        textfont={"size": 10, "color": MUTED},
        customdata=stage_counts,
        hovertemplate="<b>%{x}</b><br>mean sentiment %{y:+.2f}<br>"
        "%{customdata:,} rated events<extra></extra>",
        showlegend=False,
    )


def _touchpoint_trace(touchpoints: pd.DataFrame, min_events: int) -> go.Scatter:
    """The curve of mean sentiment by rated touchpoint, in stage order, then journey position."""
    rated = touchpoints[touchpoints["sentiment_count"] > 0].copy()
    rank = {s: i for i, s in enumerate((*JOURNEY_STAGES, "exit"))}
    rated["stage_rank"] = rated["stage"].map(rank).fillna(len(rank))
    rated = rated.sort_values(["stage_rank", "mean_position", "touchpoint"])
    return go.Scatter(
        x=[label(t) for t in rated["touchpoint"]],
        y=rated["mean_sentiment"],
        mode="lines+markers+text",
        line={"shape": "spline", "color": "#adb5bd", "width": 2},
        marker=_support_marker(
            _sentiment_colors(rated["mean_sentiment"]), rated["sentiment_count"], min_events, 11
        ),
        text=[f"n={n:,}" for n in rated["sentiment_count"]],
        textposition="top center",
        textfont={"size": 9, "color": MUTED},
        customdata=np.column_stack(
            [rated["sentiment_count"], [label(s or "no stage") for s in rated["stage"]]]
        ),
        hovertemplate="<b>%{x}</b> (%{customdata[1]})<br>mean sentiment %{y:+.2f}<br>"
        "%{customdata[0]:,} rated events<extra></extra>",
        showlegend=False,
    )

"""Plotly figures of the journey-map report: stage funnel, journey flow, lift map, personas.

The transition graph is drawn in graph_chart, the emotion curve in emotion_chart, churn's figures
in churn_charts; colours and labels come from style.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from cjm.report.data import FLOW_STEPS
from cjm.report.style import (
    ENDED_COLOR,
    GRID,
    MUTED,
    NO_STAGE_COLOR,
    OTHER_COLOR,
    ROLE_COLORS,
    ROLE_NAMES,
    STAGE_COLORS,
    label,
    layout,
    rgba,
)

FLOW_TOP = 8  # touchpoints shown per step of the flow; the rest are pooled as "other"
FLOW_LABEL_SHARE = 0.015  # nodes with fewer customers than this share go unlabelled


def funnel_figure(funnel: pd.DataFrame, noun: str = "customers") -> go.Figure:
    """Customers who reached each journey stage or a later one."""
    touched = funnel["touched"].tolist()
    fig = go.Figure(
        go.Funnel(
            y=[s.capitalize() for s in funnel["stage"]],
            x=funnel["customer_count"],
            texttemplate="%{value:,}<br>%{percentInitial:.0%}",
            marker={"color": [STAGE_COLORS.get(s, NO_STAGE_COLOR) for s in funnel["stage"]]},
            connector={"fillcolor": "#eef1f6", "line": {"color": GRID, "width": 1}},
            customdata=touched,
            hovertemplate=(
                f"<b>%{{y}}</b><br>%{{x:,}} {noun} reached this stage or a later one<br>"
                "%{customdata:,} had an event in it<extra></extra>"
            ),
        )
    )
    return layout(fig, 60 + 56 * len(funnel))


FlowNode = tuple[int, str, str]  # (step, kind: touchpoint/other/ended, touchpoint)


def _flow_node(step: int, touchpoint: str, shown: set[str]) -> FlowNode:
    return (step, "touchpoint", touchpoint) if touchpoint in shown else (step, "other", "")


def flow_links(paths: pd.DataFrame) -> dict[tuple[FlowNode, FlowNode], int]:
    """Customers moving between the nodes of the journey flow.

    Node (i, kind, name) is step i; at each step the FLOW_TOP busiest touchpoints have nodes of
    their own and the rest share an `other` node. A journey shorter than FLOW_STEPS ends in an
    `ended` node one step after its last touchpoint, so journeys that stop are seen to stop.
    """
    openings = paths.groupby("path", as_index=False).agg(
        steps=("steps", "first"), customers=("customer_count", "sum")
    )
    shown: list[set[str]] = []
    for step in range(FLOW_STEPS):
        at_step = openings[openings["steps"].map(len) > step]
        counts = at_step.groupby(at_step["steps"].map(lambda s, i=step: s[i]))["customers"].sum()
        shown.append(set(counts.sort_index().nlargest(FLOW_TOP).index))
    links: dict[tuple[FlowNode, FlowNode], int] = {}
    for steps, customers in zip(openings["steps"], openings["customers"], strict=True):
        nodes = [_flow_node(i, t, shown[i]) for i, t in enumerate(steps)]
        if len(nodes) < FLOW_STEPS:
            nodes.append((len(nodes), "ended", ""))
        for a, b in zip(nodes, nodes[1:], strict=False):
            links[(a, b)] = links.get((a, b), 0) + int(customers)
    return links


def _flow_sizes(links: dict[tuple[FlowNode, FlowNode], int]) -> dict[FlowNode, int]:
    """Customers through each node: its inflow, or its outflow for first-step nodes."""
    inflow: dict[FlowNode, int] = {}
    outflow: dict[FlowNode, int] = {}
    for (a, b), value in links.items():
        outflow[a] = outflow.get(a, 0) + value
        inflow[b] = inflow.get(b, 0) + value
    return {n: max(inflow.get(n, 0), outflow.get(n, 0)) for n in {*inflow, *outflow}}


def _flow_positions(
    index: dict[FlowNode, int], links: dict[tuple[FlowNode, FlowNode], int]
) -> tuple[list[float], list[float]]:
    """Node centres: one column per step; touchpoints by size, then other, then ended.

    Without them Plotly moves every node with no outgoing link (journeys that ended) to the last
    column, as if those journeys had reached step FLOW_STEPS.
    """
    size = _flow_sizes(links)
    kind_rank = {"touchpoint": 0, "other": 1, "ended": 2}
    x = [0.0] * len(index)
    y = [0.0] * len(index)
    columns = max(node[0] for node in index) + 1
    for step in range(columns):
        column = sorted(
            (n for n in index if n[0] == step), key=lambda n: (kind_rank[n[1]], -size[n], n[2])
        )
        total = sum(size[n] for n in column) or 1
        gap = 0.02
        scale = (1 - gap * (len(column) - 1)) / total
        top = 0.0
        for node in column:
            height = size[node] * scale
            x[index[node]] = min(max(step / max(columns - 1, 1), 0.001), 0.999)
            y[index[node]] = min(max(top + height / 2, 0.001), 0.999)
            top += height + gap
    return x, y


def flow_figure(paths: pd.DataFrame, stages: dict[str, str], noun: str = "customers") -> go.Figure:
    """Sankey of the first FLOW_STEPS distinct touchpoints of every journey."""
    links = flow_links(paths)
    index: dict[FlowNode, int] = {}
    for a, b in links:
        index.setdefault(a, len(index))
        index.setdefault(b, len(index))
    names, colors = [], []
    for _, kind, name in index:
        if kind == "touchpoint":
            names.append(label(name))
            colors.append(STAGE_COLORS.get(stages.get(name) or "", NO_STAGE_COLOR))
        else:
            names.append("other" if kind == "other" else "journey ends")
            colors.append(OTHER_COLOR if kind == "other" else ENDED_COLOR)
    ordered = sorted(links.items(), key=lambda kv: -kv[1])
    x, y = _flow_positions(index, links)
    # Thin nodes keep their name for the hover only: stacked labels of tiny nodes are unreadable.
    size = _flow_sizes(links)
    first = sum(v for n, v in size.items() if n[0] == 0)
    nodes = list(index)
    shown = [
        name if size[n] >= FLOW_LABEL_SHARE * first else ""
        for n, name in zip(nodes, names, strict=True)
    ]
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={
                "x": x,
                "y": y,
                "label": shown,
                "color": colors,
                "pad": 12,
                "thickness": 14,
                "line": {"width": 0},
                "customdata": [
                    [name, f"step {n[0] + 1}"] for n, name in zip(nodes, names, strict=True)
                ],
                "hovertemplate": "<b>%{customdata[0]}</b> (%{customdata[1]})<br>"
                f"%{{value:,}} {noun}<extra></extra>",
            },
            link={
                "source": [index[a] for (a, _), _ in ordered],
                "target": [index[b] for (_, b), _ in ordered],
                "value": [v for _, v in ordered],
                "color": [rgba(colors[index[a]], 0.28) for (a, _), _ in ordered],
                "customdata": [[names[index[a]], names[index[b]]] for (a, b), _ in ordered],
                "hovertemplate": f"%{{customdata[0]}} → %{{customdata[1]}}<br>%{{value:,}} {noun}"
                "<extra></extra>",
            },
        )
    )
    return layout(fig, 540)


def lift_figure(insights: pd.DataFrame, noun: str = "customers") -> go.Figure | None:
    """Conversion lift against churn lift per touchpoint, sized by reach, coloured by role."""
    frame = insights.dropna(subset=["conversion_lift", "churn_lift"])
    frame = frame[(frame["conversion_lift"] > 0) & (frame["churn_lift"] > 0)]
    if frame.empty:
        return None
    fig = go.Figure()
    biggest = max(float(frame["reach"].max()), 1.0)
    for role in ("pain_point", "moment_of_truth", "point_of_delight", "neutral"):
        part = frame[frame["role"] == role]
        if part.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=part["conversion_lift"],
                y=part["churn_lift"],
                mode="markers+text",
                name=ROLE_NAMES[role],
                text=[label(t) for t in part["touchpoint"]],
                textposition="top center",
                textfont={"size": 11, "color": MUTED},
                marker={
                    "size": [8 + 28 * math.sqrt(r / biggest) for r in part["reach"]],
                    "color": ROLE_COLORS[role],
                    "opacity": 0.85,
                    "line": {"width": 1, "color": "white"},
                },
                customdata=np.column_stack(
                    [part["reach"], [label(r) for r in part["role_reason"].fillna("")]]
                ),
                hovertemplate="<b>%{text}</b><br>conversion lift %{x:.2f}, churn lift %{y:.2f}"
                f"<br>reach %{{customdata[0]:,}} {noun}<br>%{{customdata[1]}}<extra></extra>",
            )
        )
    _lift_axes(fig)
    return layout(fig, 460, legend={"orientation": "h", "y": 1.08, "x": 0})


def _lift_axes(fig: go.Figure) -> None:
    """Log axes in powers of two, with dotted lines at a lift of 1 (no difference)."""
    for axis in ("x", "y"):
        fig.add_shape(
            type="line",
            xref="x" if axis == "x" else "paper",
            yref="paper" if axis == "x" else "y",
            x0=1 if axis == "x" else 0,
            x1=1 if axis == "x" else 1,
            y0=0 if axis == "x" else 1,
            y1=1 if axis == "x" else 1,
            line={"color": MUTED, "width": 1, "dash": "dot"},
        )
    ticks = [0.125, 0.25, 0.5, 1, 2, 4, 8, 16]
    ticktext = [f"{t:g}×" for t in ticks]
    fig.update_xaxes(
        type="log",
        tickvals=ticks,
        ticktext=ticktext,
        title_text="conversion lift: conversion rate with ÷ without (right is better)",
    )
    fig.update_yaxes(
        type="log",
        tickvals=ticks,
        ticktext=ticktext,
        gridcolor=GRID,
        title_text="churn lift (lower is better)",
    )


def persona_figure(personas: pd.DataFrame, noun: str = "customers") -> go.Figure:
    """Conversion and churn rate of each persona, next to the share of customers it holds."""
    names = [label(n) for n in personas["name"]]
    fig = go.Figure()
    for column, title, color in (
        ("share", f"share of {noun}", "#868e96"),
        ("conversion_rate", "conversion rate", "#2f9e44"),
        ("churn_rate", "churn rate", "#e03131"),
    ):
        if column not in personas:
            continue
        fig.add_trace(
            go.Bar(
                y=names,
                x=personas[column],
                name=title,
                orientation="h",
                marker={"color": color},
                hovertemplate="<b>%{y}</b><br>" + title + " %{x:.0%}<extra></extra>",
            )
        )
    fig.update_xaxes(tickformat=".0%", range=[0, 1], gridcolor=GRID)
    fig.update_yaxes(autorange="reversed")
    return layout(
        fig,
        110 + 70 * len(personas),
        barmode="group",
        legend={"orientation": "h", "y": 1.12, "x": 0},
    )

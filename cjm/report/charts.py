"""Plotly figures of the journey-map report.

Every string that comes from the user's data (touchpoint, persona and channel names) goes through
`label()` before it reaches a figure: Plotly reads a small HTML subset in text (`<b>`, `<a href>`,
`<br>`), so an escaped label is shown as written rather than interpreted. Plotly serialises
figures with `<`, `>` and `/` escaped, so no label can end the script element it sits in.
"""

from __future__ import annotations

import html
import math

import networkx as nx
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cjm.graphs.metrics import END, START
from cjm.report.data import FLOW_STEPS, JOURNEY_STAGES

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e6e9ee"
STAGE_COLORS = {
    "awareness": "#4c6ef5",
    "consideration": "#1c9fb8",
    "purchase": "#e8890c",
    "retention": "#2f9e44",
    "advocacy": "#ae3ec9",
    "exit": "#868e96",
}
ROLE_COLORS = {
    "pain_point": "#e03131",
    "moment_of_truth": "#7048e8",
    "point_of_delight": "#2f9e44",
    "neutral": "#adb5bd",
}
ROLE_NAMES = {
    "pain_point": "Pain point",
    "moment_of_truth": "Moment of truth",
    "point_of_delight": "Point of delight",
    "neutral": "Neutral",
}
NO_STAGE_COLOR, OTHER_COLOR, NODE_COLOR = "#9aa5b1", "#c3cad3", "#5c7cfa"
ENDED_COLOR = "#e9ecef"
FLOW_TOP = 8  # touchpoints shown per step of the flow; the rest are pooled as "other"
FLOW_LABEL_SHARE = 0.015  # nodes with fewer customers than this share go unlabelled
GRAPH_MAX_EDGES = 60
GRAPH_MIN_PROBABILITY = 0.05
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d"]}


def label(value: object) -> str:
    """A data value as text Plotly shows literally."""
    return html.escape(str(value), quote=False)


def _layout(fig: go.Figure, height: int, **extra) -> go.Figure:
    settings = {
        "template": "plotly_white",
        "height": height,
        "margin": {"l": 16, "r": 16, "t": 24, "b": 16},
        "font": {"family": FONT, "size": 13, "color": INK},
        "hoverlabel": {"font": {"family": FONT}},
    }
    fig.update_layout(**{**settings, **extra})
    return fig


def _rgba(color: str, alpha: float) -> str:
    color = color.lstrip("#")
    r, g, b = (int(color[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


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
    return _layout(fig, 60 + 56 * len(funnel))


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
                "color": [_rgba(colors[index[a]], 0.28) for (a, _), _ in ordered],
                "customdata": [[names[index[a]], names[index[b]]] for (a, b), _ in ordered],
                "hovertemplate": f"%{{customdata[0]}} → %{{customdata[1]}}<br>%{{value:,}} {noun}"
                "<extra></extra>",
            },
        )
    )
    return _layout(fig, 540)


def _kept_edges(graph: nx.DiGraph) -> list[tuple[str, str, dict]]:
    """Each touchpoint's most likely next step, then the busiest other moves up to the cap.

    The backbone keeps every touchpoint attached to the journeys around it (the busiest moves
    alone leave rare branches such as support loops floating apart from the rest).
    """
    edges = sorted(graph.edges(data=True), key=lambda e: (-e[2]["transition_count"], e[0], e[1]))
    backbone: dict[str, tuple[str, str, dict]] = {}
    for edge in sorted(edges, key=lambda e: (-e[2]["probability"], -e[2]["transition_count"])):
        if edge[1] != END or edge[0] == START:
            backbone.setdefault(edge[0], edge)
    kept = sorted(backbone.values(), key=lambda e: -e[2]["transition_count"])[:GRAPH_MAX_EDGES]
    chosen = {(a, b) for a, b, _ in kept}
    for a, b, d in edges:
        if len(kept) >= GRAPH_MAX_EDGES:
            break
        if (a, b) not in chosen and d["probability"] >= GRAPH_MIN_PROBABILITY:
            kept.append((a, b, d))
            chosen.add((a, b))
    return kept


def graph_figure(
    graph: nx.DiGraph, insights: pd.DataFrame, noun: str = "customers"
) -> tuple[go.Figure, int, int]:
    """The transition graph, Kamada-Kawai layout; returns (figure, edges shown, edges in all).

    Kamada-Kawai is deterministic (no random start) and, unlike a spring layout, keeps loosely
    attached groups such as support loops near the rest instead of flinging them to a corner.
    """
    kept = _kept_edges(graph)
    order = sorted({n for a, b, _ in kept for n in (a, b)})
    # The layout depends on insertion order: make it independent of the query's row order.
    ordered = nx.Graph()
    ordered.add_nodes_from(order)
    ordered.add_edges_from(sorted((a, b) for a, b, _ in kept))
    pos = nx.kamada_kawai_layout(ordered) if len(order) > 2 else nx.circular_layout(ordered)
    roles = dict(zip(insights.get("touchpoint", []), insights.get("role", []), strict=False))
    reasons = dict(
        zip(insights.get("touchpoint", []), insights.get("role_reason", []), strict=False)
    )
    visits = {n: max(graph.nodes[n].get("visits", 0), _out_total(graph, n)) for n in order}
    biggest = max(visits.values()) or 1
    size = {n: 14 + 34 * math.sqrt(visits[n] / biggest) for n in order}
    top_count = max(d["transition_count"] for _, _, d in kept)

    fig = go.Figure()
    annotations = []
    mid_x, mid_y, mid_text = [], [], []
    for a, b, d in sorted(kept, key=lambda e: e[2]["transition_count"]):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        share = d["transition_count"] / top_count
        annotations.append(
            {
                "x": x1,
                "y": y1,
                "ax": x0,
                "ay": y0,
                "xref": "x",
                "yref": "y",
                "axref": "x",
                "ayref": "y",
                "showarrow": True,
                "arrowhead": 2,
                "arrowsize": 1,
                "arrowwidth": 0.8 + 4.2 * share,
                "arrowcolor": _rgba("#495057", 0.18 + 0.5 * share),
                "standoff": size[b] / 2,
                "startstandoff": size[a] / 2,
                "text": "",
            }
        )
        mid_x.append(x0 + 0.6 * (x1 - x0))
        mid_y.append(y0 + 0.6 * (y1 - y0))
        mid_text.append(
            f"{label(a)} → {label(b)}<br>{d['transition_count']:,} transitions, "
            f"{d.get('customer_count', 0):,} {noun}<br>"
            f"{d['probability']:.0%} of moves out of {label(a)}"
        )
    fig.add_trace(
        go.Scatter(
            x=mid_x,
            y=mid_y,
            mode="markers",
            marker={"size": 10, "color": "rgba(0,0,0,0)"},
            hovertext=mid_text,
            hoverinfo="text",
            showlegend=False,
            name="transitions",
        )
    )
    groups: dict[str, list[str]] = {}
    for n in order:
        kind = "endpoint" if n in (START, END) else roles.get(n, "neutral") or "neutral"
        groups.setdefault(kind, []).append(n)
    for kind in ("pain_point", "moment_of_truth", "point_of_delight", "neutral", "endpoint"):
        members = groups.get(kind, [])
        if not members:
            continue
        color = "#343a40" if kind == "endpoint" else ROLE_COLORS.get(kind, NODE_COLOR)
        fig.add_trace(
            go.Scatter(
                x=[pos[n][0] for n in members],
                y=[pos[n][1] for n in members],
                mode="markers+text",
                name="Journey start / end" if kind == "endpoint" else ROLE_NAMES[kind],
                marker={
                    "size": [size[n] for n in members],
                    "color": color,
                    "line": {"width": 1.5, "color": "white"},
                },
                text=[label(n) for n in members],
                textposition="top center",
                textfont={"size": 12},
                hovertext=[_node_hover(graph, n, reasons.get(n)) for n in members],
                hoverinfo="text",
            )
        )
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    _layout(
        fig,
        640,
        annotations=annotations,
        xaxis=axis,
        yaxis=axis,
        legend={"orientation": "h", "y": -0.02, "x": 0},
        hovermode="closest",
        dragmode="pan",
    )
    return fig, len(kept), graph.number_of_edges()


def _out_total(graph: nx.DiGraph, node: str) -> int:
    return sum(d["transition_count"] for _, _, d in graph.out_edges(node, data=True))


def _node_hover(graph: nx.DiGraph, node: str, reason: object) -> str:
    outs = sorted(graph.out_edges(node, data=True), key=lambda e: -e[2]["transition_count"])[:3]
    visits = max(graph.nodes[node].get("visits", 0), _out_total(graph, node))
    lines = [f"<b>{label(node)}</b>", f"reached {visits:,} times"]
    if outs:
        lines.append("next: " + ", ".join(f"{label(b)} {d['probability']:.0%}" for _, b, d in outs))
    if isinstance(reason, str) and reason:
        lines.append(label(reason))
    return "<br>".join(lines)


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
    rated = touchpoints[touchpoints["sentiment_count"] > 0].copy()
    rank = {s: i for i, s in enumerate((*JOURNEY_STAGES, "exit"))}
    rated["stage_rank"] = rated["stage"].map(rank).fillna(len(rank))
    rated = rated.sort_values(["stage_rank", "mean_position", "touchpoint"])
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.32, 0.68],
        horizontal_spacing=0.08,
        subplot_titles=("By journey stage", "By touchpoint, in journey order"),
    )
    stage_counts = stage_sentiment["sentiment_count"]
    fig.add_trace(
        go.Scatter(
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
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
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
        ),
        row=1,
        col=2,
    )
    for col in (1, 2):
        fig.add_hline(y=0, line={"color": MUTED, "width": 1, "dash": "dot"}, row=1, col=col)
        fig.update_yaxes(range=[-1.05, 1.15], zeroline=False, gridcolor=GRID, row=1, col=col)
    fig.update_yaxes(title_text="mean sentiment (−1 … +1)", row=1, col=1)
    fig.update_xaxes(tickangle=-35, row=1, col=2)
    return _layout(fig, 420, margin={"l": 16, "r": 16, "t": 40, "b": 16})


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
    return _layout(fig, 460, legend={"orientation": "h", "y": 1.08, "x": 0})


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
    return _layout(
        fig,
        110 + 70 * len(personas),
        barmode="group",
        legend={"orientation": "h", "y": 1.12, "x": 0},
    )


def figure_html(fig: go.Figure, div_id: str) -> str:
    """The figure as a <div> and its script; plotly.js itself is inlined once in the page."""
    return fig.to_html(
        full_html=False, include_plotlyjs=False, include_mathjax=False, div_id=div_id, config=CONFIG
    )

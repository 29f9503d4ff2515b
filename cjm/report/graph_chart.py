"""The report's transition graph: the busiest moves between touchpoints, laid out by
Kamada-Kawai, nodes coloured by their role (pain point, moment of truth, point of delight)."""

from __future__ import annotations

import math

import networkx as nx
import pandas as pd
import plotly.graph_objects as go

from cjm.graphs.metrics import END, START
from cjm.report.style import NODE_COLOR, ROLE_COLORS, ROLE_NAMES, label, layout, rgba

GRAPH_MAX_EDGES = 60
GRAPH_MIN_PROBABILITY = 0.05


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
    visits = {n: max(graph.nodes[n].get("visits", 0), _out_total(graph, n)) for n in order}
    biggest = max(visits.values()) or 1
    size = {n: 14 + 34 * math.sqrt(visits[n] / biggest) for n in order}

    fig = go.Figure()
    annotations, hover = _edge_arrows(kept, pos, size, noun)
    fig.add_trace(hover)
    for trace in _node_traces(graph, order, pos, size, insights):
        fig.add_trace(trace)
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    layout(
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


def _edge_arrows(
    kept: list[tuple[str, str, dict]], pos: dict, size: dict[str, float], noun: str
) -> tuple[list[dict], go.Scatter]:
    """One arrow per kept move, wider and darker the busier it is, and an invisible marker near
    each arrow's head that carries its hover text (annotations have none)."""
    top_count = max(d["transition_count"] for _, _, d in kept)
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
                "arrowcolor": rgba("#495057", 0.18 + 0.5 * share),
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
    hover = go.Scatter(
        x=mid_x,
        y=mid_y,
        mode="markers",
        marker={"size": 10, "color": "rgba(0,0,0,0)"},
        hovertext=mid_text,
        hoverinfo="text",
        showlegend=False,
        name="transitions",
    )
    return annotations, hover


def _node_traces(
    graph: nx.DiGraph, order: list[str], pos: dict, size: dict[str, float], insights: pd.DataFrame
) -> list[go.Scatter]:
    """A trace of nodes per touchpoint role, and one for journey start and end, in legend order."""
    roles = dict(zip(insights.get("touchpoint", []), insights.get("role", []), strict=False))
    reasons = dict(
        zip(insights.get("touchpoint", []), insights.get("role_reason", []), strict=False)
    )
    groups: dict[str, list[str]] = {}
    for n in order:
        kind = "endpoint" if n in (START, END) else roles.get(n, "neutral") or "neutral"
        groups.setdefault(kind, []).append(n)
    traces = []
    for kind in ("pain_point", "moment_of_truth", "point_of_delight", "neutral", "endpoint"):
        members = groups.get(kind, [])
        if not members:
            continue
        color = "#343a40" if kind == "endpoint" else ROLE_COLORS.get(kind, NODE_COLOR)
        traces.append(
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
    return traces


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

"""The touchpoint transition graph as a networkx DiGraph, and the metrics of its nodes."""

from __future__ import annotations

import math

import duckdb
import networkx as nx
import numpy as np
import pandas as pd

from cjm.build.models import run_model

START, END = "(start)", "(end)"

# Bottleneck rule: a touchpoint in the top quarter of its graph by inflow whose exit share is at
# least this many times the graph's exit rate (transitions into (end) / transitions out of
# touchpoints). Many customers arrive there and an unusually large share of them stop.
BOTTLENECK_INFLOW_QUANTILE = 0.75
BOTTLENECK_EXIT_RATIO = 1.5

METRIC_COLUMNS = {
    "scope": "string",
    "segment": "string",
    "segment_type": "string",
    "segment_value": "string",
    "touchpoint": "string",
    "inflow": "int64",
    "outflow": "int64",
    "in_degree": "int64",
    "out_degree": "int64",
    "entry_count": "int64",
    "exit_count": "int64",
    "exit_share": "float64",
    "self_loop_count": "int64",
    "self_loop_share": "float64",
    "pagerank": "float64",
    "betweenness": "float64",
    "visitor_count": "int64",
    "revisit_customer_count": "int64",
    "revisit_share": "float64",
    "is_bottleneck": "boolean",
}


def transition_graph(
    con: duckdb.DuckDBPyConnection, segment: str = "all", scope: str = "journey"
) -> nx.DiGraph:
    """Build the DiGraph of one segment and scope; edges carry the transitions columns."""
    rows = con.execute(
        "select from_touchpoint, to_touchpoint, transition_count, customer_count, probability, "
        "median_seconds from transitions where segment = ? and scope = ?",
        [segment, scope],
    ).fetchall()
    if not rows:
        known = [
            r[0]
            for r in con.execute(
                "select distinct segment from transitions where scope = ? order by 1", [scope]
            ).fetchall()
        ]
        raise KeyError(
            f"no transitions for scope {scope!r}, segment {segment!r}; "
            f"available segments in scope {scope!r}: {known}"
        )
    return graph_from_edges(rows, segment=segment, scope=scope)


def graph_from_edges(rows, segment: str, scope: str) -> nx.DiGraph:
    """A DiGraph from (from, to, count, customers, probability, median_seconds) rows."""
    graph = nx.DiGraph(segment=segment, scope=scope)
    for source, target, count, customers, probability, median in rows:
        graph.add_edge(
            source,
            target,
            transition_count=int(count),
            customer_count=int(customers),
            probability=float(probability),
            median_seconds=None if median is None or pd.isna(median) else float(median),
        )
    for node in graph.nodes:
        graph.nodes[node]["kind"] = (
            "start" if node == START else "end" if node == END else "touchpoint"
        )
        graph.nodes[node]["visits"] = sum(
            d["transition_count"] for _, _, d in graph.in_edges(node, data=True)
        )
    return graph


def node_metrics(graph: nx.DiGraph) -> pd.DataFrame:
    """Degree, flow, exit share, self-loops, PageRank, betweenness and bottleneck per touchpoint."""
    touchpoints = [n for n in graph.nodes if n not in (START, END)]
    if not touchpoints:
        return pd.DataFrame(columns=["touchpoint"])
    # PageRank follows the traffic; betweenness uses the most probable routes (-log probability).
    pagerank = nx.pagerank(graph, weight="transition_count")
    for _, _, data in graph.edges(data=True):
        data["_distance"] = -math.log(data["probability"]) if data["probability"] > 0 else 1e9
    betweenness = nx.betweenness_centrality(graph, weight="_distance", normalized=True)
    for _, _, data in graph.edges(data=True):
        del data["_distance"]
    rows = []
    for node in touchpoints:
        inflow = int(graph.in_degree(node, weight="transition_count"))
        outflow = int(graph.out_degree(node, weight="transition_count"))
        exits = graph.edges[node, END]["transition_count"] if graph.has_edge(node, END) else 0
        entries = graph.edges[START, node]["transition_count"] if graph.has_edge(START, node) else 0
        loops = graph.edges[node, node]["transition_count"] if graph.has_edge(node, node) else 0
        rows.append(
            {
                "touchpoint": node,
                "inflow": inflow,
                "outflow": outflow,
                "in_degree": graph.in_degree(node),
                "out_degree": graph.out_degree(node),
                "entry_count": int(entries),
                "exit_count": int(exits),
                "exit_share": exits / outflow if outflow else np.nan,
                "self_loop_count": int(loops),
                "self_loop_share": loops / outflow if outflow else np.nan,
                "pagerank": pagerank[node],
                "betweenness": betweenness[node],
            }
        )
    frame = pd.DataFrame(rows)
    frame["is_bottleneck"] = bottlenecks(frame)
    return frame


def bottlenecks(frame: pd.DataFrame) -> pd.Series:
    """The bottleneck rule: top-quarter inflow and exit share >= 1.5 x the graph's exit rate."""
    outflow = frame["outflow"].sum()
    exit_rate = frame["exit_count"].sum() / outflow if outflow else np.nan
    high_inflow = frame["inflow"] >= frame["inflow"].quantile(BOTTLENECK_INFLOW_QUANTILE)
    high_exit = frame["exit_share"] >= BOTTLENECK_EXIT_RATIO * exit_rate
    return (high_inflow & high_exit.fillna(False)).astype("boolean")


def touchpoint_graph_metrics(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Node metrics of every scope and segment graph in transitions, with revisit shares."""
    edges = con.execute(
        "select scope, segment, segment_type, segment_value, from_touchpoint, to_touchpoint, "
        "transition_count, customer_count, probability, median_seconds from transitions "
        "order by scope, segment, from_touchpoint, to_touchpoint"
    ).df()
    frames = []
    for (scope, segment, kind, value), group in edges.groupby(
        ["scope", "segment", "segment_type", "segment_value"], sort=True
    ):
        graph = graph_from_edges(group.iloc[:, 4:].itertuples(index=False), segment, scope)
        metrics = node_metrics(graph)
        if len(metrics):
            frames.append(
                metrics.assign(scope=scope, segment=segment, segment_type=kind, segment_value=value)
            )
    if not frames:
        return pd.DataFrame(columns=list(METRIC_COLUMNS)).astype(METRIC_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    run_model(con, "intermediate", "int_touchpoint_revisits")
    revisits = con.execute(
        "select scope, segment, touchpoint, visitor_count, revisit_customer_count "
        "from int_touchpoint_revisits"
    ).df()
    con.execute("drop table int_touchpoint_revisits")
    frame = frame.merge(revisits, on=["scope", "segment", "touchpoint"], how="left")
    frame[["visitor_count", "revisit_customer_count"]] = frame[
        ["visitor_count", "revisit_customer_count"]
    ].fillna(0)
    frame["revisit_share"] = frame["revisit_customer_count"] / frame["visitor_count"].where(
        frame["visitor_count"] > 0
    )
    frame = frame.reindex(columns=list(METRIC_COLUMNS)).astype(METRIC_COLUMNS)
    return frame.sort_values(["scope", "segment", "touchpoint"], ignore_index=True)

"""Files of one transition graph for Gephi, Cytoscape and d3: GraphML, GEXF, node-link JSON."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pandas as pd

from cjm.graphs.metrics import transition_graph

FORMATS = ("graphml", "gexf", "json")


def _exportable(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy without None attributes (GraphML and GEXF have no null)."""
    out = nx.DiGraph(**{k: v for k, v in graph.graph.items() if v is not None})
    for node, data in graph.nodes(data=True):
        out.add_node(node, **{k: v for k, v in data.items() if v is not None and v == v})
    for source, target, data in graph.edges(data=True):
        attributes = {k: v for k, v in data.items() if v is not None}
        # Gephi and Cytoscape size edges by `weight`: the transition count.
        attributes["weight"] = data["transition_count"]
        out.add_edge(source, target, **attributes)
    return out


def add_node_metrics(graph: nx.DiGraph, metrics: pd.DataFrame) -> None:
    """Copy touchpoint_graph_metrics columns onto the graph's touchpoint nodes."""
    skip = {"scope", "segment", "segment_type", "segment_value", "touchpoint"}
    for row in metrics.to_dict("records"):
        node = row["touchpoint"]
        if node in graph:
            for key, value in row.items():
                if key in skip or value is None or value is pd.NA or value != value:
                    continue
                graph.nodes[node][key] = value.item() if hasattr(value, "item") else value


def write_graph(graph: nx.DiGraph, out: Path, fmt: str) -> None:
    """Write GraphML, GEXF or node-link JSON (for Gephi, Cytoscape and d3)."""
    graph = _exportable(graph)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "graphml":
        nx.write_graphml(graph, out)
    elif fmt == "gexf":
        nx.write_gexf(graph, out)
    elif fmt == "json":
        data = nx.node_link_data(graph, edges="edges")
        out.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    else:
        raise ValueError(f"unknown graph format {fmt!r}; use one of {list(FORMATS)}")


def export_graph(
    db_path: Path, out: Path, fmt: str, segment: str = "all", scope: str = "journey"
) -> nx.DiGraph:
    """Read one scope and segment graph from the published file read-only and write it to out."""
    from cjm.db import table_exists
    from cjm.query import QueryError, open_published

    if fmt not in FORMATS:
        raise QueryError(f"unknown graph format {fmt!r}; use one of {list(FORMATS)}")
    con = open_published(db_path)
    try:
        if not table_exists(con, "transitions"):
            raise QueryError(f"{db_path}: has no transitions table; re-run `cjm run`")
        try:
            graph = transition_graph(con, segment=segment, scope=scope)
        except KeyError as exc:
            raise QueryError(str(exc.args[0])) from None
        if table_exists(con, "touchpoint_graph_metrics"):
            metrics = con.execute(
                "select * from touchpoint_graph_metrics where scope = ? and segment = ?",
                [scope, segment],
            ).df()
            add_node_metrics(graph, metrics)
    finally:
        con.close()
    write_graph(graph, out, fmt)
    return graph

"""The touchpoint transition graph as a networkx DiGraph."""

from __future__ import annotations

import duckdb
import networkx as nx

START, END = "(start)", "(end)"


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
        known = con.execute("select distinct scope, segment from transitions order by 1, 2")
        raise KeyError(
            f"no transitions for scope {scope!r}, segment {segment!r}; "
            f"available: {known.fetchall()}"
        )
    graph = nx.DiGraph(segment=segment, scope=scope)
    for source, target, count, customers, probability, median in rows:
        graph.add_edge(
            source,
            target,
            transition_count=int(count),
            customer_count=int(customers),
            probability=float(probability),
            median_seconds=None if median is None else float(median),
        )
    for node in graph.nodes:
        graph.nodes[node]["kind"] = (
            "start" if node == START else "end" if node == END else "touchpoint"
        )
        graph.nodes[node]["visits"] = sum(
            d["transition_count"] for _, _, d in graph.in_edges(node, data=True)
        )
    return graph

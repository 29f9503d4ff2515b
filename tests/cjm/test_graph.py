"""The networkx graph built from the transitions table."""

from __future__ import annotations

import networkx as nx
import pytest

from cjm.graph import END, START, transition_graph


def test_graph_edges_carry_counts_and_probabilities(build_rows):
    rows = [
        {"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
        {"customer_id": "c1", "event_time": "2026-01-01T09:01:00Z", "touchpoint": "b"},
        {"customer_id": "c2", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"},
    ]
    graph = transition_graph(build_rows(rows))
    assert set(graph.edges) == {(START, "a"), ("a", "b"), ("a", END), ("b", END)}
    assert graph.edges[START, "a"]["transition_count"] == 2
    assert graph.edges["a", "b"]["probability"] == pytest.approx(0.5)
    assert graph.nodes["a"]["visits"] == 2 and graph.nodes[END]["kind"] == "end"
    # every journey runs from start to end
    assert all(nx.has_path(graph, START, n) for n in graph.nodes if n != START)


def test_unknown_segment_is_a_clear_error(build_rows):
    rows = [{"customer_id": "c1", "event_time": "2026-01-01T09:00:00Z", "touchpoint": "a"}]
    with pytest.raises(KeyError, match="available"):
        transition_graph(build_rows(rows), segment="nope")

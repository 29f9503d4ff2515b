"""The networkx graph built from the transitions table."""

from __future__ import annotations

import json

import networkx as nx
import pandas as pd
import pytest

from cjm.build.models import run_model
from cjm.cli.main import main
from cjm.config import parse_config
from cjm.db import write_table
from cjm.graphs.metrics import (
    END,
    START,
    bottlenecks,
    node_metrics,
    touchpoint_graph_metrics,
    transition_graph,
)
from cjm.graphs.segments import add_segment_transitions, build_customer_segments


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


def _segmented(build_rows, rows):
    """Build rows, put every customer in persona P1, and add segments, metrics and cycles."""
    con = build_rows(rows)
    customers = [r[0] for r in con.execute("select customer_id from journeys").fetchall()]
    write_table(
        con,
        "customer_personas",
        pd.DataFrame({"customer_id": customers, "persona_id": "P1"}),
    )
    write_table(
        con,
        "customer_churn_state",
        pd.DataFrame({"customer_id": customers, "is_churned": False}),
    )
    build_customer_segments(con, parse_config({}))
    add_segment_transitions(con)
    write_table(con, "touchpoint_graph_metrics", touchpoint_graph_metrics(con))
    run_model(con, "marts", "transition_cycles")
    return con


def _events(customer: str, day: str, touchpoints: str, start_minute: int = 0) -> list[dict]:
    return [
        {
            "customer_id": customer,
            "event_time": f"2026-01-{day}T09:{start_minute + i:02d}:00Z",
            "touchpoint": t,
        }
        for i, t in enumerate(touchpoints.split())
    ]


# c1 goes round a > b > a in one session and again across two; c2 does a > c > d > a once.
LOOPS = _events("c1", "01", "a b a") + _events("c1", "02", "b a") + _events("c2", "01", "a c d a")


def test_loop_metrics_and_cycles_are_exact(build_rows):
    con = _segmented(build_rows, LOOPS)
    cycles = con.execute(
        "select scope, cycle, node_count, occurrence_count, customer_count "
        "from transition_cycles order by all"
    ).fetchall()
    assert cycles == [
        ("journey", "a > b > a", 2, 2, 1),
        ("journey", "a > c > d > a", 3, 1, 1),
        ("journey", "b > a > b", 2, 1, 1),
        ("session", "a > b > a", 2, 1, 1),
        ("session", "a > c > d > a", 3, 1, 1),
    ]
    revisits = con.execute(
        "select scope, touchpoint, visitor_count, revisit_customer_count, revisit_share "
        "from touchpoint_graph_metrics where segment = 'all' and touchpoint in ('a', 'b') "
        "order by all"
    ).fetchall()
    assert revisits == [
        ("journey", "a", 2, 2, 1.0),
        ("journey", "b", 1, 1, 1.0),
        ("session", "a", 2, 2, 1.0),
        ("session", "b", 1, 0, 0.0),
    ]
    # the one persona holds everyone, so its metrics equal the 'all' metrics
    columns = "scope, touchpoint, inflow, outflow, exit_share, pagerank, revisit_customer_count"
    everyone = con.execute(
        f"select {columns} from touchpoint_graph_metrics where segment = 'all' order by all"
    ).fetchall()
    persona = con.execute(
        f"select {columns} from touchpoint_graph_metrics where segment = 'persona:P1' order by all"
    ).fetchall()
    assert everyone == persona


def test_node_metrics_flow_degree_and_self_loops(build_rows):
    rows = _events("c1", "01", "a a b") + _events("c2", "01", "a c") + _events("c3", "01", "b")
    graph = transition_graph(_segmented(build_rows, rows))
    metrics = node_metrics(graph).set_index("touchpoint")
    a, b = metrics.loc["a"], metrics.loc["b"]
    assert (a.inflow, a.outflow, a.in_degree, a.out_degree) == (3, 3, 2, 3)
    assert (a.entry_count, a.exit_count, a.self_loop_count) == (2, 0, 1)
    assert a.self_loop_share == pytest.approx(1 / 3) and a.exit_share == 0
    assert (b.inflow, b.exit_count, b.exit_share) == (2, 2, 1.0)
    # Most probable routes (-log p): (start)>a>c is a's only pair; (start)>b>(end) is b's; a>(end)
    # ties between a>b>(end) and a>c>(end), half each. Normalised by (n-1)(n-2) = 12.
    assert metrics["betweenness"].to_dict() == pytest.approx(
        {"a": 1 / 12, "b": 1.5 / 12, "c": 0.5 / 12}
    )
    assert metrics["pagerank"].between(0, 1).all()


def test_bottleneck_rule_needs_high_inflow_and_high_exit():
    frame = pd.DataFrame(
        {
            "touchpoint": ["busy_exit", "busy_stay", "quiet_exit", "mid"],
            "inflow": [100, 100, 5, 40],
            "outflow": [100, 100, 5, 40],
            "exit_count": [60, 5, 5, 10],
        }
    )
    frame["exit_share"] = frame["exit_count"] / frame["outflow"]
    # graph exit rate = 80 / 245 = 0.327; 1.5 x = 0.49; top-quarter inflow >= 100
    assert bottlenecks(frame).tolist() == [True, False, False, False]


def _published(con, tmp_path):
    path = tmp_path / "published.duckdb"
    con.execute(f"attach '{path}' as published")
    con.execute("copy from database memory to published")
    con.execute("detach published")
    return path


@pytest.mark.parametrize("fmt", ["graphml", "gexf", "json"])
def test_exported_files_parse_back_with_nodes_and_weights(build_rows, tmp_path, fmt):
    rows = _events("c1", "01", "a a b") + _events("c2", "01", "a c") + _events("c3", "01", "b")
    db = _published(_segmented(build_rows, rows), tmp_path)
    out = tmp_path / f"graph.{fmt}"
    assert main(["graph", "--format", fmt, "--out", str(out), "--db", str(db)]) == 0
    if fmt == "graphml":
        back = nx.read_graphml(out)
    elif fmt == "gexf":
        back = nx.read_gexf(out)
    else:
        back = nx.node_link_graph(json.loads(out.read_text()), edges="edges")
    assert set(back.nodes) == {START, "a", "b", "c", END}
    weights = {(u, v): int(d["transition_count"]) for u, v, d in back.edges(data=True)}
    assert weights == {
        (START, "a"): 2,
        (START, "b"): 1,
        ("a", "a"): 1,
        ("a", "b"): 1,
        ("a", "c"): 1,
        ("b", END): 2,
        ("c", END): 1,
    }
    assert int(back.edges["a", "b"]["weight"]) == 1
    assert float(back.nodes["b"]["exit_share"]) == 1.0
    session = tmp_path / f"session.{fmt}"
    args = ["graph", "--format", fmt, "--out", str(session), "--db", str(db), "--scope", "session"]
    assert main([*args, "--segment", "converted:false"]) == 0


def test_graph_command_lists_segments_when_unknown(build_rows, tmp_path, capsys):
    db = _published(_segmented(build_rows, LOOPS), tmp_path)
    out = tmp_path / "g.graphml"
    assert main(["graph", "--segment", "persona:P9", "--out", str(out), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "persona:P9" in err and "'persona:P1'" in err and "'converted:false'" in err
    assert not out.exists()

"""The two run stages of the transition graphs (cjm.stages.STAGES runs them): segments, metrics and
cycles, then the changes since the published run."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cjm.build.models import run_model
from cjm.config import Config
from cjm.db import write_table
from cjm.graphs import changes, metrics, segments
from cjm.steps import Progress, open_build


def build_graphs(build_path: Path, config: Config, progress: Progress = None) -> dict:
    """Segment customers, add the segmented transitions, then graph metrics and cycles."""
    with open_build(build_path, config) as con:
        if progress:
            progress("segmenting customers and building segmented transition graphs")
        segments.build_customer_segments(con, config)
        segments.add_segment_transitions(con)
        nodes = metrics.touchpoint_graph_metrics(con)
        write_table(con, "touchpoint_graph_metrics", nodes)
        run_model(con, "marts", "transition_cycles")
        graphs = con.execute("select count(distinct (scope, segment)) from transitions").fetchone()
        return {
            "counts": {
                "transition_graphs": int(graphs[0]),
                "bottlenecks": int(nodes["is_bottleneck"].sum()),
            }
        }


def track_transition_changes(
    build_path: Path, config: Config, db_path: Path, run_id: str, progress: Progress = None
) -> dict:
    """Carry transition_history forward from the published file and test changes since then."""
    previous = changes.read_previous_history(db_path)
    with open_build(build_path, config) as con:
        if progress:
            progress("comparing transition probabilities with the previous run")
        snapshot = changes.transition_snapshot(con, run_id, datetime.now(UTC))
        history = changes.history_with(previous, snapshot)
        found = changes.transition_changes(history, run_id)
        write_table(con, "transition_history", history)
        write_table(con, "transition_changes", found)
        notes = []
        if previous is None or previous.empty:
            notes.append("no previous run to compare with: transition_changes is empty")
        return {
            "counts": {"significant_transition_changes": int(found["is_significant"].sum())},
            "notes": notes,
        }

"""Transition probabilities across runs: the history table and the significant changes.

Each edge's probability is a proportion: transitions from a touchpoint to the next one out of all
transitions from that touchpoint. Between the previous published run and this one, every edge
whose from-touchpoint exists in both runs gets a two-proportion z-test; the p-values of all edges
are adjusted together with Benjamini-Hochberg.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.stats import norm

from cjm.churn.patterns import benjamini_hochberg
from cjm.db import open_if_exists, table_exists

KEY = ["scope", "segment", "from_touchpoint", "to_touchpoint"]
HISTORY_COLUMNS = {
    "run_id": "string",
    "recorded_at": "datetime64[us, UTC]",
    "scope": "string",
    "segment": "string",
    "segment_type": "string",
    "segment_value": "string",
    "from_touchpoint": "string",
    "to_touchpoint": "string",
    "transition_count": "int64",
    "from_count": "int64",
    "probability": "float64",
}
CHANGE_COLUMNS = {
    "scope": "string",
    "segment": "string",
    "segment_type": "string",
    "segment_value": "string",
    "from_touchpoint": "string",
    "to_touchpoint": "string",
    "previous_run_id": "string",
    "current_run_id": "string",
    "previous_count": "int64",
    "previous_from_count": "int64",
    "previous_probability": "float64",
    "current_count": "int64",
    "current_from_count": "int64",
    "current_probability": "float64",
    "difference": "float64",
    "z_score": "float64",
    "p_value": "float64",
    "q_value": "float64",
    "is_significant": "boolean",
}

_SNAPSHOT_SQL = """
    select
        scope,
        segment,
        {segment_type} as segment_type,
        {segment_value} as segment_value,
        from_touchpoint,
        to_touchpoint,
        transition_count,
        sum(transition_count) over (partition by scope, segment, from_touchpoint) as from_count,
        probability
    from transitions
"""


def transition_snapshot(
    con: duckdb.DuckDBPyConnection, run_id: str, recorded_at: datetime
) -> pd.DataFrame:
    """This database's transitions as history rows of one run."""
    columns = {r[0] for r in con.execute("describe transitions").fetchall()}
    # Files published before segment_type existed hold the 'all' segment only.
    has_types = "segment_type" in columns
    sql = _SNAPSHOT_SQL.format(
        segment_type="segment_type" if has_types else "'all'",
        segment_value="segment_value" if has_types else "'all'",
    )
    frame = con.execute(sql).df()
    frame.insert(0, "recorded_at", pd.Timestamp(recorded_at))
    frame.insert(0, "run_id", run_id)
    return frame.reindex(columns=list(HISTORY_COLUMNS)).astype(HISTORY_COLUMNS)


def read_previous_history(db_path: Path) -> pd.DataFrame | None:
    """The transition history of the published file; seeded from its transitions if it has none."""
    con = open_if_exists(db_path, unreadable_ok=True)
    if con is None:
        return None
    try:
        if table_exists(con, "transition_history"):
            frame = con.execute("select * from transition_history").df()
            return frame.reindex(columns=list(HISTORY_COLUMNS)).astype(HISTORY_COLUMNS)
        if not table_exists(con, "transitions"):
            return None
        run_id, finished = "unknown", pd.Timestamp(0, tz="UTC")
        if table_exists(con, "pipeline_runs"):
            row = con.execute(
                "select run_id, finished_at from pipeline_runs where status = 'success' "
                "order by started_at desc limit 1"
            ).fetchone()
            if row:
                run_id, finished = row[0], pd.Timestamp(row[1])
        return transition_snapshot(con, run_id, finished)
    finally:
        con.close()


def two_proportion_z(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z statistic (x2/n2 - x1/n1) and its two-sided p-value."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    diff = x2 / n2 - x1 / n1
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, diff / se, 0.0)
    return z, 2 * norm.sf(np.abs(z))


def transition_changes(
    history: pd.DataFrame, current_run_id: str, alpha: float = 0.05
) -> pd.DataFrame:
    """Edges whose probability changed between the run before current_run_id and it."""
    runs = history.drop_duplicates("run_id").sort_values("recorded_at")["run_id"].tolist()
    empty = pd.DataFrame(columns=list(CHANGE_COLUMNS)).astype(CHANGE_COLUMNS)
    if current_run_id not in runs or runs.index(current_run_id) == 0:
        return empty
    previous_run_id = runs[runs.index(current_run_id) - 1]
    before = history[history["run_id"] == previous_run_id]
    after = history[history["run_id"] == current_run_id]
    edges = before.merge(after, on=KEY, how="outer", suffixes=("_before", "_after"))
    # An edge seen in one run only has count 0 in the other, out of that run's from-total.
    for side, frame in (("before", before), ("after", after)):
        totals = frame.groupby(["scope", "segment", "from_touchpoint"])["from_count"].first()
        node = edges.set_index(["scope", "segment", "from_touchpoint"]).index
        edges[f"from_count_{side}"] = totals.reindex(node).to_numpy()
        edges[f"transition_count_{side}"] = edges[f"transition_count_{side}"].fillna(0)
    edges = edges[edges["from_count_before"].notna() & edges["from_count_after"].notna()]
    if edges.empty:
        return empty
    out = pd.DataFrame({k: edges[k].to_numpy() for k in KEY})
    for column in ("segment_type", "segment_value"):
        out[column] = edges[f"{column}_after"].fillna(edges[f"{column}_before"]).to_numpy()
    out["previous_run_id"] = previous_run_id
    out["current_run_id"] = current_run_id
    out["previous_count"] = edges["transition_count_before"].to_numpy()
    out["previous_from_count"] = edges["from_count_before"].to_numpy()
    out["current_count"] = edges["transition_count_after"].to_numpy()
    out["current_from_count"] = edges["from_count_after"].to_numpy()
    out["previous_probability"] = out["previous_count"] / out["previous_from_count"]
    out["current_probability"] = out["current_count"] / out["current_from_count"]
    out["difference"] = out["current_probability"] - out["previous_probability"]
    out["z_score"], out["p_value"] = two_proportion_z(
        out["previous_count"],
        out["previous_from_count"],
        out["current_count"],
        out["current_from_count"],
    )
    out["q_value"] = benjamini_hochberg(out["p_value"].to_numpy())
    out["is_significant"] = out["q_value"] <= alpha
    out = out.reindex(columns=list(CHANGE_COLUMNS)).astype(CHANGE_COLUMNS)
    order = out.assign(_size=-out["difference"].abs())
    order = order.sort_values(["q_value", "_size", *KEY], kind="stable")
    return order.drop(columns="_size").reset_index(drop=True)


def history_with(previous: pd.DataFrame | None, snapshot: pd.DataFrame) -> pd.DataFrame:
    """The previous history (without an earlier attempt of this run) plus this run's snapshot."""
    run_id = snapshot["run_id"].iloc[0] if len(snapshot) else None
    frames = [snapshot]
    if previous is not None and len(previous):
        frames.insert(0, previous[previous["run_id"] != run_id])
    frame = pd.concat(frames, ignore_index=True).astype(HISTORY_COLUMNS)
    return frame.sort_values(["recorded_at", "run_id", *KEY], ignore_index=True)

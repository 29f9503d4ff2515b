"""Stable persona ids across runs: match to the previous run's centroids, history, migrations.

k-means numbers its clusters arbitrarily, so a rerun (new events, a new k) would reshuffle ids
and break every saved query, dashboard and churn list that names a persona. Each run therefore
publishes its centroids (`persona_centroids`, in raw feature units, i.e. the clustering matrix
before standardising) and the next run matches its new centroids to them one-to-one with the
Hungarian algorithm (scipy's linear_sum_assignment) on Euclidean distance, after scaling both
with the *current* run's scaler, so the two sets are compared in one space even though each run
fits its own scaler. A pair is accepted only when the previous centroid lies within the new
persona's typical radius (the mean distance of its customers to its centroid); a new persona
without an accepted match gets a brand-new id, above every id ever published (ids of retired
personas are never reused). Without a previous run, ids are 1..k by size, largest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from cjm.db import connect, open_if_exists, quote_ident, sql_literal, table_exists, write_table

CENTROID_COLUMNS = ["run_id", "persona_id", "feature", "value"]
HISTORY_COLUMNS = ["run_id", "customer_id", "persona_id"]
MIGRATION_COLUMNS = [
    "previous_run_id",
    "run_id",
    "from_persona_id",
    "to_persona_id",
    "customer_count",
    "share",
]


@dataclass
class PreviousPersonas:
    """What the previously published file says about personas (read before publishing)."""

    run_id: str | None
    centroids: pd.DataFrame  # persona_id, feature, value (raw feature units)
    # customer_id, persona_id; None: read in SQL from customer_personas of `db_path` when needed
    # (millions of rows never pass through pandas)
    assignments: pd.DataFrame | None
    max_persona_id: int  # highest id ever published, retired ones included
    db_path: Path | None = None


def read_previous_personas(db_path: Path) -> PreviousPersonas | None:
    """The persona centroids, assignments and highest id of the published file, if any."""
    con = open_if_exists(db_path)
    if con is None:
        return None
    try:
        if not table_exists(con, "persona_centroids"):
            return None  # published by a version without stable ids: start afresh
        centroids = con.execute(
            "select run_id, persona_id, feature, value from persona_centroids"
        ).df()
        ids = [int(centroids["persona_id"].max())] if len(centroids) else []
        if table_exists(con, "persona_history"):
            row = con.execute("select max(persona_id) from persona_history").fetchone()
            if row and row[0] is not None:
                ids.append(int(row[0]))
    finally:
        con.close()
    run_id = str(centroids["run_id"].iloc[0]) if len(centroids) else None
    return PreviousPersonas(
        run_id=run_id,
        centroids=centroids[["persona_id", "feature", "value"]],
        assignments=None,
        max_persona_id=max(ids, default=0),
        db_path=db_path,
    )


def match_previous(
    centres: np.ndarray,
    columns: list[str],
    scale: np.ndarray,
    radius: np.ndarray,
    previous: pd.DataFrame,
) -> dict[int, int]:
    """Cluster index -> previous persona id, for the accepted one-to-one nearest matches.

    `centres` are the new centroids in raw feature units (rows) over `columns`, `scale` the current
    scaler's per-column scale and `radius` each new persona's mean member distance (scaled). A
    feature the previous run did not have counts as 0 there (a share of a touchpoint outside its
    vocabulary); features only the previous run had are left out.
    """
    if previous.empty or len(centres) == 0:
        return {}
    wide = previous.pivot_table(index="persona_id", columns="feature", values="value")
    old_ids = wide.index.to_numpy()
    old = wide.reindex(columns=columns).fillna(0.0).to_numpy(float)
    scale = np.where(np.asarray(scale, float) > 0, scale, 1.0)
    cost = np.linalg.norm((centres[:, None, :] - old[None, :, :]) / scale, axis=2)
    rows, cols = linear_sum_assignment(cost)
    return {
        int(r): int(old_ids[c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= radius[r]
    }


def number_personas(
    sizes: np.ndarray, centres: np.ndarray, matched: dict[int, int], next_id: int
) -> dict[int, int]:
    """Cluster index -> persona id: matched clusters keep theirs, the rest count up from next_id.

    New ids go to the unmatched clusters largest first (ties by centroid coordinates), so a first
    run numbers its personas 1..k by size.
    """
    rest = [c for c in range(len(sizes)) if c not in matched]
    rest.sort(key=lambda c: (-sizes[c], tuple(np.round(centres[c], 9))))
    return dict(matched) | {c: next_id + i for i, c in enumerate(rest)}


def centroid_frame(
    run_id: str | None, persona_ids: list[int], columns: list[str], centres: np.ndarray
) -> pd.DataFrame:
    """persona_centroids rows: one per persona x clustering feature, raw feature units."""
    frame = pd.DataFrame(
        {
            "run_id": pd.Series([run_id] * len(persona_ids) * len(columns), dtype=object),
            "persona_id": np.repeat(np.asarray(persona_ids, dtype="int64"), len(columns)),
            "feature": np.tile(np.asarray(columns, dtype=object), len(persona_ids)),
            "value": np.asarray(centres, dtype=float).ravel(),
        }
    )
    return frame.sort_values(["persona_id", "feature"], ignore_index=True)


def migrations(
    previous: PreviousPersonas | None,
    assignments: pd.DataFrame | str,
    run_id: str | None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """Customers per (previous persona, current persona), for customers in both runs.

    share = customer_count / the previous persona's customers that are still present.
    `assignments` is a frame (customer_id, persona_id) or the name of such a table in `con`;
    the join runs in DuckDB either way.
    """
    if previous is None or (previous.assignments is None and previous.db_path is None):
        return _empty_migrations()
    own = con is None
    cursor = connect() if own else con.cursor()
    attached = False
    try:
        if previous.assignments is not None:
            cursor.register("_cjm_previous_assignments", previous.assignments)
            before = "_cjm_previous_assignments"
        else:
            cursor.execute(
                f"attach {sql_literal(str(previous.db_path))} as cjm_previous_personas (read_only)"
            )
            attached = True
            before = "cjm_previous_personas.customer_personas"
        current = assignments
        if not isinstance(assignments, str):
            cursor.register("_cjm_current_assignments", assignments)
            current = quote_ident("_cjm_current_assignments")
        else:
            current = quote_ident(current)
        out = cursor.execute(
            f"""
            select p.persona_id as from_persona_id, c.persona_id as to_persona_id,
                   count(*) as customer_count
            from {before} p
            join {current} c on c.customer_id::varchar = p.customer_id::varchar
            group by all
            order by from_persona_id, to_persona_id
            """
        ).df()
    finally:
        if attached:
            cursor.execute("detach cjm_previous_personas")
        cursor.close()
    if out.empty:
        return _empty_migrations()
    out["share"] = out["customer_count"] / out.groupby("from_persona_id")[
        "customer_count"
    ].transform("sum")
    out.insert(0, "run_id", run_id)
    out.insert(0, "previous_run_id", previous.run_id)
    return out.astype(_MIGRATION_TYPES)[MIGRATION_COLUMNS]


def _empty_migrations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_MIGRATION_TYPES[c]) for c in MIGRATION_COLUMNS})


_MIGRATION_TYPES = {
    "previous_run_id": object,
    "run_id": object,
    "from_persona_id": "int64",
    "to_persona_id": "int64",
    "customer_count": "int64",
    "share": float,
}


def write_persona_history(
    con: duckdb.DuckDBPyConnection,
    db_path: Path | None,
    run_id: str,
    assignments: pd.DataFrame | str,
) -> None:
    """persona_history: the published file's history plus this run's assignments.

    The history is copied in SQL (ATTACH read-only) rather than through pandas: it grows by one
    row per customer and run. `assignments` is a frame or the name of a table in `con`.
    """
    if isinstance(assignments, str):
        con.execute(
            "create or replace table _cjm_persona_history_current as "
            "select ?::varchar as run_id, customer_id::varchar as customer_id, "
            f"persona_id::bigint as persona_id from {quote_ident(assignments)}",
            [run_id],
        )
    else:
        current = pd.DataFrame(
            {
                "run_id": pd.Series([run_id] * len(assignments), dtype=object),
                "customer_id": assignments["customer_id"].astype(str).to_numpy(),
                "persona_id": assignments["persona_id"].astype("int64").to_numpy(),
            }
        )
        write_table(con, "_cjm_persona_history_current", current)
    sources = ["select run_id, customer_id, persona_id from _cjm_persona_history_current"]
    params: list[str] = []
    attached = False
    try:
        if db_path is not None and db_path.exists():
            con.execute(f"attach {sql_literal(str(db_path))} as cjm_previous (read_only)")
            attached = True
            found = con.execute(
                "select count(*) from information_schema.tables "
                "where table_catalog = 'cjm_previous' and table_name = 'persona_history'"
            ).fetchone()[0]
            if found:
                sources.append(
                    "select run_id, customer_id, persona_id from cjm_previous.persona_history "
                    "where run_id is distinct from ?"
                )
                params.append(run_id)
        con.execute(
            "create or replace table persona_history as "
            + " union all ".join(sources)
            + " order by run_id, customer_id",
            params,
        )
    finally:
        if attached:
            con.execute("detach cjm_previous")
        con.execute("drop table if exists _cjm_persona_history_current")

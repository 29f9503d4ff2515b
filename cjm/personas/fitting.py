"""Personas fitted on a customer_features table, in bounded memory whatever the customers.

The clustering (cjm.personas.clustering) is fitted on a bounded sample; everyone is then assigned
in batches, ids follow the previous run's personas (cjm.personas.identity), and names and
descriptions come from per-persona aggregates computed in DuckDB (cjm.personas.profiles,
cjm.personas.naming).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cjm.config import EntityNoun, PersonaSettings
from cjm.db import connect, quote_ident, write_table
from cjm.personas.clustering import (
    MODEL_THREADS,
    fit_pipeline,
    mix_flags,
    persona_feature_columns,
    persona_matrix,
)
from cjm.personas.features import feature_labels
from cjm.personas.identity import (
    PreviousPersonas,
    centroid_frame,
    match_previous,
    number_personas,
)
from cjm.personas.naming import describe_personas, empty_personas
from cjm.personas.profiles import persona_stats, stat_columns


@dataclass
class PersonaResult:
    """Persona table, each customer's persona, and the fitted pipeline (None if nothing to fit)."""

    personas: pd.DataFrame
    customer_personas: pd.DataFrame | None  # None when written to a table by fit_personas_table
    pipeline: Pipeline | None
    feature_columns: list[str] = field(default_factory=list)
    k: int = 0
    k_note: str = ""
    score_by_k: dict[int, float] = field(default_factory=dict)  # Calinski-Harabasz, automatic k
    # persona_id, feature, value: centroids in raw feature units, for the next run's matching
    centroids: pd.DataFrame = field(default_factory=pd.DataFrame)
    matched: int = 0  # personas that kept the id of a previous run's persona


def fit_personas(
    features: pd.DataFrame,
    settings: PersonaSettings,
    random_state: int,
    churned: pd.Series | None = None,
    previous: PreviousPersonas | None = None,
    entity: EntityNoun | None = None,
) -> PersonaResult:
    """Cluster customers into personas (fit on a bounded sample, assign everyone) and name them.

    With `previous` (the last published run), personas keep the ids of the previous personas they
    match (see cjm.personas.identity); otherwise ids are 1..k by size. The frame goes through the
    same DuckDB path as fit_personas_table, in a private in-memory database.
    """
    with connect() as con:
        con.register("_cjm_frame", features)
        con.execute("create table customer_features as select * from _cjm_frame")
        con.unregister("_cjm_frame")
        churn_table = None
        if churned is not None:
            state = pd.DataFrame(
                {"customer_id": churned.index.astype(str), "is_churned": churned.to_numpy()}
            ).astype({"is_churned": "boolean"})
            write_table(con, "churn_state", state.drop_duplicates("customer_id"))
            churn_table = "churn_state"
        result = fit_personas_table(
            con,
            "customer_features",
            settings,
            random_state,
            churn_table=churn_table,
            previous=previous,
            labels=feature_labels(features),
            entity=entity,
        )
        result.customer_personas = con.execute(
            "select * from customer_personas order by customer_id"
        ).df()
        return result


def fit_personas_table(
    con: duckdb.DuckDBPyConnection,
    features_table: str,
    settings: PersonaSettings,
    random_state: int,
    *,
    churn_table: str | None = None,
    previous: PreviousPersonas | None = None,
    labels: dict[str, str] | None = None,
    out_table: str = "customer_personas",
    entity: EntityNoun | None = None,
) -> PersonaResult:
    """fit_personas on a customer_features table, writing the assignments to `out_table`.

    Memory is bounded whatever the number of customers: only the fit sample is fetched, everyone
    is assigned in batches of PREDICT_BATCH rows, and personas are described from aggregates
    computed in DuckDB. Customers are taken in customer_id order, so results do not depend on the
    table's row order. `churn_table` has customer_id, is_churned; `labels` name the tp_/ch_
    columns in plain words; `entity` is the noun of names and descriptions (default customers).
    The result's customer_personas is None (see `out_table`).
    """
    with threadpool_limits(limits=MODEL_THREADS):
        try:
            return _fit_personas(
                con,
                features_table,
                settings,
                random_state,
                churn_table,
                previous,
                labels,
                out_table,
                entity or EntityNoun(),
            )
        finally:
            con.execute(f"drop table if exists {INPUT_TABLE}")
            for name in (_ASSIGNED, _SAMPLE):
                with contextlib.suppress(duckdb.Error):
                    con.unregister(name)


# Rows of the clustering input assigned to personas at a time (bounds the frames in memory).
PREDICT_BATCH = 200_000
INPUT_TABLE = "_cjm_persona_input"
_ASSIGNED, _SAMPLE = "_cjm_persona_assigned", "_cjm_persona_sample"


def _fit_personas(
    con: duckdb.DuckDBPyConnection,
    features_table: str,
    settings: PersonaSettings,
    random_state: int,
    churn_table: str | None,
    previous: PreviousPersonas | None,
    labels: dict[str, str] | None,
    out_table: str,
    entity: EntityNoun,
) -> PersonaResult:
    """fit_personas_table's work, inside its thread limit and clean-up."""
    names = [r[0] for r in con.execute(f"describe {quote_ident(features_table)}").fetchall()]
    columns = persona_feature_columns(pd.DataFrame(columns=names))
    labels = feature_labels(pd.DataFrame(columns=names)) | dict(labels or {})
    n = _write_input(con, features_table, names, columns, churn_table)
    if n == 0 or not columns:
        return _no_personas(con, out_table, columns)
    selected = ", ".join(quote_ident(c) for c in columns)
    X_fit = _fit_sample(con, selected, columns, n, settings.fit_sample_size, random_state)
    k, pipeline, scores, note = fit_pipeline(X_fit, settings, random_state, mix_flags(columns))
    raw, distance = _assign(con, pipeline, selected, columns, n)
    persona_id, ids, centroids, matched, id_note = _persona_ids(
        pipeline, columns, raw, distance, k, previous
    )
    assigned = pd.DataFrame(
        {"_pos": np.arange(n, dtype="int64"), "persona_id": persona_id, "distance": distance}
    )
    con.register(_ASSIGNED, assigned)
    con.execute(
        f"create or replace table {quote_ident(out_table)} as "
        "select i._customer_id as customer_id, a.persona_id, "
        "a.distance::double as distance_to_centroid "
        f"from {INPUT_TABLE} i join {_ASSIGNED} a using (_pos) order by i._pos"
    )
    has_churn = churn_table is not None
    stats = persona_stats(con, INPUT_TABLE, _ASSIGNED, names, has_churn)
    con.unregister(_ASSIGNED)
    del assigned
    personas = describe_personas(stats, names, ids, labels, n, has_churn, entity)
    return PersonaResult(
        personas, None, pipeline, columns, k, note + id_note, scores, centroids, matched
    )


def _write_input(
    con: duckdb.DuckDBPyConnection,
    features_table: str,
    names: list[str],
    columns: list[str],
    churn_table: str | None,
) -> int:
    """INPUT_TABLE: the columns clustered or described, numbered by _pos in customer order.

    Customer order, not input row order, drives sampling and k-means init: reruns are identical.
    Everything after reads the input by position. Returns the number of customers.
    """
    needed = set(columns).union(*stat_columns(names))
    kept = ", ".join(f"f.{quote_ident(c)}" for c in names if c in needed) or "null as _none"
    churn_join, churn_col = "", "null::double as _churned"
    if churn_table is not None:
        churn_join = (
            f"left join {quote_ident(churn_table)} c "
            "on c.customer_id::varchar = f.customer_id::varchar"
        )
        churn_col = "c.is_churned::double as _churned"
    con.execute(
        f"create or replace table {INPUT_TABLE} as "
        "select row_number() over (order by f.customer_id) - 1 as _pos, "
        f"f.customer_id::varchar as _customer_id, {kept}, {churn_col} "
        f"from {quote_ident(features_table)} f {churn_join}"
    )
    return con.execute(f"select count(*) from {INPUT_TABLE}").fetchall()[0][0]


def _no_personas(
    con: duckdb.DuckDBPyConnection, out_table: str, columns: list[str]
) -> PersonaResult:
    """The result, and an empty `out_table`, when there is no customer or no column to cluster."""
    con.execute(
        f"create or replace table {quote_ident(out_table)} as select "
        "null::varchar as customer_id, null::bigint as persona_id, "
        "null::double as distance_to_centroid limit 0"
    )
    return PersonaResult(
        empty_personas(),
        None,
        None,
        columns,
        0,
        "no customers to cluster",
        centroids=centroid_frame(None, [], columns, np.empty((0, len(columns)))),
    )


def _fit_sample(
    con: duckdb.DuckDBPyConnection,
    selected: str,
    columns: list[str],
    n: int,
    size: int,
    random_state: int,
) -> pd.DataFrame:
    """The clustering matrix of at most `size` customers drawn at random (all when fewer)."""
    rng = np.random.default_rng(random_state)
    fit_rows = np.arange(n)
    if n > size:
        fit_rows = np.sort(rng.choice(n, size=size, replace=False))
    con.register(_SAMPLE, pd.DataFrame({"_pos": fit_rows.astype("int64")}))
    sample = con.execute(
        f"select {selected} from {INPUT_TABLE} join {_SAMPLE} using (_pos) order by _pos"
    ).df()
    con.unregister(_SAMPLE)
    return persona_matrix(sample, columns)


def _persona_ids(
    pipeline: Pipeline,
    columns: list[str],
    raw: np.ndarray,
    distance: np.ndarray,
    k: int,
    previous: PreviousPersonas | None,
) -> tuple[np.ndarray, list[int], pd.DataFrame, int, str]:
    """(each customer's persona id, the ids, centroids, personas matched, note on the matching).

    Ids are matched to the previous run's personas where one is close, else new ones by size.
    """
    sizes = np.bincount(raw, minlength=k)
    scaler, centres = pipeline[0], pipeline[-1].cluster_centers_
    raw_centres = scaler.inverse_transform(centres)
    radius = np.bincount(raw, weights=distance, minlength=k) / np.maximum(sizes, 1)
    matched: dict[int, int] = {}
    if previous is not None:
        matched = match_previous(raw_centres, columns, scaler.scale_, radius, previous.centroids)
    next_id = (previous.max_persona_id if previous is not None else 0) + 1
    to_id = number_personas(sizes, centres, matched, next_id)
    persona_id = np.array([to_id[c] for c in range(k)], dtype="int64")[raw]
    ids = sorted(to_id.values())
    by_id = {pid: c for c, pid in to_id.items()}
    centroids = centroid_frame(None, ids, columns, raw_centres[[by_id[i] for i in ids]])
    note = ""
    if previous is not None and len(previous.centroids):
        gone = previous.centroids["persona_id"].nunique() - len(matched)
        note = (
            f"; {len(matched)} of {k} personas matched the previous run's and kept their ids, "
            f"{k - len(matched)} new, {gone} retired"
        )
    return persona_id, ids, centroids, len(matched), note


def _assign(
    con: duckdb.DuckDBPyConnection, pipeline: Pipeline, selected: str, columns: list[str], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's cluster and distance to its centre, streamed in batches in _pos order."""
    raw = np.empty(n, dtype="int64")
    distance = np.empty(n, dtype=float)
    cursor = con.cursor()
    try:
        reader = cursor.sql(f"select {selected} from {INPUT_TABLE} order by _pos").to_arrow_reader(
            PREDICT_BATCH
        )
        done = 0
        for batch in reader:
            X = persona_matrix(batch.to_pandas(), columns)
            labels = pipeline.predict(X)
            raw[done : done + len(X)] = labels
            distance[done : done + len(X)] = pipeline.transform(X)[np.arange(len(X)), labels]
            done += len(X)
    finally:
        cursor.close()
    if done != n:
        raise RuntimeError(f"assigned {done:,} of {n:,} customers to personas")
    return raw, distance

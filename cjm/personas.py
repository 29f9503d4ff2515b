"""Personas: k-means on behavioural mix and rhythm, automatic k, names in the log's own words.

Clustering uses what a customer does and how (documented choice): the share of events per
touchpoint (tp_*) and per channel (ch_*), sessions per week, events per session, session length,
weekend and night shares. Outcomes (conversion, revenue, churn, recency, tenure) are left out so
they can be reported per persona instead of defining it; identifiers never enter.

Each column is standardised, but a touchpoint or channel share is never divided by less than the
typical spread of the shares (the root mean variance of all tp_/ch_ columns). Standardised on its
own, a touchpoint that a few customers use once (an exit page, a cancellation) would weigh as much
as the main ones, and a fading customer's one-off last session (complaint, cancellation) would
outweigh the habits that define their persona.

Names say what sets a persona apart in this log: its channel, its distinguishing touchpoints (the
log's own names), its rhythm and its outcome, with the configured entity noun (tickets, cases,
customers). A rhythm adjective ("regular", "quick") is used only where the persona's figure is in
fact far from everyone's and from the other personas' (RHYTHM_WORDS).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from cjm.config import EntityNoun, PersonaSettings
from cjm.db import connect, exact_avg_sql, quote_ident, write_table
from cjm.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX, feature_labels
from cjm.persona_identity import (
    PreviousPersonas,
    centroid_frame,
    match_previous,
    number_personas,
)

RHYTHM_FEATURES = (
    "sessions_per_week",
    "events_per_session",
    "mean_session_seconds",
    "weekend_share",
    "night_share",
)
# Heavy-tailed counts are compressed so a few power users do not become their own persona.
LOG_FEATURES = ("sessions_per_week", "events_per_session", "mean_session_seconds")
# Standardised values are clipped at +-CLIP_SD: a customer far out on one column (a heavy user
# of a rare touchpoint, a power user) counts as CLIP_SD away, so a handful of extremes cannot
# dominate the distances, the centroids and the choice of k.
CLIP_SD = 3.0
# Automatic k: a persona must hold at least this share of the customers; a cluster index alone can
# reward splitting off a handful of outliers into "personas" too small to act on.
MIN_PERSONA_SHARE = 0.03
# Calinski-Harabasz under-counts when per-customer shares are noisy (few events each) or groups are
# unequal in size; a larger k is taken when its personas are reproducible, i.e. their prediction
# strength (see prediction_strength) is at least this.
MIN_PREDICTION_STRENGTH = 0.9
N_INIT = 4
# scikit-learn's OpenMP and BLAS pools default to one thread per core. On a shared machine (other
# jobs, DuckDB) every k-means iteration then waits at a barrier for a descheduled thread, which made
# small fits 10-50x slower; the fit sample is bounded, so one thread is both fast and predictable.
MODEL_THREADS = 1
# Typical paths: the first PATH_STEPS touchpoints of a journey (repeats collapsed), top TOP_PATHS.
PATH_STEPS, TOP_PATHS = 3, 3
# A touchpoint "stands out" for a persona at 1.5x the population's share (and >= 2% of its events).
STANDOUT_RATIO, MIN_SHARE = 1.5, 0.02

PERSONA_COLUMNS = [
    "persona_id",
    "name",
    "description",
    "customer_count",
    "share",
    "conversion_rate",
    "churn_rate",
    "revenue_per_customer",
    "top_touchpoints",
    "top_channels",
]
PATH_COLUMN = "top_paths"  # added from the journeys by add_top_paths


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


def clip_extremes(Z: np.ndarray) -> np.ndarray:
    """Standardised values limited to +-CLIP_SD."""
    return np.clip(Z, -CLIP_SD, CLIP_SD)


class FlooredScaler(StandardScaler):
    """StandardScaler whose `shared` columns are divided by at least their typical spread.

    For the flagged columns the scale is max(own standard deviation, root mean variance of the
    flagged columns): a column that barely varies is not blown up to unit variance, so a rare
    value cannot dominate the distances; columns that vary as much as usual or more are unchanged.
    """

    def __init__(
        self,
        shared: tuple[bool, ...] | None = None,
        *,
        copy: bool = True,
        with_mean: bool = True,
        with_std: bool = True,
    ) -> None:
        super().__init__(copy=copy, with_mean=with_mean, with_std=with_std)
        self.shared = shared

    def fit(
        self,
        X: pd.DataFrame | np.ndarray,
        y: object = None,
        sample_weight: np.ndarray | None = None,
    ) -> FlooredScaler:
        """Fit the per-column scales, then raise the flagged columns' scales to their floor."""
        super().fit(X, y, sample_weight)
        mask = np.zeros(self.n_features_in_, dtype=bool)
        if self.shared is not None:
            mask = np.asarray(self.shared, dtype=bool)
            if mask.shape != (self.n_features_in_,):
                raise ValueError(
                    f"shared has {mask.size} flags for {self.n_features_in_} feature columns"
                )
        if self.with_std and mask.any():
            floor = float(np.sqrt(np.mean(self.var_[mask])))
            self.scale_ = self.scale_.copy()
            self.scale_[mask] = np.maximum(self.scale_[mask], floor)
        return self


def mix_flags(columns: list[str]) -> tuple[bool, ...]:
    """Which clustering columns are touchpoint or channel shares (their scales share a floor)."""
    return tuple(c.startswith((TOUCHPOINT_PREFIX, CHANNEL_PREFIX)) for c in columns)


def make_persona_pipeline(
    k: int, random_state: int, shared: tuple[bool, ...] | None = None
) -> Pipeline:
    """Standardise (`shared` columns with a floor on their scale), clip at +-CLIP_SD, k-means."""
    return Pipeline(
        [
            ("scale", FlooredScaler(shared)),
            ("clip", FunctionTransformer(clip_extremes)),
            ("kmeans", KMeans(n_clusters=k, n_init=N_INIT, random_state=random_state)),
        ]
    )


def persona_feature_columns(features: pd.DataFrame) -> list[str]:
    """The clustering inputs present in a customer_features frame (see module docstring)."""
    mix = [c for c in features.columns if c.startswith((TOUCHPOINT_PREFIX, CHANNEL_PREFIX))]
    return mix + [c for c in RHYTHM_FEATURES if c in features.columns]


def persona_matrix(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Clustering matrix: missing shares are 0, heavy-tailed rhythm columns are log1p'd."""
    X = features[columns].astype(float).fillna(0.0)
    for c in LOG_FEATURES:
        if c in X:
            X[c] = np.log1p(X[c].clip(lower=0))
    return X


def prediction_strength(Z: np.ndarray, k: int, random_state: int) -> float:
    """How far k personas fitted on half the rows reproduce those fitted on the other half.

    Tibshirani and Walther (2005): the rows are split in two at random and each half clustered;
    for each persona of the second half, the share of its pairs of members that the first half's
    centroids also put together; the smallest share over the personas (0 for a persona of one).
    """
    rows = np.random.default_rng(random_state).permutation(len(Z))
    half = len(rows) // 2

    def fit(part: np.ndarray) -> KMeans:
        return KMeans(n_clusters=k, n_init=N_INIT, random_state=random_state).fit(part)

    test = Z[rows[half:]]
    own, other = fit(test).labels_, fit(Z[rows[:half]]).predict(test)
    worst = 1.0
    for c in range(k):
        counts = np.bincount(other[own == c])
        n = counts.sum()
        worst = min(worst, float(np.sum(counts * (counts - 1)) / (n * (n - 1))) if n > 1 else 0.0)
    return worst


def choose_k(
    X: pd.DataFrame | np.ndarray,
    k_min: int,
    k_max: int,
    random_state: int,
    shared: tuple[bool, ...] | None = None,
) -> int:
    """The k in [k_min, k_max] with the best Calinski-Harabasz score or a larger stable one."""
    with threadpool_limits(limits=MODEL_THREADS):
        return _choose_k(X, k_min, k_max, random_state, shared)[0]


def _choose_k(
    X: pd.DataFrame | np.ndarray,
    k_min: int,
    k_max: int,
    random_state: int,
    shared: tuple[bool, ...] | None = None,
) -> tuple[int, dict[int, float], dict[int, Pipeline], list[int]]:
    """(k, score by k, fitted pipeline by k, k left out for a too-small persona).

    The score is the Calinski-Harabasz index (between-persona over within-persona dispersion,
    each divided by its degrees of freedom) in the pipeline's scaled and clipped space, on every
    row of X (the bounded fit sample): it needs no pairwise distances. Only k whose smallest
    persona holds at least MIN_PERSONA_SHARE of the customers compete (if none does, all do).
    Highest score wins, ties to the smaller k, unless a larger k without a too-small persona has
    a prediction strength of at least MIN_PREDICTION_STRENGTH: then the largest such k.
    """
    values = np.asarray(X, dtype=float)
    distinct = len(np.unique(values, axis=0)) if len(values) else 0
    # The index is defined for 2 <= k <= distinct points - 1.
    lo, hi = max(k_min, 2), min(k_max, distinct - 1)
    if hi < lo:
        return 1, {}, {}, []  # nothing to compare: one persona is the honest answer
    pipes: dict[int, Pipeline] = {}
    scores: dict[int, float] = {}
    small: list[int] = []
    scaled = None
    for k in range(lo, hi + 1):
        pipe = make_persona_pipeline(k, random_state, shared).fit(X)
        labels = pipe[-1].labels_
        if len(np.unique(labels)) < 2:
            continue
        if scaled is None:  # every k scales the same rows the same way
            scaled = np.asarray(pipe[:-1].transform(X), dtype=float)
        pipes[k], scores[k] = pipe, float(calinski_harabasz_score(scaled, labels))
        if np.bincount(labels, minlength=k).min() < MIN_PERSONA_SHARE * len(labels):
            small.append(k)
    if not pipes:
        return 1, {}, {}, []
    best = _best_scored_k(scores, small)
    for k in sorted((k for k in scores if k > best and k not in small), reverse=True):
        if prediction_strength(scaled, k, random_state) >= MIN_PREDICTION_STRENGTH:
            return k, scores, pipes, small
    return best, scores, pipes, small


def _best_scored_k(scores: dict[int, float], small: list[int]) -> int:
    """The best-scoring k among those without a too-small persona (all if none); ties to smaller."""
    eligible = [k for k in scores if k not in small] or list(scores)
    return max(eligible, key=lambda k: (round(scores[k], 6), -k))


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
    match (see cjm.persona_identity); otherwise ids are 1..k by size. The frame goes through the
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
    names = [r[0] for r in con.execute(f"describe {quote_ident(features_table)}").fetchall()]
    columns = persona_feature_columns(pd.DataFrame(columns=names))
    labels = feature_labels(pd.DataFrame(columns=names)) | dict(labels or {})
    # Customer order, not input row order, drives sampling and k-means init: reruns are identical.
    # The input (the columns clustered or described) is numbered once in that order; everything
    # after reads it by position.
    needed = set(columns).union(*_stat_columns(names))
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
    n = con.execute(f"select count(*) from {INPUT_TABLE}").fetchall()[0][0]
    if n == 0 or not columns:
        con.execute(
            f"create or replace table {quote_ident(out_table)} as select "
            "null::varchar as customer_id, null::bigint as persona_id, "
            "null::double as distance_to_centroid limit 0"
        )
        return PersonaResult(
            _empty_personas(),
            None,
            None,
            columns,
            0,
            "no customers to cluster",
            centroids=centroid_frame(None, [], columns, np.empty((0, len(columns)))),
        )
    selected = ", ".join(quote_ident(c) for c in columns)
    rng = np.random.default_rng(random_state)
    fit_rows = np.arange(n)
    if n > settings.fit_sample_size:
        fit_rows = np.sort(rng.choice(n, size=settings.fit_sample_size, replace=False))
    con.register(_SAMPLE, pd.DataFrame({"_pos": fit_rows.astype("int64")}))
    sample = con.execute(
        f"select {selected} from {INPUT_TABLE} join {_SAMPLE} using (_pos) order by _pos"
    ).df()
    con.unregister(_SAMPLE)
    X_fit = persona_matrix(sample, columns)
    del sample
    distinct = len(np.unique(X_fit.to_numpy(), axis=0))
    scores: dict[int, float] = {}
    pipeline = None
    if settings.k == "auto":
        k, scores, pipes, small = _choose_k(
            X_fit, settings.k_min, settings.k_max, random_state, mix_flags(columns)
        )
        pipeline = pipes.get(k)
        if scores:
            if not small:
                among = f"k={min(scores)}..{max(scores)}"
            elif len(small) < len(scores):
                among = (
                    f"k={min(scores)}..{max(scores)} whose personas each hold at least "
                    f"{MIN_PERSONA_SHARE:.0%} of customers (not k={', '.join(map(str, small))})"
                )
            else:
                among = (
                    f"k={min(scores)}..{max(scores)} (each has a persona under "
                    f"{MIN_PERSONA_SHARE:.0%} of customers)"
                )
            note = (
                f"k={k} chosen automatically: best Calinski-Harabasz score ({scores[k]:,.0f}) "
                f"among {among}, on {len(X_fit):,} customers"
            )
            top = _best_scored_k(scores, small)
            if top != k:
                note = (
                    f"k={k} chosen automatically: the largest k whose personas are reproducible "
                    f"(prediction strength at least {MIN_PREDICTION_STRENGTH}) above k={top}, the "
                    f"best Calinski-Harabasz score ({scores[top]:,.0f}) among {among}, "
                    f"on {len(X_fit):,} customers"
                )
        else:
            note = f"k={k}: too few distinct customers to compare k"
    else:
        k = max(1, min(int(settings.k), distinct))
        note = f"k={k} from the configuration" + (
            f" (reduced from {settings.k}: only {distinct} distinct customers)"
            if k < settings.k
            else ""
        )
    if pipeline is None:
        pipeline = make_persona_pipeline(k, random_state, mix_flags(columns)).fit(X_fit)
    raw, distance = _assign(con, pipeline, selected, columns, n)

    # Ids: matched to the previous run's personas where one is close, else new ones by size.
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
    if previous is not None and len(previous.centroids):
        gone = previous.centroids["persona_id"].nunique() - len(matched)
        note += (
            f"; {len(matched)} of {k} personas matched the previous run's and kept their ids, "
            f"{k - len(matched)} new, {gone} retired"
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
    stats = _persona_stats(con, names, has_churn)
    con.unregister(_ASSIGNED)
    del assigned
    personas = _describe(stats, names, ids, labels, n, has_churn, entity)
    return PersonaResult(
        personas, None, pipeline, columns, k, note, scores, centroids, len(matched)
    )


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


def _stat_columns(names: list[str]) -> tuple[list[str], list[str]]:
    """(columns whose means describe personas, rhythm columns compared in clustering scale)."""
    mean_cols = [c for c in names if c.startswith((TOUCHPOINT_PREFIX, CHANNEL_PREFIX))]
    mean_cols += [
        c
        for c in ("is_converted", "monetary", "frequency", "sessions_per_week", *RHYTHM_TEXT)
        if c in names and c not in mean_cols
    ]
    rhythm = [c for c in dict.fromkeys(f for f, *_ in RHYTHM_WORDS) if c in names]
    return mean_cols, rhythm


def _persona_stats(
    con: duckdb.DuckDBPyConnection, names: list[str], has_churn: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """Per persona (by id) and for everyone: customers and the means _describe quotes.

    Columns `m:<c>` are means of raw columns, `t:<c>` and `sd:<c>` the mean and standard deviation
    of the rhythm columns in the clustering scale (clipped at 0, log1p for LOG_FEATURES).
    """
    mean_cols, rhythm = _stat_columns(names)

    def scaled(c: str) -> str:
        value = f"case when i.{quote_ident(c)} < 0 then 0 else i.{quote_ident(c)} end::double"
        return f"ln(1 + {value})" if c in LOG_FEATURES else value

    # exact means: the published rates and revenue per customer are the same on every re-run
    means = [
        f"{exact_avg_sql(f'i.{quote_ident(c)}::double')} as {quote_ident('m:' + c)}"
        for c in mean_cols
    ]
    means += [f"{exact_avg_sql(scaled(c))} as {quote_ident('t:' + c)}" for c in rhythm]
    means += [
        "avg(i._churned) as churn",
        "count(i.monetary) as revenue_n" if "monetary" in names else "0 as revenue_n",
    ]
    spread = [f"stddev_samp({scaled(c)}) as {quote_ident('sd:' + c)}" for c in rhythm]
    source = f"from {INPUT_TABLE} i join {_ASSIGNED} a using (_pos)"
    per = con.execute(
        f"select a.persona_id, count(*) as n, {', '.join(means)} {source} "
        "group by a.persona_id order by a.persona_id"
    ).df()
    population = (
        con.execute(f"select count(*) as n, {', '.join(means + spread)} {source}").df().iloc[0]
    )
    per = per.set_index("persona_id")
    if not has_churn:
        per["churn"] = np.nan
    return per, population


def _empty_personas() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PERSONA_COLUMNS}).astype(
        {"persona_id": "int64", "customer_count": "int64", "share": float}
        | {c: float for c in ("conversion_rate", "churn_rate", "revenue_per_customer")}
    )


def _value(row: pd.Series, key: str) -> float:
    """A mean from the stats (NaN when missing or null)."""
    value = row.get(key)
    return float("nan") if value is None or pd.isna(value) else float(value)


def _ranked_mix(
    persona: pd.Series, population: pd.Series, columns: list[str]
) -> list[tuple[str, float, float]]:
    """(column, persona share, ratio to population) ranked by ratio, for shares >= MIN_SHARE."""
    rows = []
    for c in columns:
        share, pop = _value(persona, "m:" + c), _value(population, "m:" + c)
        if share >= MIN_SHARE and pop > 0:
            rows.append((c, share, share / pop))
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0]))


def _over(ranked: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The over-represented entries, or the most used ones when nothing is above average."""
    above = [r for r in ranked if r[2] >= 1.1]
    return (above or sorted(ranked, key=lambda r: (-r[1], r[0])))[:3]


def _mix_text(ranked: list[tuple[str, float, float]], labels: dict[str, str]) -> str:
    return ", ".join(f"{labels.get(c, c)} ({ratio:.1f}x)" for c, _, ratio in _over(ranked))


# Rhythm adjectives: (feature, direction, adjective, |z| needed). The adjective of the feature that
# sets the persona apart most (largest |z| / needed, at least 1) goes into its name; z is the
# persona's mean against all customers in the clustering scale (heavy-tailed columns log1p'd, as
# k-means saw them). The raw mean must also differ from the other personas' customers by
# RHYTHM_RATIO, so a tiny spread cannot turn an ordinary figure into a trait.
RHYTHM_WORDS = (
    ("sessions_per_week", 1, "regular", 0.5),
    ("sessions_per_week", -1, "occasional", 0.5),
    ("events_per_session", 1, "many-step", 0.5),
    ("events_per_session", -1, "quick", 0.5),
    ("mean_session_seconds", 1, "long-running", 0.5),
    ("night_share", 1, "night-time", 1.0),
    ("weekend_share", 1, "weekend", 1.0),
)
RHYTHM_RATIO = 1.25
# "Regular" needs repeat activity: sessions per week count the first week as a week, so one
# session on one day is one a week, as high as a weekly habit.
REGULAR_MIN_SESSIONS = 2.0
RHYTHM_TEXT = {
    "events_per_session": ("events per session", "{:.1f}"),
    "mean_session_seconds": ("average session length in minutes", "{:.1f}"),
    "weekend_share": ("events at weekends", "{:.0%}"),
    "night_share": ("events at night (22:00-06:00)", "{:.0%}"),
}


def _rhythm_z(persona: pd.Series, population: pd.Series) -> dict[str, float]:
    """Persona mean minus population mean, in population standard deviations (clustering scale)."""
    out = {}
    for c in dict.fromkeys(f for f, *_ in RHYTHM_WORDS):
        if "t:" + c not in population:
            continue
        sd = _value(population, "sd:" + c)
        mine, pop = _value(persona, "t:" + c), _value(population, "t:" + c)
        out[c] = 0.0 if not sd > 0 else (mine - pop) / sd
    return out


def _others_mean(persona: pd.Series, population: pd.Series, column: str) -> float:
    """Mean of `column` over the customers of every other persona."""
    n, total = _value(persona, "n"), _value(population, "n")
    mine, pop = _value(persona, "m:" + column), _value(population, "m:" + column)
    return (pop * total - mine * n) / (total - n) if total > n else float("nan")


def _stands_apart(persona: pd.Series, population: pd.Series, column: str, sign: int) -> bool:
    """Whether the persona's raw mean is RHYTHM_RATIO beyond the other personas' (by sign)."""
    if "m:" + column not in persona:
        return True  # the clustering-scale z alone is all there is to judge by
    mine, others = _value(persona, "m:" + column), _others_mean(persona, population, column)
    if np.isnan(mine) or np.isnan(others):
        return False
    return mine >= RHYTHM_RATIO * others if sign > 0 else mine * RHYTHM_RATIO <= others


def _rhythm_word(z: dict[str, float], persona: pd.Series, population: pd.Series) -> str:
    """The adjective of the rhythm that sets the persona apart most, or ''."""
    best, chosen = 1.0, ""
    for feature, sign, word, needed in RHYTHM_WORDS:
        strength = sign * z.get(feature, 0.0) / needed
        if strength < best or not _stands_apart(persona, population, feature, sign):
            continue
        if word == "regular" and not _value(persona, "m:frequency") >= REGULAR_MIN_SESSIONS:
            continue
        best, chosen = strength, word
    return chosen


def _outcome_words(
    conv: float, pop_conv: float, rate: float, pop_churn: float, has_conversion: bool
) -> list[str]:
    """'high conversion', 'low churn' ...: the outcomes on which the persona differs clearly."""
    words = [_relative_word(conv, pop_conv, "conversion")] if has_conversion else []
    words.append(_relative_word(rate, pop_churn, "churn"))
    return [w for w in words if w]


def _describe(
    stats: tuple[pd.DataFrame, pd.Series],
    names: list[str],
    ids: list[int],
    labels: dict[str, str],
    customers: int,
    has_churn: bool,
    entity: EntityNoun,
) -> pd.DataFrame:
    """Name and describe each persona from its aggregates (see _persona_stats)."""
    per, population = stats
    one, many = entity.singular, entity.plural
    tp_cols = [c for c in names if c.startswith(TOUCHPOINT_PREFIX)]
    ch_cols = [c for c in names if c.startswith(CHANNEL_PREFIX)]
    has_revenue = "monetary" in names and int(population["revenue_n"]) > 0
    has_conversion = "is_converted" in names
    pop_churn = _value(population, "churn")
    pop_conv = _value(population, "m:is_converted") if has_conversion else float("nan")
    pop_rev = _value(population, "m:monetary") if has_revenue else float("nan")
    pop_spw = _value(population, "m:sessions_per_week")

    rows = []
    for pid in ids:
        part = per.loc[pid]
        count = int(part["n"])
        share_of_all = count / customers
        tps = _ranked_mix(part, population, tp_cols)
        chs = _ranked_mix(part, population, ch_cols)
        standout = [(c, s, r) for c, s, r in tps if r >= STANDOUT_RATIO][:2]
        channel = next(((c, s, r) for c, s, r in chs if r >= 1.25 and s >= 0.3), None)
        conv = _value(part, "m:is_converted") if has_conversion else float("nan")
        rate = _value(part, "churn")
        revenue = _value(part, "m:monetary") if has_revenue else float("nan")

        z = _rhythm_z(part, population)
        adjective = _rhythm_word(z, part, population)
        via = labels.get(channel[0], "").replace("_", " ") if channel else ""
        head = " ".join(w for w in (adjective, via, many) if w)
        outcome = _outcome_words(conv, pop_conv, rate, pop_churn, has_conversion)
        if not (adjective or via or standout or outcome):
            head = f"typical {many}"
        name = head[0].upper() + head[1:]
        if standout:
            name += ": " + " & ".join(labels.get(c, c) for c, _, _ in standout)
        if outcome:
            name += f" ({', '.join(outcome)})"

        summary = name.split(":")[0].split(" (")[0]
        if standout:
            standout_names = " and ".join(labels.get(c, c) for c, _, _ in standout)
            summary += f": {standout_names} far above average"
        if outcome:
            summary += ", " + ", ".join(outcome)
        counted = f"{count:,} {one if count == 1 else many} ({share_of_all:.0%})."
        sentences = [summary + ".", counted]
        if tps:
            mix = ", ".join(
                f"{labels.get(c, c)} {s:.0%} of events ({r:.1f}x the population)"
                for c, s, r in _over(tps)
            )
            above = any(r >= 1.1 for _, _, r in tps)
            lead = "Most over-represented touchpoints" if above else "No touchpoint above average"
            sentences.append(f"{lead}: {mix}.")
        if channel:
            c, s, _ = channel
            sentences.append(
                f"Mostly via {labels.get(c, c)} ({s:.0%} of events vs "
                f"{_value(population, 'm:' + c):.0%} overall)."
            )
        elif not ch_cols:
            sentences.append("The log has no channel data, so channels are not described.")
        if "sessions_per_week" in names:
            sentences.append(
                f"{_rate(_value(part, 'm:sessions_per_week'))} sessions a week "
                f"(all {many} {_rate(pop_spw)})."
            )
        for c, (what, fmt) in RHYTHM_TEXT.items():
            if abs(z.get(c, 0.0)) >= 0.5:
                scale = 1 / 60 if c == "mean_session_seconds" else 1
                mine = _value(part, "m:" + c) * scale
                pop = _value(population, "m:" + c) * scale
                sentences.append(
                    f"{what.capitalize()}: {fmt.format(mine)} (all {many} {fmt.format(pop)})."
                )
        if has_conversion:
            sentences.append(f"Converted: {conv:.0%} (all {many} {pop_conv:.0%}).")
        if not has_churn:
            sentences.append("Churn rate not computed (no churn labels were given).")
        elif not np.isnan(rate):
            sentences.append(f"Churned: {rate:.0%} (all {many} {pop_churn:.0%}).")
        if has_revenue:
            sentences.append(f"Revenue per {one} {revenue:,.2f} (all {many} {pop_rev:,.2f}).")
        else:
            sentences.append("The log has no revenue, so value is not described.")
        rows.append(
            {
                "persona_id": pid,
                "name": name,
                "description": " ".join(sentences),
                "customer_count": count,
                "share": share_of_all,
                "conversion_rate": conv,
                "churn_rate": rate,
                "revenue_per_customer": revenue,
                "top_touchpoints": _mix_text(tps, labels) or None,
                "top_channels": _mix_text(chs, labels) or None,
            }
        )
    out = pd.DataFrame(rows, columns=PERSONA_COLUMNS)
    # Names are what analysts filter on, so they must be unique.
    dup = out["name"].duplicated(keep=False)
    out.loc[dup, "name"] = (
        out.loc[dup, "name"] + " (persona " + out.loc[dup, "persona_id"].astype(str) + ")"
    )
    return out


def _rate(x: float) -> str:
    return f"{x:.2f}" if abs(x) < 1 else f"{x:.1f}"


def _relative_word(value: float, population: float, what: str) -> str:
    if np.isnan(value) or np.isnan(population) or population <= 0:
        return ""
    if value >= 1.5 * population:
        return f"high {what}"
    if value <= population / 1.5:
        return f"low {what}"
    return ""


def add_top_paths(con: duckdb.DuckDBPyConnection, personas: pd.DataFrame) -> pd.DataFrame:
    """personas plus top_paths: each persona's most common journey openings and their shares.

    An opening is the first PATH_STEPS touchpoints of the journey with immediate repeats collapsed
    (`a > a > b` is `a > b`), ending in ` > ...` when the journey goes on. Reads journeys and
    customer_personas; the most common opening is also quoted in the description.
    """
    rows = con.execute(
        f"""
        with split as (
            select p.persona_id, string_split(j.path, ' > ') as steps
            from customer_personas p join journeys j using (customer_id)
        ),
        collapsed as (
            select persona_id, list_filter(steps, lambda x, i: i = 1 or x != steps[i - 1]) as steps
            from split
        ),
        openings as (
            select persona_id,
                   array_to_string(steps[1:{PATH_STEPS}], ' > ')
                   || case when len(steps) > {PATH_STEPS} then ' > ...' else '' end as opening,
                   count(*) as n
            from collapsed group by all
        ),
        ranked as (
            select *, n / sum(n) over (partition by persona_id) as share,
                   row_number() over (partition by persona_id order by n desc, opening) as rank
            from openings
        )
        select persona_id, opening, share from ranked where rank <= {TOP_PATHS}
        order by persona_id, rank
        """
    ).fetchall()
    found: dict[int, list[tuple[str, float]]] = {}
    for pid, opening, share in rows:
        found.setdefault(int(pid), []).append((opening, float(share)))
    out = personas.copy()
    out[PATH_COLUMN] = [
        "; ".join(f"{o} ({s:.0%})" for o, s in found.get(int(p), [])) or None
        for p in out["persona_id"]
    ]
    out["description"] = [
        d
        + (
            f" Most common journey opening: {found[int(p)][0][0]} ({found[int(p)][0][1]:.0%})."
            if int(p) in found
            else ""
        )
        for p, d in zip(out["persona_id"], out["description"], strict=True)
    ]
    return out

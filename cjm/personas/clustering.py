"""Persona clustering: the scikit-learn Pipeline factory, its inputs and the automatic choice of k.

Clustering uses what a customer does and how (documented choice): the share of events per
touchpoint (tp_*) and per channel (ch_*), sessions per week, events per session, session length,
weekend and night shares. Outcomes (conversion, revenue, churn, recency, tenure) are left out so
they can be reported per persona instead of defining it; identifiers never enter.

Each column is standardised, but a touchpoint or channel share is never divided by less than the
typical spread of the shares (the root mean variance of all tp_/ch_ columns). Standardised on its
own, a touchpoint that a few customers use once (an exit page, a cancellation) would weigh as much
as the main ones, and a fading customer's one-off last session (complaint, cancellation) would
outweigh the habits that define their persona.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from cjm.config import PersonaSettings
from cjm.personas.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX

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


def fit_pipeline(
    X_fit: pd.DataFrame, settings: PersonaSettings, random_state: int, shared: tuple[bool, ...]
) -> tuple[int, Pipeline, dict[int, float], str]:
    """(k, the pipeline fitted on X_fit, score by k, how k was chosen) for the settings' k."""
    distinct = len(np.unique(X_fit.to_numpy(), axis=0))
    scores: dict[int, float] = {}
    pipeline = None
    if settings.k == "auto":
        k, scores, pipes, small = _choose_k(
            X_fit, settings.k_min, settings.k_max, random_state, shared
        )
        pipeline = pipes.get(k)
        note = _auto_k_note(k, scores, small, len(X_fit))
    else:
        k = max(1, min(int(settings.k), distinct))
        note = f"k={k} from the configuration" + (
            f" (reduced from {settings.k}: only {distinct} distinct customers)"
            if k < settings.k
            else ""
        )
    if pipeline is None:
        pipeline = make_persona_pipeline(k, random_state, shared).fit(X_fit)
    return k, pipeline, scores, note


def _auto_k_note(k: int, scores: dict[int, float], small: list[int], rows: int) -> str:
    """How the automatic k was chosen, for the run's notes."""
    if not scores:
        return f"k={k}: too few distinct customers to compare k"
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
    top = _best_scored_k(scores, small)
    if top != k:
        return (
            f"k={k} chosen automatically: the largest k whose personas are reproducible "
            f"(prediction strength at least {MIN_PREDICTION_STRENGTH}) above k={top}, the "
            f"best Calinski-Harabasz score ({scores[top]:,.0f}) among {among}, "
            f"on {rows:,} customers"
        )
    return (
        f"k={k} chosen automatically: best Calinski-Harabasz score ({scores[k]:,.0f}) "
        f"among {among}, on {rows:,} customers"
    )

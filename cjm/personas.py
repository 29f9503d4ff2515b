"""Personas: k-means on behavioural mix and rhythm, automatic k, plain-words names.

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

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits

from cjm.config import PersonaSettings
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
    customer_personas: pd.DataFrame
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


def choose_k(
    X: pd.DataFrame | np.ndarray,
    k_min: int,
    k_max: int,
    random_state: int,
    shared: tuple[bool, ...] | None = None,
) -> int:
    """The k in [k_min, k_max] with the best Calinski-Harabasz score (see _choose_k)."""
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
    Highest score wins; ties go to the smaller k.
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
    eligible = [k for k in scores if k not in small] or list(scores)
    best = max(eligible, key=lambda k: (round(scores[k], 6), -k))
    return best, scores, pipes, small


def fit_personas(
    features: pd.DataFrame,
    settings: PersonaSettings,
    random_state: int,
    churned: pd.Series | None = None,
    previous: PreviousPersonas | None = None,
) -> PersonaResult:
    """Cluster customers into personas (fit on a bounded sample, assign everyone) and name them.

    With `previous` (the last published run), personas keep the ids of the previous personas they
    match (see cjm.persona_identity); otherwise ids are 1..k by size.
    """
    with threadpool_limits(limits=MODEL_THREADS):
        return _fit_personas(features, settings, random_state, churned, previous)


def _fit_personas(
    features: pd.DataFrame,
    settings: PersonaSettings,
    random_state: int,
    churned: pd.Series | None,
    previous: PreviousPersonas | None,
) -> PersonaResult:
    columns = persona_feature_columns(features)
    if features.empty or not columns:
        return PersonaResult(
            _empty_personas(),
            _empty_assignments(),
            None,
            columns,
            0,
            "no customers to cluster",
            centroids=centroid_frame(None, [], columns, np.empty((0, len(columns)))),
        )
    # Customer order, not input row order, drives sampling and k-means init: reruns are identical.
    features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
    X = persona_matrix(features, columns)
    rng = np.random.default_rng(random_state)
    fit_rows = np.arange(len(X))
    if len(X) > settings.fit_sample_size:
        fit_rows = np.sort(rng.choice(len(X), size=settings.fit_sample_size, replace=False))
    X_fit = X.iloc[fit_rows]
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
    raw = pipeline.predict(X)
    distance = pipeline.transform(X)[np.arange(len(X)), raw]

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
    persona_id = np.array([to_id[c] for c in raw])
    ids = sorted(to_id.values())
    by_id = {pid: c for c, pid in to_id.items()}
    centroids = centroid_frame(None, ids, columns, raw_centres[[by_id[i] for i in ids]])
    if previous is not None and len(previous.centroids):
        gone = previous.centroids["persona_id"].nunique() - len(matched)
        note += (
            f"; {len(matched)} of {k} personas matched the previous run's and kept their ids, "
            f"{k - len(matched)} new, {gone} retired"
        )

    assignments = pd.DataFrame(
        {
            "customer_id": features["customer_id"].astype(str).to_numpy(),
            "persona_id": persona_id.astype("int64"),
            "distance_to_centroid": distance.astype(float),
        }
    )
    personas = _describe(features, persona_id, ids, churned)
    return PersonaResult(
        personas, assignments, pipeline, columns, k, note, scores, centroids, len(matched)
    )


def _empty_personas() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in PERSONA_COLUMNS}).astype(
        {"persona_id": "int64", "customer_count": "int64", "share": float}
        | {c: float for c in ("conversion_rate", "churn_rate", "revenue_per_customer")}
    )


def _empty_assignments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "persona_id": pd.Series(dtype="int64"),
            "distance_to_centroid": pd.Series(dtype=float),
        }
    )


def _mean(s: pd.Series) -> float:
    return float(s.mean()) if s.notna().any() else float("nan")


def _ranked_mix(
    persona: pd.DataFrame, population_means: pd.Series, columns: list[str]
) -> list[tuple[str, float, float]]:
    """(column, persona share, ratio to population) ranked by ratio, for shares >= MIN_SHARE."""
    rows = []
    for c in columns:
        share, pop = float(persona[c].mean()), float(population_means[c])
        if share >= MIN_SHARE and pop > 0:
            rows.append((c, share, share / pop))
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0]))


def _over(ranked: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """The over-represented entries, or the most used ones when nothing is above average."""
    above = [r for r in ranked if r[2] >= 1.1]
    return (above or sorted(ranked, key=lambda r: (-r[1], r[0])))[:3]


def _mix_text(ranked: list[tuple[str, float, float]], labels: dict[str, str]) -> str:
    return ", ".join(f"{labels.get(c, c)} ({ratio:.1f}x)" for c, _, ratio in _over(ranked))


# Rhythm words: (feature, direction, noun, |z| needed). The noun of the feature that sets the
# persona apart most (largest |z| / needed, at least 1) names it; z is the persona's mean against
# all customers in the clustering scale (heavy-tailed columns log1p'd, as k-means saw them).
RHYTHM_NOUNS = (
    ("sessions_per_week", 1, "regulars", 0.5),
    ("sessions_per_week", -1, "occasional visitors", 0.5),
    ("events_per_session", 1, "deep browsers", 0.5),
    ("events_per_session", -1, "quick visitors", 0.5),
    ("mean_session_seconds", 1, "long-session visitors", 0.5),
    ("night_share", 1, "night owls", 1.0),
    ("weekend_share", 1, "weekenders", 1.0),
)
RHYTHM_TEXT = {
    "events_per_session": ("events per session", "{:.1f}"),
    "mean_session_seconds": ("average session length in minutes", "{:.1f}"),
    "weekend_share": ("events at weekends", "{:.0%}"),
    "night_share": ("events at night (22:00-06:00)", "{:.0%}"),
}


def _rhythm_z(persona: pd.DataFrame, population: pd.DataFrame) -> dict[str, float]:
    """Persona mean minus population mean, in population standard deviations (clustering scale)."""
    out = {}
    for c in dict.fromkeys(f for f, *_ in RHYTHM_NOUNS):
        if c not in population:
            continue
        pop = population[c].astype(float).clip(lower=0)
        mine = persona[c].astype(float).clip(lower=0)
        if c in LOG_FEATURES:
            pop, mine = np.log1p(pop), np.log1p(mine)
        sd = float(pop.std())
        out[c] = 0.0 if not sd > 0 else (float(mine.mean()) - float(pop.mean())) / sd
    return out


def _rhythm_noun(z: dict[str, float]) -> str:
    best, noun = 1.0, "customers"
    for feature, sign, word, needed in RHYTHM_NOUNS:
        strength = sign * z.get(feature, 0.0) / needed
        if strength >= best:
            best, noun = strength, word
    return noun


def _describe(
    features: pd.DataFrame, persona_id: np.ndarray, ids: list[int], churned: pd.Series | None
) -> pd.DataFrame:
    labels = feature_labels(features)
    tp_cols = [c for c in features.columns if c.startswith(TOUCHPOINT_PREFIX)]
    ch_cols = [c for c in features.columns if c.startswith(CHANNEL_PREFIX)]
    pop_means = features[tp_cols + ch_cols].mean()
    churn = None
    if churned is not None:
        lookup = churned.copy()
        lookup.index = lookup.index.astype(str)
        churn = features["customer_id"].astype(str).map(lookup).astype(float)
    has_revenue = "monetary" in features and features["monetary"].notna().any()
    has_conversion = "is_converted" in features
    pop_churn = _mean(churn) if churn is not None else float("nan")
    pop_conv = _mean(features["is_converted"]) if has_conversion else float("nan")
    pop_rev = _mean(features["monetary"]) if has_revenue else float("nan")
    pop_spw = _mean(features["sessions_per_week"]) if "sessions_per_week" in features else np.nan

    rows = []
    for pid in ids:
        mask = persona_id == pid
        part = features.loc[mask]
        tps = _ranked_mix(part, pop_means, tp_cols)
        chs = _ranked_mix(part, pop_means, ch_cols)
        standout = [(c, s, r) for c, s, r in tps if r >= STANDOUT_RATIO][:2]
        channel = next(((c, s, r) for c, s, r in chs if r >= 1.25 and s >= 0.3), None)
        conv = _mean(part["is_converted"]) if has_conversion else float("nan")
        rate = _mean(churn[mask]) if churn is not None else float("nan")
        revenue = _mean(part["monetary"]) if has_revenue else float("nan")

        z = _rhythm_z(part, features)
        noun = _rhythm_noun(z)
        prefix = labels.get(channel[0], "").replace("_", " ") + " " if channel else ""
        head = (prefix + noun).strip()
        name = head[0].upper() + head[1:]
        if standout:
            name += ": " + " & ".join(labels.get(c, c) for c, _, _ in standout)
        elif not channel and noun == "customers":
            name = "Mainstream customers"

        summary = name.split(":")[0]
        if standout:
            names = " and ".join(labels.get(c, c) for c, _, _ in standout)
            summary += f": {names} far above average"
        churn_word = _relative_word(rate, pop_churn, "churn")
        if churn_word:
            summary += f", {churn_word}"
        sentences = [summary + ".", f"{int(mask.sum()):,} customers ({mask.mean():.0%})."]
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
                f"Mostly via {labels.get(c, c)} ({s:.0%} of events vs {pop_means[c]:.0%} overall)."
            )
        elif not ch_cols:
            sentences.append("The log has no channel data, so channels are not described.")
        if "sessions_per_week" in part:
            sentences.append(
                f"{_rate(part['sessions_per_week'].mean())} sessions a week "
                f"(all customers {_rate(pop_spw)})."
            )
        for c, (what, fmt) in RHYTHM_TEXT.items():
            if abs(z.get(c, 0.0)) >= 0.5:
                scale = 1 / 60 if c == "mean_session_seconds" else 1
                mine, pop = part[c].mean() * scale, features[c].mean() * scale
                sentences.append(
                    f"{what.capitalize()}: {fmt.format(mine)} (all customers {fmt.format(pop)})."
                )
        if has_conversion:
            sentences.append(f"Converted: {conv:.0%} (all customers {pop_conv:.0%}).")
        if churn is None:
            sentences.append("Churn rate not computed (no churn labels were given).")
        elif not np.isnan(rate):
            sentences.append(f"Churned: {rate:.0%} (all customers {pop_churn:.0%}).")
        if has_revenue:
            sentences.append(f"Revenue per customer {revenue:,.2f} (all customers {pop_rev:,.2f}).")
        else:
            sentences.append("The log has no revenue, so value is not described.")
        rows.append(
            {
                "persona_id": pid,
                "name": name,
                "description": " ".join(sentences),
                "customer_count": int(mask.sum()),
                "share": float(mask.mean()),
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

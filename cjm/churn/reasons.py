"""Reasons in plain words for each scored customer, and the list's warnings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from cjm.churn.features import (
    LAST_EVENTS_PREFIX,
)
from cjm.churn.wording import EXIT_REASON, reason_text
from cjm.personas.features import (
    RECENT_TOUCHPOINT_PREFIX,
    TOUCHPOINT_PREFIX,
)

MAX_REASONS = 3


REASON_CANDIDATES = 12


# A behaviour is cited when making it typical lowers the risk by at least this much, absolute
# and as a share of the customer's risk.
REASON_MIN_EFFECT, REASON_MIN_SHARE = 0.01, 0.05


REASON_SAMPLE = 1000


REASON_BATCH_ROWS = 200_000


def add_pattern_reasons(risk: pd.DataFrame, matches: pd.DataFrame) -> pd.DataFrame:
    """Cite a significant churn pattern in a customer's last events among their reasons.

    It goes first when the customer had no model reason, else it takes the last of the
    MAX_REASONS slots if all are used: a known precursor sequence is the most concrete thing a
    retention agent can ask about.
    """
    if matches.empty or risk.empty:
        return risk
    found = matches.drop_duplicates("customer_id").set_index("customer_id")
    out = risk.copy()
    hit = out["customer_id"].isin(found.index).to_numpy()
    if not hit.any():
        return out
    rows = found.loc[out.loc[hit, "customer_id"]]
    steps = rows["pattern"].astype(str).str.replace(" ... ", ", later ", regex=False)
    lifts = rows["lift"].astype(float).map(lambda x: f"{x:.1f}")
    cited = ("followed " + steps + " (churn lift " + lifts + ")").to_numpy(dtype=object)
    texts = out["reasons"].to_numpy(dtype=object).copy()
    for i, (reasons, text) in enumerate(zip(texts[hit], cited, strict=True)):
        parts = [] if reasons == NOTHING_STANDS_OUT else reasons.split("; ")
        cited[i] = "; ".join(parts[: MAX_REASONS - 1] + [text])
    texts[hit] = cited
    out["reasons"] = texts.tolist()
    return out


def with_exit_reason(texts: list[str], exited: np.ndarray) -> list[str]:
    """Leaving through an exit touchpoint is the first reason of every exited customer (a
    baseline's reasons cannot see it; the model's may already cite it)."""
    out = list(texts)
    for i in np.flatnonzero(exited):
        if EXIT_REASON in out[i]:
            continue
        rest = [] if out[i] == NOTHING_STANDS_OUT else out[i].split("; ")
        out[i] = "; ".join([EXIT_REASON] + rest[: MAX_REASONS - 1])
    return out


NOTHING_STANDS_OUT = "no single behaviour stands out from the typical customer"


# The reasons of a customer below the riskiest churn.max_reason_customers (not computed).
REASONS_NOT_COMPUTED = "reasons not computed: below the riskiest customers the list explains"


# Columns a reason's wording may quote besides its own family's (see reason_text).
_REASON_CONTEXT = (
    "mean_days_between_sessions",
    "events_last_30d",
    "events_prev_30d",
    "event_count",
    "tenure_days",
    "sessions_usual_14d",
)


# New churn features explained together with the behaviour they measure.
_REASON_GROUPS = {
    "recency_days": "recency",
    "bgnbd_p_quiet": "recency",
    "events_last_7d": "recency",
    "recency_ratio": "recency",
    "recency_vs_longest_gap": "recency",
    "longest_gap_days": "recency",
    "activity_trend": "activity",
    "events_last_30d": "activity",
    "events_prev_30d": "activity",
    "sessions_last_14d": "sessions14",
    "sessions_usual_14d": "sessions14",
    "session_rate_ratio_14d": "sessions14",
    "negative_events_30d": "mood",
    "sentiment_last_30d": "mood",
    "sentiment_change": "mood",
}


def _reason_families(columns: list[str], labels: dict[str, str]) -> dict[str, list[str]]:
    """Features that move together are explained together, else each hides the other's effect."""
    families: dict[str, list[str]] = {}
    grouped = _REASON_GROUPS
    for c in columns:
        if c.startswith((RECENT_TOUCHPOINT_PREFIX, TOUCHPOINT_PREFIX, LAST_EVENTS_PREFIX)):
            key = "touchpoint:" + labels.get(c, c)
        else:
            key = grouped.get(c, c)
        families.setdefault(key, []).append(c)
    return families


def _what_if(
    pipeline: Pipeline,
    X: pd.DataFrame,
    families: list[list[str]],
    typical: pd.Series,
    base: np.ndarray,
    wanted: np.ndarray | None = None,
) -> np.ndarray:
    """Risk drop per row (rows x families) when a family of features is set to typical values.

    wanted: rows x families, True where the effect is needed (default all); the others are 0.
    """
    effects = np.zeros((len(X), len(families)))
    values = X.to_numpy(dtype=float)
    where = {c: i for i, c in enumerate(X.columns)}
    moves = [
        ([where[c] for c in members], typical[members].to_numpy(dtype=float))
        for members in families
    ]
    # One predict call per chunk of stacked copies: per-call overhead dominates small predictions.
    step = max(1, REASON_BATCH_ROWS // max(1, len(families)))
    for lo in range(0, len(X), step):
        chunk = values[lo : lo + step]
        copies, changed = [], []
        for j, (idx, typical_values) in enumerate(moves):
            # A row already at the typical values predicts its own risk: its effect is exactly 0,
            # so only the rows that move are predicted (often most rows do not).
            moves_row = (chunk[:, idx] != typical_values).any(axis=1)
            if wanted is not None:
                moves_row &= wanted[lo : lo + step, j]
            rows = np.flatnonzero(moves_row)
            moved = chunk[rows]
            moved[:, idx] = typical_values
            copies.append(moved)
            changed.append(rows)
        if not sum(len(rows) for rows in changed):
            continue
        p = pipeline.predict_proba(pd.DataFrame(np.concatenate(copies), columns=X.columns))[:, 1]
        at = 0
        for j, rows in enumerate(changed):
            effects[lo + rows, j] = base[lo + rows] - p[at : at + len(rows)]
            at += len(rows)
    return effects


@dataclass(frozen=True)
class ReasonReference:
    """The typical active customer and the candidate reasons, fixed once for every batch."""

    typical: pd.Series
    usable: list[str]
    families: dict[str, list[str]]
    keys: list[str]
    q25: pd.Series
    q75: pd.Series
    min_risk: float = -np.inf  # customers below this risk get no reasons computed


def reason_reference(
    pipeline: Pipeline, X: pd.DataFrame, labels: dict[str, str], random_state: int
) -> ReasonReference:
    """Typical values (medians), quartiles and the REASON_CANDIDATES families that move the risk
    most, from the reference customers X (rows in customer order)."""
    typical = X.median()
    usable = [c for c in X.columns if not pd.isna(typical[c])]
    families = _reason_families(usable, labels)
    keys = list(families)
    if len(keys) > REASON_CANDIDATES:
        # Rank families on a bounded sample so the full pass stays REASON_CANDIDATES wide.
        rng = np.random.default_rng(random_state)
        sample = np.sort(rng.choice(len(X), size=min(len(X), REASON_SAMPLE), replace=False))
        rows = X.iloc[sample]
        base = pipeline.predict_proba(rows)[:, 1]
        sampled = _what_if(pipeline, rows, [families[k] for k in keys], typical, base)
        strength = np.abs(sampled).mean(axis=0)
        top = np.argsort(-strength, kind="stable")[:REASON_CANDIDATES]
        keys = [keys[j] for j in top]
    values = X[usable]
    q25, q75 = values.quantile(0.25), values.quantile(0.75)
    return ReasonReference(typical, usable, families, keys, q25, q75)


def reasons_for(
    pipeline: Pipeline,
    X: pd.DataFrame,
    labels: dict[str, str],
    random_state: int,
    base: np.ndarray | None = None,
    reference: ReasonReference | None = None,
) -> list[str]:
    """Up to MAX_REASONS plain-words reasons per row: what-if a behaviour were typical.

    base: the rows' risk scores when already computed (pipeline.predict_proba(X)[:, 1]);
    reference: typical values and candidate reasons (default: from X itself).
    """
    if reference is None:
        reference = reason_reference(pipeline, X, labels, random_state)
    if base is None:
        base = pipeline.predict_proba(X)[:, 1]
    families, keys = reference.families, reference.keys
    cited = _citable(X, reference)
    # The what-if is predicted only where a family can be cited (about half the rows per family).
    effects = _what_if(pipeline, X, [families[k] for k in keys], reference.typical, base, cited)
    effects[~cited] = -np.inf
    eligible = _eligible(effects, base)
    texts = _family_texts(X, reference, eligible, labels)
    return _joined(texts, effects)


def _citable(X: pd.DataFrame, reference: ReasonReference) -> np.ndarray:
    """Per row and candidate family: whether the row really differs from the typical customer.

    Some member outside the middle half of active customers (or off the typical value when that
    half is a single value). Trees react to tiny differences near split points, which would make
    "2.1 vs 2.0" reasons.
    """
    usable, families, keys = reference.usable, reference.families, reference.keys
    values = X[usable]
    q25, q75 = reference.q25, reference.q75
    unusual = (
        (values < q25) | (values > q75) | ((q25 == q75) & (values != reference.typical[usable]))
    )
    return np.column_stack(
        [unusual[families[k]].any(axis=1).to_numpy() for k in keys] or [np.zeros(len(X), bool)]
    )[:, : len(keys)]


def _eligible(effects: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Per row and family: whether its effect is large enough to be a reason.

    Small effects relative to the customer's own risk are noise, not reasons; but a customer with
    no effect above the floor (risk spread thinly over many behaviours) still gets the unusual
    behaviour that lowers the risk most when typical, rather than no reason at all.
    """
    floor = np.maximum(REASON_MIN_EFFECT, REASON_MIN_SHARE * base)
    eligible = effects >= floor[:, None]
    thin = np.flatnonzero(~eligible.any(axis=1))
    if len(thin) and effects.shape[1]:
        best = effects[thin].argmax(axis=1)
        eligible[thin, best] = effects[thin, best] > 0
    return eligible


def _family_texts(
    X: pd.DataFrame, reference: ReasonReference, eligible: np.ndarray, labels: dict[str, str]
) -> np.ndarray:
    """Per row and family: the reason in words where the family is eligible (else None).

    Customers share most values (counts, stages), so each distinct combination is worded once.
    """
    families, keys = reference.families, reference.keys
    texts = np.full(eligible.shape, None, dtype=object)
    context = [c for c in _REASON_CONTEXT if c in X.columns]
    for j, k in enumerate(keys):
        rows = np.flatnonzero(eligible[:, j])
        if not len(rows):
            continue
        needed = list(dict.fromkeys(families[k] + context))
        combos = np.ascontiguousarray(X[needed].to_numpy(dtype=float)[rows])
        # exact values, NaN included: distinct byte patterns of the rows
        keyed = combos.view(np.dtype((np.void, combos.dtype.itemsize * combos.shape[1])))
        _, first, inverse = np.unique(keyed.ravel(), return_index=True, return_inverse=True)
        worded = np.empty(len(first), dtype=object)
        for u, i in enumerate(first):
            row = dict(zip(needed, combos[i].tolist(), strict=True))
            worded[u] = reason_text(k, families[k], row, reference.typical, labels) or None
        texts[rows, j] = worded[inverse.ravel()]
    return texts


def _joined(texts: np.ndarray, effects: np.ndarray) -> list[str]:
    """Each row's texts, largest effect first (ties: family order), the first MAX_REASONS with
    words joined by '; '; NOTHING_STANDS_OUT for a row with none."""
    order = np.argsort(-effects, axis=1, kind="stable")
    ranked = np.take_along_axis(texts, order, axis=1)
    out = np.full(len(texts), "", dtype=object)
    taken = np.zeros(len(texts), dtype=int)
    for col in ranked.T:
        use = np.not_equal(col, None) & (taken < MAX_REASONS)
        out[use] = out[use] + np.where(taken[use] > 0, "; ", "").astype(object) + col[use]
        taken[use] += 1
    out[taken == 0] = NOTHING_STANDS_OUT
    return out.tolist()

"""Reasons in plain words for each scored customer, and the list's warnings."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from cjm.churn.features import (
    LAST_EVENTS_PREFIX,
)
from cjm.features import (
    CHANNEL_PREFIX,
    RECENT_TOUCHPOINT_PREFIX,
    STAGE_RANKS,
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
        parts = [] if reasons == _NOTHING_STANDS_OUT else reasons.split("; ")
        cited[i] = "; ".join(parts[: MAX_REASONS - 1] + [text])
    texts[hit] = cited
    out["reasons"] = texts.tolist()
    return out


EXIT_REASON = "left through an exit touchpoint and has not come back"


def with_exit_reason(texts: list[str], exited: np.ndarray) -> list[str]:
    """Leaving through an exit touchpoint is the first reason of every exited customer (a
    baseline's reasons cannot see it; the model's may already cite it)."""
    out = list(texts)
    for i in np.flatnonzero(exited):
        if EXIT_REASON in out[i]:
            continue
        rest = [] if out[i] == _NOTHING_STANDS_OUT else out[i].split("; ")
        out[i] = "; ".join([EXIT_REASON] + rest[: MAX_REASONS - 1])
    return out


def _num(x: float) -> str:
    if pd.isna(x):
        return "n/a"
    if abs(x) >= 10 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.0f}%"


_STAGE_NAMES = {0: "none", **{r: s for s, r in STAGE_RANKS.items()}}
_NOTHING_STANDS_OUT = "no single behaviour stands out from the typical customer"
# Columns a reason's wording may quote besides its own family's (see _reason_text).
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

# Reason wording for fixed features: (template with {v} customer value and {t} typical, formatter).
_REASON_FORMATS: dict[str, tuple[str, object]] = {
    "frequency": ("{v} sessions so far (typical customer: {t})", _num),
    "event_count": ("{v} events so far (typical customer: {t})", _num),
    "tenure_days": ("customer for {v} days (typical customer: {t})", _num),
    "monetary": ("revenue so far {v} (typical customer: {t})", _num),
    "events_per_session": ("{v} events per session (typical customer: {t})", _num),
    "mean_session_seconds": ("sessions last {v} seconds on average (typical customer: {t})", _num),
    "sessions_per_week": ("{v} sessions a week (typical customer: {t})", _num),
    "mean_days_between_sessions": (
        "a session {v} (typical customer: {t})",
        lambda x: "within the day" if x < 1 else f"every {_num(x)} days",
    ),
    "days_between_last_sessions": (
        "{v} days between the last two sessions (typical customer: {t})",
        _num,
    ),
    "events_last_7d": ("{v} events in the last 7 days (typical customer: {t})", _num),
    "events_last_30d": ("{v} events in the last 30 days (typical customer: {t})", _num),
    "events_prev_30d": ("{v} events 31-60 days ago (typical customer: {t})", _num),
    "weekend_share": ("{v} of events at weekends (typical customer: {t})", _pct),
    "night_share": ("{v} of events at night, 22:00-06:00 (typical customer: {t})", _pct),
    "same_touchpoint_share": ("{v} of steps repeat a touchpoint (typical customer: {t})", _pct),
    "retention_loop_share": ("{v} of steps stay in retention (typical customer: {t})", _pct),
    "mean_sentiment": ("average sentiment {v} (typical customer: {t})", lambda x: f"{x:+.2f}"),
    "exit_stage_events_30d": (
        "{v} exit-stage events (cancel, unsubscribe ...) in the last 30 days "
        "(typical customer: {t})",
        _num,
    ),
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


def _compare(template: str, v: str, t: str) -> str | None:
    # Values that print the same are no reason, whatever the model's split points say.
    if v == t:
        return None
    text = template.format(v=v, t=t)
    return re.sub(r"(?<![\d.,])1 ((?:[\w-]+ )?)(session|event|day)s\b", r"1 \1\2", text)


def _reason_text(
    key: str, members: list[str], row: dict, typical: pd.Series, labels: dict[str, str]
) -> str | None:
    """One reason in plain words with the customer's and the typical value; None if no contrast
    or if the customer's value is on the side that lowers the risk (never cited as a reason)."""
    if not _raises_risk(key, members, row, typical):
        return None
    if key == "recency" and "recency_days" in members:
        v, t = row["recency_days"], typical["recency_days"]
        usual = row.get("mean_days_between_sessions")
        if usual is not None and not pd.isna(usual):
            return _compare("no activity for {v} days, usually {t}", _num(v), _every(usual))
        return _compare("no activity for {v} days (typical customer: {t})", _num(v), _num(t))
    if key == "days_between_last_sessions":
        v, usual = row["days_between_last_sessions"], row.get("mean_days_between_sessions")
        if usual is not None and not pd.isna(usual) and not pd.isna(v):
            template = "{v} days between their last two sessions, usually {t}"
            return _compare(template, _num(v), _every(usual))
    if key == "activity" and {"events_last_30d", "events_prev_30d"} <= set(row):
        last, prev = row["events_last_30d"], row["events_prev_30d"]
        template = "activity down: {v} events in the last 30 days, {t} in the 30 before"
        return _compare(template, _num(last), _num(prev))
    if key == "sessions14" and "sessions_last_14d" in row:
        usual = row.get("sessions_usual_14d")
        if usual is None or pd.isna(usual):
            return None
        return _compare(
            "{v} sessions in the last 14 days (usual: {t})",
            _num(row["sessions_last_14d"]),
            _num(usual),
        )
    if key == "mood":
        n, s = row.get("negative_events_30d"), row.get("sentiment_last_30d")
        if n is not None and not pd.isna(n) and n > typical.get("negative_events_30d", 0):
            return _compare(
                "{v} negative-sentiment events in the last 30 days (typical customer: {t})",
                _num(n),
                _num(typical["negative_events_30d"]),
            )
        if s is not None and not pd.isna(s) and s < typical.get("sentiment_last_30d", s):
            return _compare(
                "average sentiment {v} in the last 30 days (typical customer: {t})",
                f"{s:+.2f}",
                f"{typical['sentiment_last_30d']:+.2f}",
            )
        return None
    if key.startswith("touchpoint:"):
        name = key.split(":", 1)[1]
        recent = [c for c in members if c.startswith(RECENT_TOUCHPOINT_PREFIX)]
        share = [c for c in members if c.startswith(TOUCHPOINT_PREFIX)]
        if recent and (not share or row[recent[0]] != typical[recent[0]]):
            c = recent[0]
            usual = _usual_per_30d(row, share[0] if share else None, row[c])
            if usual is not None:
                template = f"{{v}} {name} in the last 30 days (usual: {{t}})"
                return _compare(template, _num(row[c]), _num(usual))
            template = f"{{v}} {name} in the last 30 days (typical customer: {{t}})"
            return _compare(template, _num(row[c]), _num(typical[c]))
        last = [c for c in members if c.startswith(LAST_EVENTS_PREFIX)]
        if last and not share:
            template = f"{{v}} {name} among their last 5 events (typical customer: {{t}})"
            return _compare(template, _num(row[last[0]]), _num(typical[last[0]]))
        if not share:
            return None
        c = share[0]
        template = f"{name} is {{v}} of their events (typical customer: {{t}})"
        return _compare(template, _pct(row[c]), _pct(typical[c]))
    f = members[0]
    v, t = row[f], typical[f]
    if f.startswith(CHANNEL_PREFIX):
        template = f"{{v}} of their events via {labels.get(f, f)} (typical customer: {{t}})"
        return _compare(template, _pct(v), _pct(t))
    if f == "is_converted":
        return "has never converted"
    if f == "is_exited":
        return EXIT_REASON
    if f == "furthest_stage_rank":
        template = "furthest stage reached: {v} (typical customer: {t})"
        return _compare(
            template, _STAGE_NAMES.get(int(v), _num(v)), _STAGE_NAMES.get(int(t), _num(t))
        )
    if f in _REASON_FORMATS:
        template, fmt = _REASON_FORMATS[f]
        return _compare(template, fmt(v), fmt(t))
    return None


# Which side of the typical value raises the risk, per feature: +1 higher, -1 lower. Features not
# listed (time-of-day shares, repeats, sentiment recorded or not) have no side a retention agent
# could act on, so they are never cited; touchpoint and channel families are worded with both
# values and cited on either side, since the model's counterfactual gives their direction.
RISK_SIDE = {
    "recency_days": 1,
    "days_between_last_sessions": 1,
    "mean_days_between_sessions": 1,
    "exit_stage_events_30d": 1,
    "negative_events_30d": 1,
    "is_exited": 1,
    "frequency": -1,
    "event_count": -1,
    "tenure_days": -1,
    "monetary": -1,
    "events_per_session": -1,
    "mean_session_seconds": -1,
    "sessions_per_week": -1,
    "events_last_7d": -1,
    "events_last_30d": -1,
    "mean_sentiment": -1,
    "sentiment_last_30d": -1,
    "is_converted": -1,
    "furthest_stage_rank": -1,
}


def _raises_risk(key: str, members: list[str], row: dict, typical: pd.Series) -> bool:
    """Whether the customer's value of this behaviour is on the side that raises churn risk."""
    if key.startswith("touchpoint:") or members[0].startswith(CHANNEL_PREFIX):
        return True
    if key == "activity":
        return row.get("events_last_30d", 0) < row.get("events_prev_30d", 0)
    if key == "sessions14":
        usual = row.get("sessions_usual_14d")
        return usual is not None and row.get("sessions_last_14d", 0) < usual
    if key == "mood":
        n, s = row.get("negative_events_30d"), row.get("sentiment_last_30d")
        more_negative = n is not None and n > typical.get("negative_events_30d", 0)
        lower = s is not None and s < typical.get("sentiment_last_30d", s)
        return bool(more_negative or lower)
    main = "recency_days" if key == "recency" else members[0]
    side = RISK_SIDE.get(main)
    if side is None or pd.isna(row.get(main)) or main not in typical:
        return False
    return bool((row[main] - typical[main]) * side > 0)


def _every(days: float) -> str:
    """A rhythm in words: 'every 6 days', or 'back within the day' for same-day rhythms."""
    if pd.isna(days):
        return "n/a"
    return "back within the day" if days < 1 else f"every {_num(days)} days"


def _usual_per_30d(row: dict, share_column: str | None, recent: float) -> float | None:
    """The customer's own count of a touchpoint per 30 days before the last 30 days."""
    if share_column is None or not {"event_count", "tenure_days"} <= set(row):
        return None
    earlier_days = row["tenure_days"] - 30
    if pd.isna(earlier_days) or earlier_days < 14:
        return None  # too new to have a usual
    earlier = max(row[share_column] * row["event_count"] - recent, 0)
    return round(earlier * 30 / earlier_days, 1)


def _what_if(
    pipeline: Pipeline,
    X: pd.DataFrame,
    families: list[list[str]],
    typical: pd.Series,
    base: np.ndarray,
) -> np.ndarray:
    """Risk drop per row (rows x families) when a family of features is set to typical values."""
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
        for idx, typical_values in moves:
            # A row already at the typical values predicts its own risk: its effect is exactly 0,
            # so only the rows that move are predicted (often most rows do not).
            rows = np.flatnonzero((chunk[:, idx] != typical_values).any(axis=1))
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
    typical, usable, families, keys = (
        reference.typical,
        reference.usable,
        reference.families,
        reference.keys,
    )
    if base is None:
        base = pipeline.predict_proba(X)[:, 1]
    effects = _what_if(pipeline, X, [families[k] for k in keys], typical, base)
    # Only cite a behaviour where the customer really differs: some member outside the middle
    # half of active customers (or off the typical value when that half is a single value). Trees
    # react to tiny differences near split points, which would make "2.1 vs 2.0" reasons.
    values = X[usable]
    q25, q75 = reference.q25, reference.q75
    unusual = (values < q25) | (values > q75) | ((q25 == q75) & (values != typical[usable]))
    for j, k in enumerate(keys):
        effects[~unusual[families[k]].any(axis=1).to_numpy(), j] = -np.inf
    # Small effects relative to the customer's own risk are noise, not reasons; but a customer with
    # no effect above the floor (risk spread thinly over many behaviours) still gets the unusual
    # behaviour that lowers the risk most when typical, rather than no reason at all.
    floor = np.maximum(REASON_MIN_EFFECT, REASON_MIN_SHARE * base)
    eligible = effects >= floor[:, None]
    thin = np.flatnonzero(~eligible.any(axis=1))
    if len(thin) and effects.shape[1]:
        best = effects[thin].argmax(axis=1)
        eligible[thin, best] = effects[thin, best] > 0
    # Texts per family, only where the family is eligible; customers share most values (counts,
    # stages), so each distinct combination is worded once.
    texts = np.full(effects.shape, None, dtype=object)
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
            worded[u] = _reason_text(k, families[k], row, typical, labels) or None
        texts[rows, j] = worded[inverse.ravel()]
    # Largest effect first (ties: family order), keep the first MAX_REASONS with words.
    order = np.argsort(-effects, axis=1, kind="stable")
    ranked = np.take_along_axis(texts, order, axis=1)
    out = np.full(len(X), "", dtype=object)
    taken = np.zeros(len(X), dtype=int)
    for col in ranked.T:
        use = np.not_equal(col, None) & (taken < MAX_REASONS)
        out[use] = out[use] + np.where(taken[use] > 0, "; ", "").astype(object) + col[use]
        taken[use] += 1
    out[taken == 0] = _NOTHING_STANDS_OUT
    return out.tolist()

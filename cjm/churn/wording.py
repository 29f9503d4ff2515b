"""Each churn reason in plain words, worded the way that raises the risk, or not at all."""

from __future__ import annotations

import re

import pandas as pd

from cjm.churn.features import (
    LAST_EVENTS_PREFIX,
)
from cjm.personas.features import (
    CHANNEL_PREFIX,
    RECENT_TOUCHPOINT_PREFIX,
    STAGE_RANKS,
    TOUCHPOINT_PREFIX,
)

EXIT_REASON = "left through an exit touchpoint and has not come back"


def _num(x: float) -> str:
    if pd.isna(x):
        return "n/a"
    if abs(x) >= 10 or float(x).is_integer():
        return f"{x:,.0f}"
    return f"{x:.1f}"


def _pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.0f}%"


_STAGE_NAMES = {0: "none", **{r: s for s, r in STAGE_RANKS.items()}}


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


def _compare(template: str, v: str, t: str) -> str | None:
    # Values that print the same are no reason, whatever the model's split points say.
    if v == t:
        return None
    text = template.format(v=v, t=t)
    return re.sub(r"(?<![\d.,])1 ((?:[\w-]+ )?)(session|event|day)s\b", r"1 \1\2", text)


# What a worder returns when the behaviour is worded as its first feature instead.
_AS_FEATURE = object()
_TRENDS = ("recency", "days_between_last_sessions", "activity", "sessions14")


def reason_text(
    key: str, members: list[str], row: dict, typical: pd.Series, labels: dict[str, str]
) -> str | None:
    """One reason in plain words with the customer's and the typical value; None if no contrast
    or if the customer's value is on the side that lowers the risk (never cited as a reason)."""
    if not _raises_risk(key, members, row, typical):
        return None
    if key == "mood":
        return _mood_text(row, typical)
    if key.startswith("touchpoint:"):
        return _touchpoint_text(key.split(":", 1)[1], members, row, typical)
    if key in _TRENDS:
        text = _trend_text(key, members, row, typical)
        if text is not _AS_FEATURE:
            return text
    return _feature_text(members[0], row, typical, labels)


def _trend_text(key: str, members: list[str], row: dict, typical: pd.Series) -> object:
    """A rhythm or activity against the customer's own usual; _AS_FEATURE when that cannot be
    said (no usual known) and the behaviour's first feature is worded instead."""
    usual = row.get("mean_days_between_sessions")
    has_usual = usual is not None and not pd.isna(usual)
    if key == "recency" and "recency_days" in members:
        v, t = row["recency_days"], typical["recency_days"]
        if has_usual:
            return _compare("no activity for {v} days, usually {t}", _num(v), _every(usual))
        return _compare("no activity for {v} days (typical customer: {t})", _num(v), _num(t))
    if key == "days_between_last_sessions":
        v = row["days_between_last_sessions"]
        if has_usual and not pd.isna(v):
            template = "{v} days between their last two sessions, usually {t}"
            return _compare(template, _num(v), _every(usual))
    if key == "activity" and {"events_last_30d", "events_prev_30d"} <= set(row):
        last, prev = row["events_last_30d"], row["events_prev_30d"]
        template = "activity down: {v} events in the last 30 days, {t} in the 30 before"
        return _compare(template, _num(last), _num(prev))
    if key == "sessions14" and "sessions_last_14d" in row:
        usual14 = row.get("sessions_usual_14d")
        if usual14 is None or pd.isna(usual14):
            return None
        return _compare(
            "{v} sessions in the last 14 days (usual: {t})",
            _num(row["sessions_last_14d"]),
            _num(usual14),
        )
    return _AS_FEATURE


def _mood_text(row: dict, typical: pd.Series) -> str | None:
    """More negative events, or else a lower sentiment, than the typical customer's."""
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


def _touchpoint_text(name: str, members: list[str], row: dict, typical: pd.Series) -> str | None:
    """A touchpoint's recent count against the customer's usual, its count among the last
    events, or its share of their events, against the typical customer's."""
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


def _feature_text(f: str, row: dict, typical: pd.Series, labels: dict[str, str]) -> str | None:
    """One feature's value against the typical customer's."""
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


def in_entity_words(texts: list[str], entity: str) -> list[str]:
    """Reasons in the log's own noun: the templates say 'customer' (`typical customer`,
    `customer for N days`), which a ticket or incident log calls otherwise."""
    if entity == "customer":
        return texts
    return [
        t.replace("typical customer", f"typical {entity}").replace(
            "customer for ", f"{entity} for "
        )
        for t in texts
    ]

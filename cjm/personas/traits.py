"""What sets a persona apart from a reference group, measured on the per-persona aggregates.

The reference is everyone (for the persona's name) or the other personas that would share its
name (cjm.personas.contrast). The same thresholds apply to both: a touchpoint stands out at 1.5x
the reference's share, a rhythm adjective needs half a standard deviation and 1.25x the others'
mean, an outcome 1.5x the reference's rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cjm.config import EntityNoun

# A touchpoint "stands out" for a persona at 1.5x the reference's share (and >= 2% of its events).
STANDOUT_RATIO, MIN_SHARE = 1.5, 0.02

# Rhythm adjectives: (feature, direction, adjective, |z| needed). The adjective of the feature that
# sets the persona apart most (largest |z| / needed, at least 1) goes into its name; z is the
# persona's mean against the reference in all customers' standard deviations in the clustering
# scale (heavy-tailed columns log1p'd, as k-means saw them). The raw mean must also differ from the
# other personas' customers by RHYTHM_RATIO, so a tiny spread cannot turn an ordinary figure into a
# trait.
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
# Descriptions call a session a "burst of activity" (events less than the configured gap apart):
# the words fit a customer's visits, a ticket's handling and an incident's work alike.
RHYTHM_TEXT = {
    "events_per_session": ("events per burst of activity", "{:.1f}"),
    "mean_session_seconds": ("length of a burst of activity in minutes", "{:.1f}"),
    "weekend_share": ("events at weekends", "{:.0%}"),
    "night_share": ("events at night (22:00-06:00)", "{:.0%}"),
}

Mix = list[tuple[str, float, float]]


def value(row: pd.Series, key: str) -> float:
    """A mean from the stats (NaN when missing or null)."""
    found = row.get(key)
    return float("nan") if found is None or pd.isna(found) else float(found)


def ranked_mix(persona: pd.Series, reference: pd.Series, columns: list[str]) -> Mix:
    """(column, persona share, ratio to the reference) by ratio, for shares >= MIN_SHARE."""
    rows = []
    for c in columns:
        share, ref = value(persona, "m:" + c), value(reference, "m:" + c)
        # a reference of other personas may not use the touchpoint at all: that sets it apart most
        if share >= MIN_SHARE and ref >= 0:
            rows.append((c, share, share / ref if ref > 0 else float("inf")))
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0]))


def over_represented(ranked: Mix) -> Mix:
    """The over-represented entries, or the most used ones when nothing is above average."""
    above = [r for r in ranked if r[2] >= 1.1]
    return (above or sorted(ranked, key=lambda r: (-r[1], r[0])))[:3]


def rhythm_z(persona: pd.Series, reference: pd.Series, population: pd.Series) -> dict[str, float]:
    """Persona mean minus the reference's, in all customers' standard deviations (model scale)."""
    out = {}
    for c in dict.fromkeys(f for f, *_ in RHYTHM_WORDS):
        if "t:" + c not in population:
            continue
        sd = value(population, "sd:" + c)
        mine, ref = value(persona, "t:" + c), value(reference, "t:" + c)
        out[c] = 0.0 if not sd > 0 else (mine - ref) / sd
    return out


def complement(persona: pd.Series, population: pd.Series) -> pd.Series:
    """The raw means (`m:` columns) over the customers of every other persona."""
    n, total = value(persona, "n"), value(population, "n")
    keys = [k for k in population.index if str(k).startswith("m:")]
    if not total > n:
        return pd.Series(float("nan"), index=keys)
    return pd.Series(
        {k: (value(population, k) * total - value(persona, k) * n) / (total - n) for k in keys}
    )


def _stands_apart(persona: pd.Series, others: pd.Series, column: str, sign: int) -> bool:
    """Whether the persona's raw mean is RHYTHM_RATIO beyond the others' (by sign)."""
    if "m:" + column not in persona:
        return True  # the clustering-scale z alone is all there is to judge by
    mine, theirs = value(persona, "m:" + column), value(others, "m:" + column)
    if np.isnan(mine) or np.isnan(theirs):
        return False
    return mine >= RHYTHM_RATIO * theirs if sign > 0 else mine * RHYTHM_RATIO <= theirs


def rhythm_word(z: dict[str, float], persona: pd.Series, others: pd.Series) -> str:
    """The adjective of the rhythm that sets the persona apart most, or ''."""
    best, chosen = 1.0, ""
    for feature, sign, word, needed in RHYTHM_WORDS:
        strength = sign * z.get(feature, 0.0) / needed
        if strength < best or not _stands_apart(persona, others, feature, sign):
            continue
        if word == "regular" and not value(persona, "m:frequency") >= REGULAR_MIN_SESSIONS:
            continue
        best, chosen = strength, word
    return chosen


def relative_word(mine: float, reference: float, what: str) -> str:
    """'high churn' / 'low churn' when `mine` is 1.5x above or below the reference, else ''."""
    if np.isnan(mine) or np.isnan(reference) or reference <= 0:
        return ""
    if mine >= 1.5 * reference:
        return f"high {what}"
    if mine <= reference / 1.5:
        return f"low {what}"
    return ""


@dataclass(frozen=True)
class Population:
    """What every persona is described against: everyone's aggregates and the log's columns."""

    stats: pd.Series
    labels: dict[str, str]
    entity: EntityNoun
    customers: int
    tp_cols: list[str]
    ch_cols: list[str]
    has_revenue: bool
    has_conversion: bool
    has_churn: bool
    has_rhythm: bool  # sessions_per_week is a column

    def mean(self, key: str) -> float:
        """A population mean from the stats (NaN when missing or null)."""
        return value(self.stats, key)


@dataclass(frozen=True)
class Traits:
    """What one persona's aggregates say about it against a reference, before it is put in words."""

    count: int
    tps: Mix
    chs: Mix
    standout: Mix
    channel: tuple[str, float, float] | None
    conv: float
    rate: float
    revenue: float
    z: dict[str, float]
    adjective: str
    outcome: list[str]

    def says_nothing(self) -> bool:
        """Whether no touchpoint, channel, rhythm or outcome sets the persona apart."""
        return not (self.adjective or self.channel or self.standout or self.outcome)


def traits(part: pd.Series, pop: Population, reference: pd.Series, others: pd.Series) -> Traits:
    """The ranked mixes, rhythm and outcomes of one persona against a reference.

    `reference` gives the shares and rates compared with (everyone, or the personas sharing its
    name), `others` the raw means a rhythm adjective must stand 1.25x beyond.
    """
    tps = ranked_mix(part, reference, pop.tp_cols)
    chs = ranked_mix(part, reference, pop.ch_cols)
    conv = value(part, "m:is_converted") if pop.has_conversion else float("nan")
    rate = value(part, "churn")
    z = rhythm_z(part, reference, pop.stats)
    outcome = [relative_word(conv, value(reference, "m:is_converted"), "conversion")]
    outcome = (outcome if pop.has_conversion else []) + [
        relative_word(rate, value(reference, "churn"), "churn")
    ]
    return Traits(
        count=int(part["n"]),
        tps=tps,
        chs=chs,
        standout=[(c, s, r) for c, s, r in tps if r >= STANDOUT_RATIO][:2],
        channel=next(((c, s, r) for c, s, r in chs if r >= 1.25 and s >= 0.3), None),
        conv=conv,
        rate=rate,
        revenue=value(part, "m:monetary") if pop.has_revenue else float("nan"),
        z=z,
        adjective=rhythm_word(z, part, others),
        outcome=[w for w in outcome if w],
    )

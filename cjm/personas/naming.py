"""Persona names and descriptions in the log's own words, from per-persona aggregates.

Names say what sets a persona apart in this log: its channel, its distinguishing touchpoints (the
log's own names), its rhythm and its outcome, with the configured entity noun (tickets, cases,
customers). A rhythm adjective ("regular", "quick") is used only where the persona's figure is in
fact far from everyone's and from the other personas' (RHYTHM_WORDS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cjm.config import EntityNoun
from cjm.personas.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX

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


def empty_personas() -> pd.DataFrame:
    """The personas table with no rows, in its published column types."""
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
# Descriptions call a session a "burst of activity" (events less than the configured gap apart):
# the words fit a customer's visits, a ticket's handling and an incident's work alike.
RHYTHM_TEXT = {
    "events_per_session": ("events per burst of activity", "{:.1f}"),
    "mean_session_seconds": ("length of a burst of activity in minutes", "{:.1f}"),
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
        return _value(self.stats, key)


@dataclass(frozen=True)
class Traits:
    """What one persona's aggregates say about it, before it is put in words."""

    count: int
    tps: list[tuple[str, float, float]]
    chs: list[tuple[str, float, float]]
    standout: list[tuple[str, float, float]]
    channel: tuple[str, float, float] | None
    conv: float
    rate: float
    revenue: float
    z: dict[str, float]
    adjective: str
    outcome: list[str]


def describe_personas(
    stats: tuple[pd.DataFrame, pd.Series],
    names: list[str],
    ids: list[int],
    labels: dict[str, str],
    customers: int,
    has_churn: bool,
    entity: EntityNoun,
) -> pd.DataFrame:
    """Name and describe each persona from its aggregates (see cjm.personas.profiles)."""
    per, population = stats
    pop = Population(
        stats=population,
        labels=labels,
        entity=entity,
        customers=customers,
        tp_cols=[c for c in names if c.startswith(TOUCHPOINT_PREFIX)],
        ch_cols=[c for c in names if c.startswith(CHANNEL_PREFIX)],
        has_revenue="monetary" in names and int(population["revenue_n"]) > 0,
        has_conversion="is_converted" in names,
        has_churn=has_churn,
        has_rhythm="sessions_per_week" in names,
    )
    rows = [_persona_row(pid, per.loc[pid], pop) for pid in ids]
    out = pd.DataFrame(rows, columns=PERSONA_COLUMNS)
    # Names are what analysts filter on, so they must be unique.
    dup = out["name"].duplicated(keep=False)
    out.loc[dup, "name"] = (
        out.loc[dup, "name"] + " (persona " + out.loc[dup, "persona_id"].astype(str) + ")"
    )
    return out


def _traits(part: pd.Series, pop: Population) -> Traits:
    """The ranked mixes, rhythm and outcomes of one persona against the population."""
    population = pop.stats
    tps = _ranked_mix(part, population, pop.tp_cols)
    chs = _ranked_mix(part, population, pop.ch_cols)
    conv = _value(part, "m:is_converted") if pop.has_conversion else float("nan")
    rate = _value(part, "churn")
    pop_conv = pop.mean("m:is_converted") if pop.has_conversion else float("nan")
    z = _rhythm_z(part, population)
    return Traits(
        count=int(part["n"]),
        tps=tps,
        chs=chs,
        standout=[(c, s, r) for c, s, r in tps if r >= STANDOUT_RATIO][:2],
        channel=next(((c, s, r) for c, s, r in chs if r >= 1.25 and s >= 0.3), None),
        conv=conv,
        rate=rate,
        revenue=_value(part, "m:monetary") if pop.has_revenue else float("nan"),
        z=z,
        adjective=_rhythm_word(z, part, population),
        outcome=_outcome_words(conv, pop_conv, rate, pop.mean("churn"), pop.has_conversion),
    )


def _persona_row(pid: int, part: pd.Series, pop: Population) -> dict:
    """One row of the personas table: name, description and the figures it quotes."""
    t = _traits(part, pop)
    name = _persona_name(t, pop)
    labels = pop.labels
    return {
        "persona_id": pid,
        "name": name,
        "description": " ".join(_description(name, part, t, pop)),
        "customer_count": t.count,
        "share": t.count / pop.customers,
        "conversion_rate": t.conv,
        "churn_rate": t.rate,
        "revenue_per_customer": t.revenue,
        "top_touchpoints": _mix_text(t.tps, labels) or None,
        "top_channels": _mix_text(t.chs, labels) or None,
    }


def _persona_name(t: Traits, pop: Population) -> str:
    """Rhythm, channel and entity noun, then the standout touchpoints and the outcomes."""
    labels, many = pop.labels, pop.entity.plural
    via = labels.get(t.channel[0], "").replace("_", " ") if t.channel else ""
    head = " ".join(w for w in (t.adjective, via, many) if w)
    if not (t.adjective or via or t.standout or t.outcome):
        head = f"typical {many}"
    name = head[0].upper() + head[1:]
    if t.standout:
        name += ": " + " & ".join(labels.get(c, c) for c, _, _ in t.standout)
    if t.outcome:
        name += f" ({', '.join(t.outcome)})"
    return name


def _description(name: str, part: pd.Series, t: Traits, pop: Population) -> list[str]:
    """The description's sentences: summary, size, mix, rhythm, then outcomes and value."""
    labels, one, many = pop.labels, pop.entity.singular, pop.entity.plural
    summary = name.split(":")[0].split(" (")[0]
    if t.standout:
        standout_names = " and ".join(labels.get(c, c) for c, _, _ in t.standout)
        summary += f": {standout_names} far above average"
    if t.outcome:
        summary += ", " + ", ".join(t.outcome)
    share_of_all = t.count / pop.customers
    counted = f"{t.count:,} {one if t.count == 1 else many} ({share_of_all:.0%})."
    return [
        summary + ".",
        counted,
        *_mix_sentences(t, pop),
        *_rhythm_sentences(part, t, pop),
        *_outcome_sentences(t, pop),
    ]


def _mix_sentences(t: Traits, pop: Population) -> list[str]:
    """The over-represented touchpoints and the persona's main channel, if any."""
    labels, sentences = pop.labels, []
    if t.tps:
        mix = ", ".join(
            f"{labels.get(c, c)} {s:.0%} of events ({r:.1f}x the population)"
            for c, s, r in _over(t.tps)
        )
        above = any(r >= 1.1 for _, _, r in t.tps)
        lead = "Most over-represented touchpoints" if above else "No touchpoint above average"
        sentences.append(f"{lead}: {mix}.")
    if t.channel:
        c, s, _ = t.channel
        sentences.append(
            f"Mostly via {labels.get(c, c)} ({s:.0%} of events vs "
            f"{pop.mean('m:' + c):.0%} overall)."
        )
    elif not pop.ch_cols:
        sentences.append("The log has no channel data, so channels are not described.")
    return sentences


def _rhythm_sentences(part: pd.Series, t: Traits, pop: Population) -> list[str]:
    """Activity a week, and each rhythm figure on which the persona differs from everyone."""
    one, many, sentences = pop.entity.singular, pop.entity.plural, []
    if pop.has_rhythm:
        sentences.append(
            f"{_rate(_value(part, 'm:sessions_per_week'))} bursts of activity a week since the "
            f"{one}'s first event (all {many} {_rate(pop.mean('m:sessions_per_week'))})."
        )
    for c, (what, fmt) in RHYTHM_TEXT.items():
        if abs(t.z.get(c, 0.0)) >= 0.5:
            scale = 1 / 60 if c == "mean_session_seconds" else 1
            mine = _value(part, "m:" + c) * scale
            everyone = pop.mean("m:" + c) * scale
            sentences.append(
                f"{what.capitalize()}: {fmt.format(mine)} (all {many} {fmt.format(everyone)})."
            )
    return sentences


def _outcome_sentences(t: Traits, pop: Population) -> list[str]:
    """Conversion, churn and revenue against everyone's, or why one is not described."""
    one, many, sentences = pop.entity.singular, pop.entity.plural, []
    if pop.has_conversion:
        sentences.append(f"Converted: {t.conv:.0%} (all {many} {pop.mean('m:is_converted'):.0%}).")
    if not pop.has_churn:
        sentences.append("Churn rate not computed (no churn labels were given).")
    elif not np.isnan(t.rate):
        sentences.append(f"Churned: {t.rate:.0%} (all {many} {pop.mean('churn'):.0%}).")
    if pop.has_revenue:
        sentences.append(
            f"Revenue per {one} {t.revenue:,.2f} (all {many} {pop.mean('m:monetary'):,.2f})."
        )
    else:
        sentences.append("The log has no revenue, so value is not described.")
    return sentences


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

"""Persona names and descriptions in the log's own words, from per-persona aggregates.

Names say what sets a persona apart in this log: its channel, its distinguishing touchpoints (the
log's own names), its rhythm and its outcome, with the configured entity noun (tickets, cases,
customers). A rhythm adjective ("regular", "quick") is used only where the persona's figure is in
fact far from everyone's and from the other personas' (RHYTHM_WORDS).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.config import EntityNoun
from cjm.personas.contrast import sibling_contrasts
from cjm.personas.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX
from cjm.personas.traits import (
    RHYTHM_TEXT,
    Mix,
    Population,
    Traits,
    complement,
    over_represented,
    traits,
    value,
)

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


def _mix_text(ranked: Mix, labels: dict[str, str]) -> str:
    """'Wait (2.1x), Closed (1.4x)': the over-represented entries and their ratios."""
    return ", ".join(
        f"{labels.get(c, c)} ({ratio:.1f}x)" for c, _, ratio in over_represented(ranked)
    )


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
    found = {
        pid: traits(per.loc[pid], pop, population, complement(per.loc[pid], population))
        for pid in ids
    }
    base = {pid: _persona_name(found[pid], pop) for pid in ids}
    # Personas that look alike against everyone are named by what separates them from each other.
    apart = sibling_contrasts(per, base, pop)
    rows = [
        _persona_row(pid, per.loc[pid], found[pid], pop, apart.get(pid, (base[pid], "")))
        for pid in ids
    ]
    out = pd.DataFrame(rows, columns=PERSONA_COLUMNS)
    # Names are what analysts filter on, so they must be unique; two contrasts of a group of three
    # or more can still coincide.
    dup = out["name"].duplicated(keep=False)
    out.loc[dup, "name"] = (
        out.loc[dup, "name"] + " (persona " + out.loc[dup, "persona_id"].astype(str) + ")"
    )
    return out


def _persona_row(
    pid: int, part: pd.Series, t: Traits, pop: Population, named: tuple[str, str]
) -> dict:
    """One row of the personas table: name, description and the figures it quotes.

    `named` is the persona's name and the sentence on what sets it apart from personas that
    would share its name ('' when none does).
    """
    name, apart = named
    labels = pop.labels
    sentences = _description(name, part, t, pop)
    if apart:
        sentences.insert(1, apart)
    return {
        "persona_id": pid,
        "name": name,
        "description": " ".join(sentences),
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
    if t.says_nothing():
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
            for c, s, r in over_represented(t.tps)
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
            f"{_rate(value(part, 'm:sessions_per_week'))} bursts of activity a week since the "
            f"{one}'s first event (all {many} {_rate(pop.mean('m:sessions_per_week'))})."
        )
    for c, (what, fmt) in RHYTHM_TEXT.items():
        if abs(t.z.get(c, 0.0)) >= 0.5:
            scale = 1 / 60 if c == "mean_session_seconds" else 1
            mine = value(part, "m:" + c) * scale
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

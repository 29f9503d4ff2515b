"""Names for personas that would share one: what sets each apart from the others bearing it.

Against everyone, two personas can look alike ("Typical tickets" twice) although k-means
separated them. Each is then compared with the other personas of that name, pooled by customers,
on the same figures and thresholds as against everyone (cjm.personas.traits), and the differences
are added to the shared name in comparative words ("Typical tickets, quicker, more Closed").
Only personas that differ on none of these figures keep the shared name plus their id, and their
description says they are indistinguishable on every described figure.
"""

from __future__ import annotations

import pandas as pd

from cjm.personas.traits import (
    MIN_SHARE,
    RHYTHM_TEXT,
    STANDOUT_RATIO,
    Population,
    Traits,
    traits,
    value,
)

# The rhythm adjective said relative to the other personas of the same name.
COMPARATIVE = {
    "regular": "more regular",
    "occasional": "more occasional",
    "many-step": "more steps",
    "quick": "quicker",
    "long-running": "longer-running",
    "night-time": "more night-time",
    "weekend": "more weekend",
}
FEATURE = {"regular": "sessions_per_week", "occasional": "sessions_per_week"} | {
    word: feature
    for word, feature in (
        ("many-step", "events_per_session"),
        ("quick", "events_per_session"),
        ("long-running", "mean_session_seconds"),
        ("night-time", "night_share"),
        ("weekend", "weekend_share"),
    )
}


def pool(parts: list[pd.Series]) -> pd.Series:
    """The aggregates of several personas taken as one group (means weighted by customers)."""
    frame = pd.DataFrame(parts).astype(float)
    out = {"n": frame["n"].sum(), "revenue_n": frame["revenue_n"].sum()}
    for key in frame.columns.difference(["n", "revenue_n"]):
        # revenue is averaged over the customers who have some, like the per-persona mean
        weights = frame["revenue_n"] if key == "m:monetary" else frame["n"]
        known = frame[key].notna() & (weights > 0)
        total = weights[known].sum()
        out[key] = (frame[key][known] * weights[known]).sum() / total if total > 0 else float("nan")
    return pd.Series(out)


def shared_names(names: dict[int, str]) -> list[list[int]]:
    """The persona ids of each name given to more than one persona, in id order."""
    by_name: dict[str, list[int]] = {}
    for pid in sorted(names):
        by_name.setdefault(names[pid], []).append(pid)
    return [ids for ids in by_name.values() if len(ids) > 1]


def sibling_contrasts(
    per: pd.DataFrame, names: dict[int, str], pop: Population
) -> dict[int, tuple[str, str]]:
    """(name, description sentence) for every persona whose name another persona shares."""
    out = {}
    for group in shared_names(names):
        for pid in group:
            others = [p for p in group if p != pid]
            reference = pool([per.loc[p] for p in others])
            found = traits(per.loc[pid], pop, reference, reference)
            out[pid] = _contrast(pid, names[pid], others, per.loc[pid], reference, found, pop)
    return out


def _contrast(
    pid: int,
    name: str,
    others: list[int],
    part: pd.Series,
    reference: pd.Series,
    found: Traits,
    pop: Population,
) -> tuple[str, str]:
    """The persona's name and the sentence saying how it differs from the personas sharing it."""
    which = _ids(others)
    words, figures = _differences(part, reference, found, pop)
    if not words:
        return f"{name} (persona {pid})", (
            f'Indistinguishable from {which} (also "{name}") on every described figure: '
            "touchpoints, channels, rhythm and outcomes."
        )
    return f"{name}, {', '.join(words)}", (
        f'What sets it apart from {which} (also "{name}"): ' + "; ".join(figures) + "."
    )


def _differences(
    part: pd.Series, reference: pd.Series, found: Traits, pop: Population
) -> tuple[list[str], list[str]]:
    """The comparative words for the name and the figures behind them (this persona vs theirs)."""
    labels, words, figures = pop.labels, [], []
    if found.adjective:
        words.append(COMPARATIVE[found.adjective])
        figures.append(_rhythm_figure(FEATURE[found.adjective], part, reference))
    mixes = [found.channel] if found.channel else []
    if found.channel:
        words.append(f"more via {labels.get(found.channel[0], '').replace('_', ' ')}")
    if found.standout:
        words.append("more " + " & ".join(labels.get(c, c) for c, _, _ in found.standout))
    for c, share, _ in mixes + found.standout:
        figures.append(
            f"{labels.get(c, c)} {share:.0%} of events vs {value(reference, 'm:' + c):.0%}"
        )
    if not words:
        # nothing the persona has more of: say what it has less of than the others
        fewer = _fewer(part, reference, pop)
        words += [f"{'no' if share == 0 else 'less'} {labels.get(c, c)}" for c, share, _ in fewer]
        figures += [f"{labels.get(c, c)} {s:.0%} of events vs {r:.0%}" for c, s, r in fewer]
    for word in found.outcome:
        level, what = word.split(" ", 1)
        words.append(f"{'higher' if level == 'high' else 'lower'} {what}")
        mine, theirs = (
            (found.conv, value(reference, "m:is_converted"))
            if what == "conversion"
            else (found.rate, value(reference, "churn"))
        )
        verb = "converted" if what == "conversion" else "churned"
        figures.append(f"{verb} {mine:.0%} vs {theirs:.0%}")
    return words, figures


def _fewer(
    part: pd.Series, reference: pd.Series, pop: Population
) -> list[tuple[str, float, float]]:
    """(touchpoint, persona share, reference share): up to two the others use 1.5x as much."""
    rows = []
    for c in pop.tp_cols:
        share, theirs = value(part, "m:" + c), value(reference, "m:" + c)
        if theirs >= MIN_SHARE and theirs >= STANDOUT_RATIO * share:
            rows.append((c, share, theirs))
    return sorted(rows, key=lambda r: (r[1] / r[2], -r[2], r[0]))[:2]


def _rhythm_figure(feature: str, part: pd.Series, reference: pd.Series) -> str:
    """One rhythm figure of the persona against the reference's, in the description's units."""
    mine, theirs = value(part, "m:" + feature), value(reference, "m:" + feature)
    if feature == "sessions_per_week":
        return f"{mine:.2f} vs {theirs:.2f} bursts of activity a week"
    what, fmt = RHYTHM_TEXT[feature]
    scale = 1 / 60 if feature == "mean_session_seconds" else 1
    return f"{what} {fmt.format(mine * scale)} vs {fmt.format(theirs * scale)}"


def _ids(others: list[int]) -> str:
    """'persona 4' or 'personas 2 and 4'."""
    if len(others) == 1:
        return f"persona {others[0]}"
    return "personas " + ", ".join(map(str, others[:-1])) + f" and {others[-1]}"

"""Persona names from hand-built aggregates: personas that look alike against everyone are named by
what separates them from each other, and only truly identical ones fall back to their id."""

from __future__ import annotations

import pandas as pd

from cjm.config import EntityNoun
from cjm.personas.naming import describe_personas

NAMES = ["tp_open", "tp_closed", "tp_wait", "events_per_session"]
LABELS = {"tp_open": "Open", "tp_closed": "Closed", "tp_wait": "Wait"}
TICKETS = EntityNoun(singular="ticket", plural="tickets")


def _stats(rows: dict[int, dict[str, float]]) -> tuple[pd.DataFrame, pd.Series]:
    """Per-persona aggregates and everyone's, as cjm.personas.profiles computes them."""
    per = pd.DataFrame.from_dict(rows, orient="index").rename_axis("persona_id")
    weights = per["n"] / per["n"].sum()
    population = (per.drop(columns="n").mul(weights, axis=0)).sum()
    population["n"], population["revenue_n"] = per["n"].sum(), 0
    population["sd:events_per_session"] = 1.0
    return per, population


def _persona(n, open_, closed, wait, steps, scaled, churn):
    return {
        "n": n,
        "m:tp_open": open_,
        "m:tp_closed": closed,
        "m:tp_wait": wait,
        "m:events_per_session": steps,
        "t:events_per_session": scaled,
        "churn": churn,
        "revenue_n": 0,
    }


def _describe(rows):
    return describe_personas(_stats(rows), NAMES, sorted(rows), LABELS, 100, True, TICKETS)


def test_personas_alike_against_everyone_are_named_by_what_separates_them():
    # 1 and 2 are within 1.25x of everyone's Closed share and 0.3 SD of everyone's steps per burst
    # (both "Typical tickets"), but 1 has 1.7x the Closed share of 2 and 0.6 SD fewer steps.
    personas = _describe(
        {
            1: _persona(50, 0.70, 0.30, 0.00, 3.0, 1.2, 0.20),
            2: _persona(40, 0.82, 0.18, 0.00, 5.0, 1.8, 0.25),
            3: _persona(10, 0.40, 0.20, 0.40, 4.0, 1.5, 0.20),
        }
    )
    assert personas["name"].tolist() == [
        "Typical tickets, quicker, more Closed",
        "Typical tickets, more steps",
        "Tickets: Wait",
    ]
    first, second = personas["description"].tolist()[:2]
    assert first.startswith(
        'Typical tickets, quicker, more Closed. What sets it apart from persona 2 (also "Typical '
        'tickets"): events per burst of activity 3.0 vs 5.0; Closed 30% of events vs 18%. 50 '
        "tickets (50%)."
    ), first
    apart = 'from persona 1 (also "Typical tickets"): events per burst of activity 5.0 vs 3.0.'
    assert apart in second, second


def test_only_personas_identical_on_every_described_figure_keep_their_id():
    same = _persona(45, 0.75, 0.25, 0.00, 4.0, 1.5, 0.20)
    personas = _describe({1: same, 2: same, 3: _persona(10, 0.40, 0.20, 0.40, 4.0, 1.5, 0.20)})
    assert personas["name"].tolist() == [
        "Typical tickets (persona 1)",
        "Typical tickets (persona 2)",
        "Tickets: Wait",
    ]
    alike = 'Indistinguishable from persona 2 (also "Typical tickets") on every described figure'
    assert alike in personas["description"].iloc[0]


def test_a_persona_without_a_touchpoint_the_other_uses_is_named_by_its_absence():
    # as on the helpdesk log: one "Typical tickets" persona never has a step the other has on a
    # quarter of its events, and nothing else separates them
    names = [*NAMES, "tp_take"]
    labels = LABELS | {"tp_take": "Take in charge"}

    def persona(n, open_, closed, take):
        return _persona(n, open_, closed, 0.0, 1.1, 1.0, 1.0) | {"m:tp_take": take}

    rows = {
        1: persona(80, 0.40, 0.35, 0.25),
        2: persona(15, 0.55, 0.45, 0.00),
        3: _persona(5, 0.30, 0.30, 0.40, 1.1, 1.0, 1.0) | {"m:tp_take": 0.0},
    }
    stats = _stats(rows)
    personas = describe_personas(stats, names, [1, 2, 3], labels, 100, True, TICKETS)
    assert personas["name"].tolist() == [
        "Typical tickets, more Take in charge",
        "Typical tickets, no Take in charge",
        "Tickets: Wait",
    ]
    assert "Take in charge 0% of events vs 25%." in personas["description"].iloc[1]

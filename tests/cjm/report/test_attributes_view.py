"""The attributes section on hand-written persona_attributes rows: which values set a persona
apart, in which order, and what it says without a customers file."""

from __future__ import annotations

import pandas as pd

from cjm.report.attributes_view import attributes_view

COLUMNS = [
    "persona_id",
    "attribute",
    "attribute_value",
    "customers",
    "share_in_persona",
    "share_overall",
    "lift",
]
ROWS = [
    (0, "plan", "pro", 40, 0.8, 0.4, 2.0),  # shown
    (0, "plan", "free", 10, 0.2, 0.6, 1 / 3),  # under-represented
    (0, "region", "eu", 30, 0.6, 0.5, 1.2),  # shown: exactly the lift needed
    (0, "region", "us", 4, 0.08, 0.02, 4.0),  # too few customers to tell
    (1, "plan", "free", 50, 1.0, 0.6, 1 / 0.6),  # shown
    (1, "region", "eu", 20, 0.4, 0.5, 0.8),
    (2, "region", "(none)", 3, 0.3, 0.1, 3.0),  # a persona where nothing stands out
]
PERSONAS = pd.DataFrame({"persona_id": [0, 1, 2], "name": ["Browsers", "Buyers", "Few"]})


def test_values_that_set_a_persona_apart_highest_lift_first():
    view = attributes_view(pd.DataFrame(ROWS, columns=COLUMNS), PERSONAS)
    assert view["note"] is None
    assert view["min_lift"] == "×1.2" and view["min_customers"] == 5
    shown = {
        p["name"]: [
            (v["attribute"], v["value"], v["share_in_persona"], v["lift"]) for v in p["rows"]
        ]
        for p in view["personas"]
    }
    assert shown == {
        "Browsers": [("plan", "pro", "80%", "×2.00"), ("region", "eu", "60%", "×1.20")],
        "Buyers": [("plan", "free", "100%", "×1.67")],
        "Few": [],
    }
    assert view["personas"][0]["rows"][0]["share_overall"] == "40%"
    assert view["personas"][0]["rows"][0]["customers"] == "40"


def test_without_a_customers_file_the_section_says_so():
    view = attributes_view(None, PERSONAS, "tickets")
    assert view["personas"] == [] and "--customers FILE" in view["note"]
    empty = attributes_view(pd.DataFrame(columns=COLUMNS), PERSONAS, "tickets")
    assert empty["note"] == "The customer file describes none of the tickets with a persona."

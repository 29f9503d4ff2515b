"""What the customer-attributes section shows: for each persona, the values of the customers
file's columns that are clearly more common in it than among all customers with a persona
(`persona_attributes`), or why there are none."""

from __future__ import annotations

import pandas as pd

from cjm.report.format import fmt_int, fmt_lift, fmt_pct

# A value sets a persona apart when it is at least this many times as common in the persona as
# overall, among at least this many of its customers: fewer make a lift of chance.
ATTRIBUTE_MIN_LIFT = 1.2
ATTRIBUTE_MIN_CUSTOMERS = 5
TOP_ATTRIBUTE_VALUES = 5  # values listed per persona, highest lift first


def attributes_view(
    attributes: pd.DataFrame | None, personas: pd.DataFrame, noun: str = "customers"
) -> dict:
    """Per persona, its most over-represented attribute values; a note when there are none."""
    rule = {"min_lift": f"×{ATTRIBUTE_MIN_LIFT:g}", "min_customers": ATTRIBUTE_MIN_CUSTOMERS}
    if attributes is None:
        note = (
            "No customer file was given to the run that built this database, so there are no "
            "attributes to describe the personas by: give one with cjm run --customers FILE "
            "(or customers: in the config)."
        )
        return {"note": note, "personas": [], **rule}
    if attributes.empty:
        note = f"The customer file describes none of the {noun} with a persona."
        return {"note": note, "personas": [], **rule}
    names = dict(zip(personas.get("persona_id", []), personas.get("name", []), strict=False))
    standing_out = attributes[
        (attributes["lift"] >= ATTRIBUTE_MIN_LIFT)
        & (attributes["customers"] >= ATTRIBUTE_MIN_CUSTOMERS)
    ]
    cards = []
    for persona_id in sorted(attributes["persona_id"].unique()):
        rows = standing_out[standing_out["persona_id"] == persona_id].sort_values(
            ["lift", "customers", "attribute", "attribute_value"],
            ascending=[False, False, True, True],
        )
        cards.append(
            {
                "name": names.get(persona_id, f"Persona {persona_id}"),
                "rows": [_value_row(row) for _, row in rows.head(TOP_ATTRIBUTE_VALUES).iterrows()],
            }
        )
    return {"note": None, "personas": cards, **rule}


def _value_row(row: pd.Series) -> dict:
    """One attribute value of a persona as the section's table shows it."""
    return {
        "attribute": row["attribute"],
        "value": row["attribute_value"],
        "customers": fmt_int(row["customers"]),
        "share_in_persona": fmt_pct(row["share_in_persona"]),
        "share_overall": fmt_pct(row["share_overall"]),
        "lift": fmt_lift(row["lift"]),
    }

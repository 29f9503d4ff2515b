"""Per-persona journey map: cjm.journeys.insights.touchpoint_insights over each persona's customers.

Within a persona, a touchpoint's lifts compare that persona's customers who used it with that
persona's customers who did not, so they say what matters *for this group* (a touchpoint can be a
pain point for one persona and neutral for another). Minimum reach and every role threshold are
those of cjm.journeys.roles, applied to the persona's own customer count. Churn rates use
customer_churn_state.

All personas come from one grouped pass over the events in DuckDB (cjm.journeys.insights
grouped_touchpoint_insights); only the per-persona, per-touchpoint counts reach pandas.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from cjm.config_sections import EntityNoun, OutcomeSettings
from cjm.db import table_exists
from cjm.journeys import insights

PERSONA_INSIGHT_COLUMNS = ["persona_id", *insights.INSIGHT_COLUMNS]


def persona_touchpoint_insights(
    con: duckdb.DuckDBPyConnection,
    *,
    outcomes: OutcomeSettings | None = None,
    entity: EntityNoun | None = None,
) -> pd.DataFrame:
    """One row per persona x touchpoint it used: touchpoint_insights within the persona."""
    churn = "customer_churn_state" if table_exists(con, "customer_churn_state") else None
    by_persona = insights.grouped_touchpoint_insights(
        con, churn, ("customer_personas", "persona_id"), outcomes=outcomes, entity=entity
    )
    frames = [frame.assign(persona_id=pid) for pid, frame in sorted(by_persona.items())]
    if not frames:
        frames = [insights.empty_insights().assign(persona_id=pd.Series(dtype="int64"))]
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"persona_id": "int64"})[PERSONA_INSIGHT_COLUMNS]

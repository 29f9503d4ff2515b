"""Per-persona journey map: cjm.insights.touchpoint_insights run over each persona's customers.

Within a persona, a touchpoint's lifts compare that persona's customers who used it with that
persona's customers who did not, so they say what matters *for this group* (a touchpoint can be a
pain point for one persona and neutral for another). Minimum reach and every role threshold are
those of cjm.insights, applied to the persona's own customer count. Churn rates use
customer_churn_state.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from cjm import insights
from cjm.db import connect, table_exists

PERSONA_INSIGHT_COLUMNS = ["persona_id", *insights.INSIGHT_COLUMNS]
EVENT_COLUMNS = (
    "customer_id",
    "event_index",
    "session_id",
    "touchpoint",
    "sentiment",
    "is_conversion",
)
JOURNEY_COLUMNS = ("customer_id", "is_converted")


def persona_touchpoint_insights(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per persona x touchpoint it used: touchpoint_insights within the persona."""
    # touchpoint_insights reads `events` and `journeys`; each persona's slice of them is put under
    # those names in a private in-memory database, leaving the function itself unchanged.
    cursor = con.cursor()
    try:
        # Only the columns touchpoint_insights reads, to keep the copy small.
        events = cursor.sql(
            f"select p.persona_id, {', '.join('e.' + c for c in EVENT_COLUMNS)} "
            "from events e join customer_personas p using (customer_id)"
        ).to_arrow_table()
        journeys = cursor.sql(
            f"select p.persona_id, {', '.join('j.' + c for c in JOURNEY_COLUMNS)} "
            "from journeys j join customer_personas p using (customer_id)"
        ).to_arrow_table()
        state = None
        if table_exists(cursor, "customer_churn_state"):
            state = cursor.execute("select customer_id, is_churned from customer_churn_state").df()
        ids = [
            r[0]
            for r in cursor.execute(
                "select distinct persona_id from customer_personas order by 1"
            ).fetchall()
        ]
    finally:
        cursor.close()
    frames = []
    with connect() as scratch:
        for name, table in (("persona_events", events), ("persona_journeys", journeys)):
            scratch.register("_cjm_frame", table)
            scratch.execute(f"create table {name} as select * from _cjm_frame")
            scratch.unregister("_cjm_frame")
        del events, journeys
        # With no personas the loop runs once on empty slices, for a correctly typed empty table.
        for pid in ids or [None]:
            scratch.execute(
                "create or replace table events as "
                "select * exclude (persona_id) from persona_events where persona_id = ? "
                "order by customer_id, event_index",
                [pid],
            )
            scratch.execute(
                "create or replace table journeys as "
                "select * exclude (persona_id) from persona_journeys where persona_id = ?",
                [pid],
            )
            frame = insights.touchpoint_insights(scratch, state)
            frame.insert(0, "persona_id", pid)
            frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in PERSONA_INSIGHT_COLUMNS}).astype(
            {"persona_id": "int64"}
        )
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"persona_id": "int64"})[PERSONA_INSIGHT_COLUMNS]

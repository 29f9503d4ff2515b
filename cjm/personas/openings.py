"""Typical journey openings of each persona: the top_paths column of the personas table."""

from __future__ import annotations

import duckdb
import pandas as pd

# Typical paths: the first PATH_STEPS touchpoints of a journey (repeats collapsed), top TOP_PATHS.
PATH_STEPS, TOP_PATHS = 3, 3
PATH_COLUMN = "top_paths"  # added from the journeys by add_top_paths


def add_top_paths(con: duckdb.DuckDBPyConnection, personas: pd.DataFrame) -> pd.DataFrame:
    """personas plus top_paths: each persona's most common journey openings and their shares.

    An opening is the first PATH_STEPS touchpoints of the journey with immediate repeats collapsed
    (`a > a > b` is `a > b`), ending in ` > ...` when the journey goes on. Reads journeys and
    customer_personas; the most common opening is also quoted in the description.
    """
    rows = con.execute(
        f"""
        with split as (
            select p.persona_id, string_split(j.path, ' > ') as steps
            from customer_personas p join journeys j using (customer_id)
        ),
        collapsed as (
            select persona_id, list_filter(steps, lambda x, i: i = 1 or x != steps[i - 1]) as steps
            from split
        ),
        openings as (
            select persona_id,
                   array_to_string(steps[1:{PATH_STEPS}], ' > ')
                   || case when len(steps) > {PATH_STEPS} then ' > ...' else '' end as opening,
                   count(*) as n
            from collapsed group by all
        ),
        ranked as (
            select *, n / sum(n) over (partition by persona_id) as share,
                   row_number() over (partition by persona_id order by n desc, opening) as rank
            from openings
        )
        select persona_id, opening, share from ranked where rank <= {TOP_PATHS}
        order by persona_id, rank
        """
    ).fetchall()
    found: dict[int, list[tuple[str, float]]] = {}
    for pid, opening, share in rows:
        found.setdefault(int(pid), []).append((opening, float(share)))
    out = personas.copy()
    out[PATH_COLUMN] = [
        "; ".join(f"{o} ({s:.0%})" for o, s in found.get(int(p), [])) or None
        for p in out["persona_id"]
    ]
    out["description"] = [
        d
        + (
            f" Most common journey opening: {found[int(p)][0][0]} ({found[int(p)][0][1]:.0%})."
            if int(p) in found
            else ""
        )
        for p, d in zip(out["persona_id"], out["description"], strict=True)
    ]
    return out

"""Who is behind each touchpoint: the inputs of touchpoint_owners and its activity-adjusted lifts.

A team's lifts at a touchpoint compare the customers it handled there with the touchpoint's other
customers. Customers differ in activity, and activity drives outcomes (a team that handles the
hardest, longest cases would look worse for it), so the lifts compare like with like: within
strata of customers of similar activity (those of touchpoint_insights, cjm.journeys.counts),
pooled with the same Mantel-Haenszel risk ratio (cjm.journeys.lifts.adjusted_lift).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from cjm.build.models import model_sql
from cjm.journeys.counts import define_customer_strata
from cjm.journeys.lifts import adjusted_lift

# lift column prefix -> outcome count column in owner_lift_strata
OWNER_OUTCOMES = {"conversion": "converted", "churn": "churned", "failure": "failed"}
OWNER_KEYS = ("touchpoint", "resource")


def define_owner_inputs(
    con: duckdb.DuckDBPyConnection, success: tuple[str, ...], failure: tuple[str, ...]
) -> None:
    """The temporary relations touchpoint_owners reads, on `con` (a cursor of its own): what each
    resource handled, each customer's outcomes and stratum, and the owners' adjusted lifts.

    Needs the variable cjm_resource_path (cjm.journeys.kpis.set_kpi_parameters) on `con`.
    """
    define_customer_strata(con, marked=(success, failure))
    for name in ("owner_handled", "owner_customer_outcomes"):
        con.execute(f"create temp table {name} as\n" + model_sql("analytics", name))
    con.register(
        "owner_lifts", owner_lifts(con.execute(model_sql("analytics", "owner_lift_strata")).df())
    )


def owner_lifts(strata: pd.DataFrame) -> pd.DataFrame:
    """touchpoint, resource and the adjusted lift of each outcome from owner_lift_strata rows.

    NULL (pandas NA) where undefined: no stratum with other customers of the touchpoint, or none
    of them (weighted) with the outcome.
    """
    keys = list(OWNER_KEYS)
    out = strata[keys].drop_duplicates().set_index(keys).sort_index()
    for name, column in OWNER_OUTCOMES.items():
        touched = strata[[*keys, "stratum", "customers", column]]
        totals = strata[["touchpoint", "stratum", "touchpoint_customers", f"touchpoint_{column}"]]
        lift = adjusted_lift(
            touched.set_axis([*keys, "stratum", "n", "yes"], axis=1),
            totals.drop_duplicates(["touchpoint", "stratum"]).set_axis(
                ["touchpoint", "stratum", "n", "yes"], axis=1
            ),
            keys=OWNER_KEYS,
        )
        out[f"{name}_lift"] = lift["adjusted"].reindex(out.index).astype("Float64")
    return out.reset_index()

"""The counts touchpoint insights are made of, counted in DuckDB: steps, reach, strata, outcomes.

The queries are sql/analytics/insight_*.sql. They read relations defined here on a private cursor
(so nothing leaks to the caller's connection): insight_events and insight_journeys (events and
journeys with each customer's group), insight_churn_state and the temporary table
insight_customer_strata. One SQL text thus serves the whole log and any grouping of customers
(personas), and only per-touchpoint counts reach pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from cjm.build.models import model_sql
from cjm.db import quote_ident
from cjm.journeys.lifts import STRATUM_EXACT, STRATUM_STEP

ChurnState = pd.DataFrame | str | None
Groups = tuple[str, str] | None
# Per-customer outcomes marked by touchpoint: (success touchpoints, failure touchpoints).
MarkedOutcomes = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class InsightCounts:
    """Counts per group (group_id NULL when the log is analysed whole)."""

    outcomes: pd.DataFrame  # group_id, customers, converted, churn_known, churned
    steps: pd.DataFrame  # group_id, previous, touchpoint, n, sentiment sums, ends, is_conversion
    reach: pd.DataFrame  # group_id, touchpoint, stratum, reach, <outcome>_with
    strata: pd.DataFrame  # group_id, stratum, customers and each outcome's count


def insight_counts(
    con: duckdb.DuckDBPyConnection,
    churn_state: ChurnState,
    groups: Groups = None,
    marked: MarkedOutcomes = ((), ()),
) -> InsightCounts:
    """Count the log's steps, reach, strata and outcomes, per group of customers.

    `churn_state` (customer_id, is_churned): a frame, the name of a table with one row per
    customer (it stays in DuckDB), or None when churn is unknown. `groups` is (table, column): the
    table has customer_id and puts each customer in at most one group, named by the column;
    customers in none are left out.
    """
    cursor = con.cursor()
    try:
        define_customer_strata(cursor, churn_state, groups, marked)
        outcomes = _query(cursor, "insight_outcomes")
        if groups is None and outcomes.empty:  # an empty log: one row of zeros
            outcomes = pd.DataFrame(
                {"group_id": [None], "customers": 0, "converted": 0, "churn_known": 0, "churned": 0}
            )
        return InsightCounts(
            outcomes=outcomes,
            steps=_query(cursor, "insight_steps"),
            reach=_query(cursor, "insight_reach"),
            strata=_query(cursor, "insight_strata"),
        )
    finally:
        cursor.close()


def define_customer_strata(
    con: duckdb.DuckDBPyConnection,
    churn_state: ChurnState = None,
    groups: Groups = None,
    marked: MarkedOutcomes = ((), ()),
) -> None:
    """The temporary table insight_customer_strata (each customer's group, activity stratum,
    success and failure) on `con`, with the views and variables the insight queries read.

    Meant for a cursor of its own, whose close drops them all.
    """
    _define_inputs(con, churn_state, groups)
    con.execute("set variable cjm_success_touchpoints = ?::varchar[]", [list(marked[0])])
    con.execute("set variable cjm_failure_touchpoints = ?::varchar[]", [list(marked[1])])
    con.execute("set variable cjm_stratum_exact = ?::bigint", [STRATUM_EXACT])
    con.execute("set variable cjm_stratum_step = ?::double", [STRATUM_STEP])
    con.execute(
        "create temp table insight_customer_strata as\n"
        + model_sql("analytics", "insight_customer_strata")
    )


def _query(cursor: duckdb.DuckDBPyConnection, name: str) -> pd.DataFrame:
    return cursor.execute(model_sql("analytics", name)).df()


def _define_inputs(cursor: duckdb.DuckDBPyConnection, churn_state: ChurnState, groups: Groups):
    """The relations the insight queries read, as temporary views of this cursor.

    Built from identifiers only (the caller's table and column names, quoted), never values: the
    grouping and the churn source change which relation the queries read, not their shape.
    """
    if groups is None:
        group, join = "null::bigint as group_id", ""
    else:
        table, column = groups
        group = f"g.{quote_ident(column)} as group_id"
        join = f"join {quote_ident(table)} g on g.customer_id = x.customer_id"
    for name, source in (("insight_events", "events"), ("insight_journeys", "journeys")):
        cursor.execute(f"create temp view {name} as select {group}, x.* from {source} x {join}")
    if isinstance(churn_state, str):
        cursor.execute(
            "create temp view insight_churn_state as select customer_id, is_churned from "
            + quote_ident(churn_state)
        )
    elif churn_state is not None:
        state = pd.DataFrame(
            {
                "customer_id": churn_state["customer_id"].astype(str),
                "is_churned": churn_state["is_churned"].astype("boolean"),
            }
        ).drop_duplicates("customer_id")
        cursor.register("insight_churn_state", state)
    else:
        cursor.execute(
            "create temp view insight_churn_state as "
            "select null::varchar as customer_id, null::boolean as is_churned where false"
        )

"""How the churn package runs its SQL (sql/analytics): values as DuckDB variables, the customers
in scope, and queries composed of other queries.

A churn query reads `scoped_events`: the events of the customers in scope. Which table holds them
is known only at run time (a batch, a training sample, or none for every customer), so it is the
one relation defined here rather than in a file; it stays a filter on the events scan, where DuckDB
pushes the cutoff down as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from cjm.build.models import model_sql

ALL_EVENTS = "select * from events"
SCOPED_EVENTS = (
    "select * from events where customer_id in "
    "(select customer_id from query_table(getvariable('cjm_churn_customers')))"
)


def analytics_sql(name: str) -> str:
    """The text of sql/analytics/<name>.sql."""
    return model_sql("analytics", name)


def set_variables(con: duckdb.DuckDBPyConnection, values: Mapping[str, object]) -> None:
    """Set each value as the DuckDB variable of its name (names are fixed in code, never data)."""
    for name, value in values.items():
        con.execute(f"set variable {name} = ?", [value])


def composed(
    body: str, parts: Mapping[str, str] | None = None, customers: str | None = None
) -> str:
    """`body` run over `parts` (name -> query, each able to read the ones before it) and over
    scoped_events: the events of the customers in the table named by cjm_churn_customers when
    `customers` is given (see scope_variables), else every event."""
    scope = ALL_EVENTS if customers is None else SCOPED_EVENTS
    # Not materialised: each reader scans the events again rather than DuckDB buffering them all.
    ctes = [f"scoped_events as not materialized (\n{scope}\n)"]
    ctes += [f"{name} as (\n{sql}\n)" for name, sql in (parts or {}).items()]
    return "with " + ",\n".join(ctes) + f"\nselect * from (\n{body}\n)"


def scope_variables(customers: str | None) -> dict[str, object]:
    """The variable composed() reads for the customers in scope (none for every customer)."""
    return {} if customers is None else {"cjm_churn_customers": customers}

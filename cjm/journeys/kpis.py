"""KPIs over time (kpi_timeseries) and who is behind each touchpoint (touchpoint_owners).

Both are SQL models in `sql/marts/`, driven by DuckDB variables like the path marts
(cjm.journeys.paths). They read personas, churn state and touchpoint roles, so they are built after
those, in the same step as the path tables, rather than with the models cjm.build.models runs
before personas exist.
"""

from __future__ import annotations

import duckdb

from cjm.build.models import model_sql
from cjm.config import Config
from cjm.db import quote_ident
from cjm.journeys.owners import define_owner_inputs

KPI_MARTS = ("kpi_timeseries", "touchpoint_owners")


def json_path(key: str) -> str:
    """The JSON path of one top-level key, whatever characters it holds (`org:resource`)."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_kpi_parameters(
    con: duckdb.DuckDBPyConnection,
    *,
    period: str = "week",
    timezone: str = "UTC",
    resource_column: str = "resource",
    failure_touchpoints: tuple[str, ...] = (),
) -> None:
    """Expose the KPI and owner settings to the SQL models as DuckDB variables."""
    if period not in ("week", "month"):
        raise ValueError(f"period must be 'week' or 'month', got {period!r}")
    con.execute("set variable cjm_kpi_period = ?::varchar", [period])
    con.execute("set variable cjm_timezone = ?::varchar", [timezone])
    con.execute("set variable cjm_resource_path = ?::varchar", [json_path(resource_column)])
    con.execute("set variable cjm_failure_touchpoints = ?::varchar[]", [list(failure_touchpoints)])


def build_kpi_tables(con: duckdb.DuckDBPyConnection, config: Config) -> dict[str, int]:
    """Build kpi_timeseries and touchpoint_owners in the build database; return their row counts.

    Needs events, journeys, customer_personas, customer_churn_state and touchpoint_insights.
    """
    # A cursor of its own: the owners' temporary inputs (cjm.journeys.owners) go with it.
    cursor = con.cursor()
    try:
        set_kpi_parameters(
            cursor,
            period=config.kpis.period,
            timezone=config.timezone,
            resource_column=config.source_column("resource"),
            failure_touchpoints=config.outcomes.failure,
        )
        define_owner_inputs(cursor, config.outcomes.success, config.outcomes.failure)
        counts = {}
        for name in KPI_MARTS:
            cursor.execute(
                f"create or replace table {quote_ident(name)} as\n" + model_sql("marts", name)
            )
            counts[name] = cursor.execute(f"select count(*) from {quote_ident(name)}").fetchone()[0]
    finally:
        cursor.close()
    return counts

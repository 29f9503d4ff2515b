"""What the journey-map report shows, read from the published database with read-only queries.

Every section reads only the tables it needs and says why it is empty (no sentiment in the log,
no personas trained, ...) instead of failing: a log with only the required columns still gets a
report. Optional tables that later pipeline versions add are used when present with the columns
named here, otherwise the same figures are computed from the core tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import networkx as nx
import pandas as pd

from cjm.db import quote_ident
from cjm.graphs.metrics import transition_graph
from cjm.query import QueryError
from cjm.report.churn_data import read_churn
from cjm.report.tables import count_rows, has_columns, table_columns

JOURNEY_STAGES = ("awareness", "consideration", "purchase", "retention", "advocacy")
FLOW_STEPS = 5  # first distinct touchpoints of each journey shown in the flow and typical paths
RUN_DELTAS = ("customers", "events", "sessions", "personas", "customers_scored", "flagged")
RUN_COLUMNS = (
    "run_id",
    "started_at",
    "finished_at",
    "status",
    "input_files",
    "rows_read",
    "rows_rejected",
    *RUN_DELTAS,
)


@dataclass
class ReportData:
    """Everything the report renders; a None or empty frame means the log lacks that data."""

    kpis: dict
    runs: dict
    funnel: pd.DataFrame
    paths: pd.DataFrame
    graph: nx.DiGraph | None
    insights: pd.DataFrame
    touchpoint_order: pd.DataFrame
    stage_sentiment: pd.DataFrame
    personas: pd.DataFrame
    churn: dict
    notes: dict[str, str] = field(default_factory=dict)
    # kpi_timeseries (all customers) and the pain points' touchpoint_owners rows; None: no table
    kpi_trend: pd.DataFrame | None = None
    owners: pd.DataFrame | None = None
    # persona_attributes (only built from a customers file); None: the run had no such file
    persona_attributes: pd.DataFrame | None = None


def read_kpis(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> dict:
    """Headline numbers: customers, events, sessions, conversion, churn, revenue, period."""
    row = con.execute(
        "select count(*), avg(is_converted::int), sum(revenue), count(revenue), "
        "min(first_seen_at), max(last_seen_at), sum(event_count) from journeys"
    ).fetchone()
    customers, conversion, revenue, revenue_count, first, last, events = row
    kpis = {
        "customers": int(customers),
        "events": int(events or 0),
        "sessions": count_rows(con, "sessions") if "sessions" in columns else None,
        "conversion_rate": conversion,
        "revenue": float(revenue) if revenue_count else None,
        "revenue_per_customer": float(revenue) / customers if revenue_count else None,
        "first_seen_at": first,
        "last_seen_at": last,
        "churn_rate": None,
        "flagged": None,
        "has_channel": False,
        "has_sentiment": False,
    }
    if has_columns(columns, "customer_churn_state", "is_churned"):
        kpis["churn_rate"] = con.execute(
            "select avg(is_churned::int) from customer_churn_state"
        ).fetchone()[0]
    if has_columns(columns, "churn_risk", "risk_tier"):
        kpis["flagged"] = int(
            con.execute("select count(*) from churn_risk where risk_tier = 'high'").fetchone()[0]
        )
    channel, sentiment = con.execute(
        "select count(channel), count(sentiment) from events"
    ).fetchone()
    kpis["has_channel"], kpis["has_sentiment"] = bool(channel), bool(sentiment)
    return kpis


def read_runs(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> dict:
    """The latest run and the change of its counts since the run before it."""
    if "pipeline_runs" not in columns:
        return {"latest": None, "previous": None, "deltas": {}}
    keep = ", ".join(quote_ident(c) for c in RUN_COLUMNS if c in columns["pipeline_runs"])
    where = "where status = 'success'" if "status" in columns["pipeline_runs"] else ""
    frame = con.execute(
        f"select {keep} from pipeline_runs {where} order by started_at desc limit 2"
    ).df()
    if frame.empty:
        return {"latest": None, "previous": None, "deltas": {}}
    latest = frame.iloc[0].to_dict()
    if "input_files" in latest:
        try:
            latest["input_file_count"] = len(json.loads(latest["input_files"] or "[]"))
        except (TypeError, ValueError):
            latest["input_file_count"] = None
    previous = frame.iloc[1].to_dict() if len(frame) > 1 else None
    deltas = {}
    if previous is not None:
        for key in RUN_DELTAS:
            now, before = latest.get(key), previous.get(key)
            if now is not None and before is not None and not pd.isna(now) and not pd.isna(before):
                deltas[key] = int(now) - int(before)
    return {"latest": latest, "previous": previous, "deltas": deltas}


def read_funnel(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> pd.DataFrame:
    """Customers who reached each stage (or a later one), for the stages the log uses."""
    frame = con.execute(
        """
        with ranks as (
            select unnest(?::varchar[]) as stage, generate_subscripts(?::varchar[], 1) as rank
        ),
        used as (
            select distinct stage from events where stage is not null
        ),
        furthest as (
            select r.rank, count(*) as customers
            from journeys as j inner join ranks as r on j.furthest_stage = r.stage
            group by r.rank
        ),
        touched as (
            select stage, count(distinct customer_id) as touched
            from events where stage is not null group by stage
        )
        select
            r.stage,
            coalesce((select sum(f.customers) from furthest as f where f.rank >= r.rank), 0)
                as customer_count,
            coalesce(t.touched, 0) as touched
        from ranks as r
        inner join used as u on r.stage = u.stage
        left join touched as t on r.stage = t.stage
        order by r.rank
        """,
        [list(JOURNEY_STAGES), list(JOURNEY_STAGES)],
    ).df()
    return _order_stages(frame)


def _order_stages(frame: pd.DataFrame) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(JOURNEY_STAGES)}
    frame = frame.sort_values("stage", key=lambda s: s.map(order)).reset_index(drop=True)
    frame["customer_count"] = frame["customer_count"].astype("int64")
    return frame


def read_paths(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> pd.DataFrame:
    """Customers per journey opening: the first FLOW_STEPS distinct touchpoints, per persona.

    Consecutive repeats of one touchpoint are collapsed (a run of product views is one step), so
    the flow shows where journeys move rather than how often a page is reloaded.
    """
    by_persona = has_columns(columns, "customer_personas", "customer_id", "persona_id")
    persona = "p.persona_id" if by_persona else "null::bigint"
    join = "left join customer_personas as p on s.customer_id = p.customer_id" if by_persona else ""
    frame = con.execute(
        f"""
        with ordered as (
            select
                customer_id,
                event_index,
                touchpoint,
                lag(touchpoint) over (partition by customer_id order by event_index) as previous
            from events
        ),
        moves as (
            select
                customer_id,
                touchpoint,
                row_number() over (partition by customer_id order by event_index) as step
            from ordered
            where previous is null or previous <> touchpoint
        ),
        openings as (
            select customer_id, list(touchpoint order by step) as steps
            from moves where step <= ? group by customer_id
        )
        select
            {persona} as persona_id,
            s.steps,
            count(*) as customer_count,
            sum(j.is_converted::int) as converted_count
        from openings as s
        inner join journeys as j on s.customer_id = j.customer_id
        {join}
        group by all
        """,
        [FLOW_STEPS],
    ).df()
    frame["path"] = frame["steps"].map(lambda steps: " > ".join(steps))
    return frame


def read_graph(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> nx.DiGraph | None:
    """The all-customers journey transition graph, or None when there are no transitions."""
    if not has_columns(
        columns, "transitions", "from_touchpoint", "to_touchpoint", "segment", "scope"
    ):
        return None
    try:
        return transition_graph(con, segment="all", scope="journey")
    except KeyError:
        return None


def read_insights(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> pd.DataFrame:
    """touchpoint_insights as published (empty when the table is missing)."""
    if "touchpoint_insights" not in columns:
        return pd.DataFrame(columns=["touchpoint", "reach", "role", "role_reason"])
    return con.execute("select * from touchpoint_insights order by reach desc, touchpoint").df()


def read_touchpoint_order(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each touchpoint's usual stage, typical position in a journey and mean sentiment."""
    return con.execute(
        """
        with placed as (
            select
                e.touchpoint,
                e.stage,
                e.sentiment,
                (e.event_index - 1) / greatest(j.event_count - 1, 1) as position
            from events as e
            inner join journeys as j on e.customer_id = j.customer_id
        )
        select
            touchpoint,
            mode(stage) as stage,
            avg(position) as mean_position,
            count(*) as event_count,
            avg(sentiment) as mean_sentiment,
            count(sentiment) as sentiment_count
        from placed
        group by touchpoint
        order by mean_position, touchpoint
        """
    ).df()


def read_stage_sentiment(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Mean sentiment of the events of each journey stage that carry one."""
    frame = con.execute(
        "select stage, avg(sentiment) as mean_sentiment, count(sentiment) as sentiment_count "
        "from events where sentiment is not null and stage is not null group by stage"
    ).df()
    order = {s: i for i, s in enumerate((*JOURNEY_STAGES, "exit"))}
    return frame.sort_values("stage", key=lambda s: s.map(order)).reset_index(drop=True)


def read_personas(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> pd.DataFrame:
    """personas as published (empty when none were trained)."""
    if "personas" not in columns:
        return pd.DataFrame()
    return con.execute("select * from personas order by persona_id").df()


def read_kpi_trend(
    con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]
) -> pd.DataFrame | None:
    """kpi_timeseries rows of all customers by period; None when the database has no such table."""
    if not has_columns(columns, "kpi_timeseries", "scope", "period_start"):
        return None
    return con.execute(
        "select * from kpi_timeseries where scope = 'all' order by period_start"
    ).df()


def read_pain_point_owners(
    con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]
) -> pd.DataFrame | None:
    """touchpoint_owners rows of pain-point touchpoints (all rows' count in attrs['rows'])."""
    if not has_columns(columns, "touchpoint_owners", "touchpoint_role", "customer_count"):
        return None
    rows = con.execute("select count(*) from touchpoint_owners").fetchone()[0]
    frame = con.execute(
        "select * from touchpoint_owners where touchpoint_role = 'pain_point' "
        "order by touchpoint, customer_count desc, resource"
    ).df()
    frame.attrs["rows"] = int(rows)
    return frame


def read_persona_attributes(
    con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]
) -> pd.DataFrame | None:
    """persona_attributes as published; None when the run had no customers file."""
    if not has_columns(columns, "persona_attributes", "persona_id", "attribute", "lift"):
        return None
    return con.execute(
        "select * from persona_attributes order by persona_id, attribute, attribute_value"
    ).df()


def read_report_data(con: duckdb.DuckDBPyConnection) -> ReportData:
    """Read every section of the report from an open (read-only) published database."""
    columns = table_columns(con)
    missing = [t for t in ("events", "journeys") if t not in columns]
    if missing:
        raise QueryError(f"not a cjm database: table(s) {', '.join(missing)} missing")
    kpis = read_kpis(con, columns)
    notes: dict[str, str] = {}
    if kpis["customers"] == 0:
        notes["all"] = "The log has no accepted events, so there is nothing to map yet."
    return ReportData(
        kpis=kpis,
        runs=read_runs(con, columns),
        funnel=read_funnel(con, columns),
        paths=read_paths(con, columns),
        graph=read_graph(con, columns),
        insights=read_insights(con, columns),
        touchpoint_order=read_touchpoint_order(con),
        stage_sentiment=read_stage_sentiment(con),
        personas=read_personas(con, columns),
        churn=read_churn(con, columns),
        notes=notes,
        kpi_trend=read_kpi_trend(con, columns),
        owners=read_pain_point_owners(con, columns),
        persona_attributes=read_persona_attributes(con, columns),
    )

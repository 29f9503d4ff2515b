"""Customer segments for the segmented transition graphs: one value per customer and segment type.

Every customer gets exactly one value of every segment type (a missing value is ``(none)``), so
the transitions of the segments of one type add up to the ``all`` segment edge by edge.
"""

from __future__ import annotations

import duckdb

from cjm.build.customers import ATTRIBUTE_PREFIX
from cjm.build.models import model_sql
from cjm.config import Config, ConfigError
from cjm.db import quote_ident, table_exists

NONE = "(none)"
# A configured segment column with more values than this is an id or a timestamp, not a segment:
# each value would be a graph of its own.
MAX_SEGMENT_VALUES = 100

# segment_type -> SQL value per customer over `journeys` joined to the persona and churn tables.
_BUILT_IN_SQL = {
    "persona": "customer_personas.persona_id",
    "first_channel": "journeys.first_channel",
    "converted": "journeys.is_converted",
    "churned": "customer_churn_state.is_churned",
}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe {quote_ident(table)}").fetchall()]


def _property_keys(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select distinct unnest(json_keys(properties)) from events where properties is not null"
    ).fetchall()
    return sorted(r[0] for r in rows)


# A segment column may say where it comes from; a bare name must be unambiguous. A column of the
# customers file (cjm.build.customers) is always qualified: `customers.<column>`.
QUALIFIERS = ("journeys", "events", "properties", "customers")


def _attribute_sql(table: str, column: str) -> str:
    if table == "journeys":
        return f"any_value(journeys.{quote_ident(column)})"
    if table == "customers":
        return f"any_value(customer_attributes.{quote_ident(ATTRIBUTE_PREFIX + column)})"
    if table == "events":
        ref = f"events.{quote_ident(column)}"
    else:
        key = column.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
        ref = f"json_extract_string(events.properties, '$.\"{key}\"')"
    return f"arg_min({ref}, events.event_index) filter (where {ref} is not null)"


def _attributes(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """The columns a segment can name, by QUALIFIERS: journeys, events, property keys and the
    columns of the customers file (none on a run without one)."""
    loaded = table_exists(con, "customer_attributes")
    return {
        "journeys": _columns(con, "journeys"),
        "events": [c for c in _columns(con, "events") if c != "properties"],
        "properties": _property_keys(con),
        "customers": [
            c.removeprefix(ATTRIBUTE_PREFIX)
            for c in (_columns(con, "customer_attributes") if loaded else [])
            if c.startswith(ATTRIBUTE_PREFIX)
        ],
    }


def segment_value_sql(
    con: duckdb.DuckDBPyConnection,
    name: str,
    config: Config,
    found: dict[str, list[str]] | None = None,
) -> str:
    """SQL giving one value per customer (grouped by customer_id over events) for a segment column.

    A customer attribute (a `journeys` column, or `customers.<column>` of the customers file) is
    taken as is; an event attribute (an `events`
    column or a source column kept in `properties`) is the customer's first non-null value.
    A source name mapped in `columns:` stands for its canonical column. `journeys.<column>`,
    `events.<column>` and `properties.<source column>` say which one is meant; a bare name that is
    both a cjm column and a source column kept in properties is refused rather than guessed, so
    that a cjm release adding a column can never silently change what a segment means.
    `found`: _attributes(con), read when not given.
    """
    found = _attributes(con) if found is None else found
    qualifier, _, rest = name.partition(".")
    if qualifier in QUALIFIERS and rest:
        if rest in found[qualifier]:
            return _attribute_sql(qualifier, rest)
        raise ConfigError(
            f"segments: {name!r}: {qualifier} has no column {rest!r}; "
            f"available: {sorted(found[qualifier])}"
        )
    canonical = {source: key for key, source in config.columns.items()}
    if name in canonical:
        column = canonical[name]
        table = "journeys" if column in found["journeys"] else "events"
        return _attribute_sql(table, column)
    cjm_table = next((t for t in ("journeys", "events") if name in found[t]), None)
    if cjm_table and name in found["properties"]:
        raise ConfigError(
            f"segments: {name!r} is both cjm's {cjm_table} column and a source column of the "
            f"event files; write {cjm_table + '.' + name!r} or {'properties.' + name!r}"
        )
    if cjm_table or name in found["properties"]:
        return _attribute_sql(cjm_table or "properties", name)
    available = sorted(set().union(*(v for k, v in found.items() if k != "customers")))
    available += [f"customers.{c}" for c in found.get("customers", [])]
    raise ConfigError(
        f"segments: column {name!r} is neither a customer attribute (journeys column) nor an "
        f"event attribute (events column or source column); available: {available}"
    )


def build_customer_segments(con: duckdb.DuckDBPyConnection, config: Config) -> int:
    """Write customer_segments (customer_id, segment_type, segment_value, segment); return rows."""
    for table in ("journeys", "customer_personas", "customer_churn_state"):
        if not table_exists(con, table):
            raise RuntimeError(f"customer_segments needs table {table}, which is not built yet")
    # Built here, not in sql/: each configured segment column is a column of the wide select (and
    # of the unpivot), and may need events or customer_attributes joined, so the statement's shape
    # is the configuration's.
    values = {kind: f"any_value({sql})" for kind, sql in _BUILT_IN_SQL.items()}
    found = _attributes(con) if config.segments else {}
    for name in config.segments:
        values[name] = segment_value_sql(con, name, config, found)
    needs_events = any("events." in sql for sql in values.values())
    selects = ",\n".join(
        f"coalesce(cast({sql} as varchar), '{NONE}') as {quote_ident(kind)}"
        for kind, sql in values.items()
    )
    events_join = (
        "left join events on journeys.customer_id = events.customer_id" if needs_events else ""
    )
    if any("customer_attributes." in sql for sql in values.values()):
        events_join += (
            "\nleft join customer_attributes"
            " on journeys.customer_id = customer_attributes.customer_id"
        )
    wide = f"""
        select journeys.customer_id as _cjm_customer_id, {selects}
        from journeys
        left join customer_personas on journeys.customer_id = customer_personas.customer_id
        left join customer_churn_state on journeys.customer_id = customer_churn_state.customer_id
        {events_join}
        group by journeys.customer_id
    """
    kinds = ", ".join(quote_ident(k) for k in values)
    con.execute(
        f"""
        create or replace table customer_segments as
        with wide as ({wide})
        select
            _cjm_customer_id as customer_id,
            segment_type,
            segment_value,
            segment_type || ':' || segment_value as segment
        from wide
        unpivot (segment_value for segment_type in ({kinds}))
        order by segment_type, _cjm_customer_id
        """
    )
    _check_segment_values(con)
    return int(con.execute("select count(*) from customer_segments").fetchone()[0])


def _check_segment_values(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a segment column with more than MAX_SEGMENT_VALUES values in customer_segments."""
    too_many = con.execute(
        "select segment_type, count(distinct segment_value) from customer_segments "
        "group by 1 having count(distinct segment_value) > ? order by 1",
        [MAX_SEGMENT_VALUES],
    ).fetchall()
    if too_many:
        kind, count = too_many[0]
        raise ConfigError(
            f"segments: column {kind!r} has {count:,} distinct values; a segment column may "
            f"have at most {MAX_SEGMENT_VALUES} (each value becomes a graph of its own)"
        )


def add_segment_transitions(con: duckdb.DuckDBPyConnection) -> None:
    """Add the transitions of every customer segment to the 'all' rows already in transitions."""
    # Idempotent on retry: only this function adds the rows of segments other than 'all'.
    con.execute("delete from transitions where segment != 'all'")
    body = model_sql("intermediate", "int_segment_transitions")
    kinds = con.execute("select distinct segment_type from customer_segments order by 1").fetchall()
    for (kind,) in kinds:
        con.execute("set variable cjm_segment_type = ?", [kind])
        con.execute(f"insert into transitions by name select * from (\n{body}\n)")
    con.execute("reset variable cjm_segment_type")

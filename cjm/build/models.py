"""Run the SQL models in sql/ (staging, intermediate, marts) against the build database."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable

import duckdb
import yaml

from cjm.build.parameters import check_out_of_range_files, set_parameters, write_touchpoint_stages
from cjm.config import Config
from cjm.db import quote_ident

# The SQL models ship inside the package: the repository's sql/ is mapped to cjm.sql at build time
# (pyproject.toml), and read through importlib.resources, so a wheel and a checkout read the same
# files. Only this module reads them.
SQL_DIR: Traversable = files("cjm.sql")
# The properties files (dbt's format) that declare the models, beside the SQL.
SCHEMA_FILES = (("staging", "schema.yml"), ("intermediate", "schema.yml"), ("schema.yml",))

LAYERS = ("staging", "intermediate", "marts")
STAGING = ("stg_events",)
INTERMEDIATE = (
    "int_events_validated",
    "int_event_duplicates",
    "int_events_deduplicated",
    "int_identity_map",
    "int_events_stitched",
    "int_file_touchpoints",
    "int_source_files",
    "int_events_sessionised",
)
# file_loads comes right after rejected_events: it is the last model that reads the load tables
# (TEMPORARY and VALIDATED below), so they can be dropped before the per-customer marts are built.
MARTS = ("events", "rejected_events", "file_loads", "sessions", "journeys", "transitions")
# Intermediate models over a mart, built just before the mart that reads them: name -> mart.
LATE_INTERMEDIATE = {
    "int_transition_steps": "transitions",
    "int_transition_edges": "transitions",
}


def declared_models(sql_dir: Traversable = SQL_DIR) -> dict[str, dict]:
    """Every model declared in the properties files (schema.yml, dbt's format) under `sql_dir`,
    by name: materialisation and storage are declared there, beside the SQL."""
    models: dict[str, dict] = {}
    for where in SCHEMA_FILES:
        path = sql_dir.joinpath(*where)
        for entry in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            if entry["name"] in models:
                raise ValueError(f"{path}: model {entry['name']} is declared twice")
            models[entry["name"]] = entry
    return models


def model_plan() -> list[tuple[str, str]]:
    """(layer, model) in build order: staging, intermediate, then each mart after its inputs."""
    plan = [("staging", n) for n in STAGING] + [("intermediate", n) for n in INTERMEDIATE]
    for mart in MARTS:
        plan += [("intermediate", n) for n, m in LATE_INTERMEDIATE.items() if m == mart]
        plan.append(("marts", mart))
    return plan


def _config(entry: dict) -> dict:
    return entry.get("config") or {}


def _meta(entry: dict) -> dict:
    return _config(entry).get("meta") or {}


_DECLARED = declared_models()
_PLANNED = [name for _, name in model_plan()]
# The columns of the events mart, in order, as declared in sql/schema.yml (a test keeps the
# declaration equal to what sql/marts/events.sql builds): an incremental run can only merge into a
# published events table with exactly these.
EVENTS_COLUMNS = tuple(column["name"] for column in _DECLARED["events"]["columns"])
# materialized: view (DuckDB fuses a view into the model that reads it)
VIEWS = tuple(n for n, e in _DECLARED.items() if _config(e).get("materialized") == "view")
# meta view_when_times_are_typed: the model whose materialisation each build decides
# (parses_text; see sql/intermediate/schema.yml)
(VALIDATED,) = (n for n, e in _DECLARED.items() if _meta(e).get("view_when_times_are_typed"))
# meta temporary, among the models of the plan: TEMP tables, dropped once LAST_LOAD_READER is
# built (a temporary model outside the plan is dropped by the step that builds it)
TEMPORARY = tuple(n for n in _PLANNED if _meta(_DECLARED.get(n, {})).get("temporary"))
# meta last_load_reader: the last model of the plan that reads the load tables
(LAST_LOAD_READER,) = (n for n, e in _DECLARED.items() if _meta(e).get("last_load_reader"))
# meta per_customer, in build order: the models that only ever look at one customer's events (or
# add up per customer); a partitioned run (cjm.build.partition) builds them per bucket of
# customers and combines the buckets.
PER_CUSTOMER = tuple(n for n in _PLANNED if _meta(_DECLARED.get(n, {})).get("per_customer"))
# column meta compression: uncompressed, by table
UNCOMPRESSED = {
    name: columns
    for name, entry in _DECLARED.items()
    if (
        columns := tuple(
            c["name"]
            for c in entry.get("columns") or []
            if (c.get("meta") or {}).get("compression") == "uncompressed"
        )
    )
}
# Views that only exist while a run builds (raw_events reads Parquet files in place:
# cjm.build.ingest).
BUILD_VIEWS = ("raw_events",)
# Tables that only exist while a run builds; they are dropped before publishing.
BUILD_ONLY = (
    "raw_events_landed",
    "raw_run_clock",
    "raw_parquet_sources",
    "raw_rejects",
    "raw_file_reads",
    "cfg_touchpoint_stages",
) + (
    # what an incremental build (cjm.build.incremental) adds
    "int_touched_customers",
    "int_dedup_conflicts",
    "int_new_events_deduplicated",
    "prior_events",
    "prior_rejected_events",
    "prior_file_loads",
)


def model_sql(layer: str, name: str, sql_dir: Traversable = SQL_DIR) -> str:
    """The text of one SQL model, `sql/<layer>/<name>.sql`, as installed in the package."""
    return sql_dir.joinpath(layer, f"{name}.sql").read_text(encoding="utf-8")


def model_files(sql_dir: Traversable = SQL_DIR) -> list[tuple[str, str]]:
    """(layer, model) of every SQL model file under `sql_dir`, sorted."""
    return sorted(
        (layer, entry.name.removesuffix(".sql"))
        for layer in LAYERS
        for entry in sql_dir.joinpath(layer).iterdir()
        if entry.name.endswith(".sql")
    )


def model_key(layer: str, name: str, sql_dir: Traversable = SQL_DIR) -> tuple[str, ...]:
    """The key a model's header comment declares (`-- one row per ...; key: a, b`); () if none."""
    for line in model_sql(layer, name, sql_dir).splitlines():
        if not line.startswith("--"):
            break
        if "key:" in line:
            return tuple(column.strip() for column in line.split("key:", 1)[1].split(","))
    return ()


def model_keys(sql_dir: Traversable = SQL_DIR) -> dict[tuple[str, str], tuple[str, ...]]:
    """(layer, model) -> the key its header declares, for every model that declares one."""
    return {
        (layer, name): key
        for layer, name in model_files(sql_dir)
        if (key := model_key(layer, name, sql_dir))
    }


def run_model(con: duckdb.DuckDBPyConnection, layer: str, name: str) -> None:
    """Materialise one model file: views (VIEWS), temp tables (TEMPORARY) or tables."""
    body = model_sql(layer, name)
    if name == VALIDATED:
        kind = "table" if parses_text(con) else "view"
    else:
        kind = "view" if name in VIEWS else "temp table" if name in TEMPORARY else "table"
    if kind == "table" and name in UNCOMPRESSED:
        create_table(con, name, body, UNCOMPRESSED[name])
    else:
        con.execute(f"create or replace {kind} {quote_ident(name)} as\n{body}")


def parses_text(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any row of this build has its event time as text (landed CSV or JSON Lines rows,
    or a Parquet file whose time column is not TIMESTAMPTZ)."""
    landed, untyped = con.execute(
        "select (select count(*) from raw_events_landed), "
        "(select count(*) from raw_parquet_sources where not has_typed_event_time)"
    ).fetchone()
    return landed > 0 or untyped > 0


def create_table(
    con: duckdb.DuckDBPyConnection, name: str, query: str, uncompressed: Sequence[str] = ()
) -> None:
    """Create or replace table `name` with the rows of `query`, its `uncompressed` columns stored
    without compression."""
    columns = con.execute(f"describe {query}").fetchall()
    definitions = ", ".join(
        f"{quote_ident(column)} {column_type}"
        + (" using compression uncompressed" if column in uncompressed else "")
        for column, column_type, *_ in columns
    )
    con.execute(f"create or replace table {quote_ident(name)} ({definitions})")
    con.execute(f"insert into {quote_ident(name)}\n{query}")


def build_models(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    progress: Callable[[str], None] | None = None,
    hooks: Mapping[str, Callable[[duckdb.DuckDBPyConnection], None]] | None = None,
) -> dict[str, float]:
    """Build staging, intermediate and mart models in order; return seconds per model.

    `hooks` run right after the model they are named for (incremental merges,
    cjm.build.incremental).
    """
    set_parameters(con, config)
    timings: dict[str, float] = {}
    for layer, name in model_plan():
        if layer == "marts" and name == MARTS[0]:
            write_touchpoint_stages(con, config)
        if progress:
            progress(f"building {name}")
        started = time.perf_counter()
        run_model(con, layer, name)
        if hooks and name in hooks:
            hooks[name](con)
        if name == LAST_LOAD_READER:
            drop_load_tables(con)
            check_out_of_range_files(con, config)
        timings[name] = round(time.perf_counter() - started, 3)
    return timings


def drop_load_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the load tables (TEMPORARY, and VALIDATED where it is a table) once no later model
    reads them, freeing their pages and spilled blocks."""
    for name in TEMPORARY:
        con.execute(f"drop table if exists temp.main.{quote_ident(name)}")
    if con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = ?",
        [VALIDATED],
    ).fetchone()[0]:
        con.execute(f"drop table {quote_ident(VALIDATED)}")


def drop_build_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop staging, intermediate and landing tables so only published tables remain."""
    kinds = dict(
        con.execute(
            "select table_name, table_type from information_schema.tables "
            "where table_schema = 'main'"
        ).fetchall()
    )
    for name in (*LATE_INTERMEDIATE, *reversed(INTERMEDIATE), *STAGING, *BUILD_VIEWS, *BUILD_ONLY):
        # what a name is depends on the build: an incremental one makes some views tables
        if name in kinds:
            kind = "view" if kinds[name] == "VIEW" else "table"
            con.execute(f"drop {kind} {quote_ident(name)}")

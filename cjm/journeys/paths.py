"""Path analysis: journey variants, paths around an anchor touchpoint, between two, funnels.

The tables are SQL models in `sql/marts/` (and one intermediate) driven by DuckDB variables, so the
same SQL builds the published tables during a run and answers `cjm paths` on the published file
read-only: values only ever reach it as `?` parameters of `set variable`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources.abc import Traversable

import duckdb
import pandas as pd

from cjm.build.models import SQL_DIR, model_sql
from cjm.build.parameters import set_stage_order
from cjm.config import Config
from cjm.db import quote_ident, table_exists
from cjm.query import QueryError

# Built in this order; int_funnel_reached is a temporary table feeding the two funnel marts.
PATH_MARTS = (
    "path_variants",
    "stage_funnel",
    "anchored_paths",
    "between_paths",
    "funnel_steps",
    "funnel_dropouts",
)
FUNNEL_STEP_TYPE = "struct(funnel varchar, step_number integer, touchpoint varchar)[]"


class PathQueryError(QueryError):
    """A `cjm paths` question that cannot be answered, with what to do instead."""


def set_path_parameters(
    con: duckdb.DuckDBPyConnection,
    *,
    anchors: Sequence[str] = (),
    steps_before: int = 3,
    steps_after: int = 3,
    between: Sequence[Sequence[str]] = (),
    prefix_steps: int = 5,
    top_variants: int = 20,
    funnels: dict[str, Sequence[str]] | None = None,
) -> None:
    """Expose the path settings to the SQL models as DuckDB variables (typed, even when empty)."""
    funnel_steps = [
        {"funnel": name, "step_number": i, "touchpoint": touchpoint}
        for name, steps in (funnels or {}).items()
        for i, touchpoint in enumerate(steps, 1)
    ]
    con.execute("set variable cjm_path_anchors = ?::varchar[]", [list(anchors)])
    con.execute("set variable cjm_path_steps_before = ?::bigint", [int(steps_before)])
    con.execute("set variable cjm_path_steps_after = ?::bigint", [int(steps_after)])
    con.execute("set variable cjm_path_between = ?::varchar[][]", [[list(p) for p in between]])
    con.execute("set variable cjm_path_prefix_steps = ?::bigint", [int(prefix_steps)])
    con.execute("set variable cjm_path_top_variants = ?::bigint", [int(top_variants)])
    con.execute(f"set variable cjm_funnel_steps = ?::{FUNNEL_STEP_TYPE}", [funnel_steps])
    set_stage_order(con)


def default_anchors(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Anchors when none are configured: conversion touchpoints, pain points, points of delight."""
    sql = "select distinct touchpoint from events where is_conversion"
    found = {r[0] for r in con.execute(sql).fetchall()}
    if table_exists(con, "touchpoint_insights"):
        found |= {
            r[0]
            for r in con.execute(
                "select touchpoint from touchpoint_insights "
                "where role in ('pain_point', 'point_of_delight')"
            ).fetchall()
        }
    return sorted(found)


def build_path_tables(con: duckdb.DuckDBPyConnection, config: Config) -> dict[str, int]:
    """Build every path table in the build database; return the row count of each."""
    settings = config.paths
    anchors = list(settings.anchors) if settings.anchors is not None else default_anchors(con)
    set_path_parameters(
        con,
        anchors=anchors,
        steps_before=settings.steps_around,
        steps_after=settings.steps_around,
        between=settings.between,
        prefix_steps=settings.prefix_steps,
        top_variants=settings.top_variants,
        funnels=config.funnels,
    )
    # Temporary: they feed funnel_steps and funnel_dropouts and are never published.
    con.execute(
        "create or replace temp view int_funnel_steps as\n"
        + model_sql("intermediate", "int_funnel_steps")
    )
    con.execute(
        "create or replace temp table int_funnel_reached as\n"
        + model_sql("intermediate", "int_funnel_reached")
    )
    counts = {}
    try:
        for name in PATH_MARTS:
            con.execute(
                f"create or replace table {quote_ident(name)} as\n" + model_sql("marts", name)
            )
            counts[name] = con.execute(f"select count(*) from {quote_ident(name)}").fetchone()[0]
    finally:
        con.execute("drop table if exists temp.int_funnel_reached")
        con.execute("drop view if exists temp.int_funnel_steps")
    return counts


def funnel_note(con: duckdb.DuckDBPyConnection) -> str | None:
    """The run-summary note when the stage funnel is empty (no event has a funnel stage), else
    None: a process log's activities rarely match the stage keywords."""
    reached = con.execute("select coalesce(sum(customer_count), 0) from stage_funnel").fetchone()[0]
    if reached:
        return None
    return (
        "stage funnel: empty, no touchpoint of this log is mapped to a funnel stage (awareness "
        "to advocacy); map touchpoints to stages under `stages:` in the config"
    )


def _require_touchpoints(con: duckdb.DuckDBPyConnection, touchpoints: Sequence[str]) -> None:
    for touchpoint in touchpoints:
        seen = con.execute(
            "select count(*) from events where touchpoint = ?", [touchpoint]
        ).fetchone()[0]
        if not seen:
            common = [
                r[0]
                for r in con.execute(
                    "select touchpoint from events group by 1 order by count(*) desc, 1 limit 8"
                ).fetchall()
            ]
            raise PathQueryError(
                f"no event has touchpoint {touchpoint!r}; the most common are {', '.join(common)}"
            )


def anchored_paths_sql(
    con: duckdb.DuckDBPyConnection,
    anchor: str,
    before: int = 3,
    after: int = 3,
    top: int | None = None,
) -> str:
    """The query of anchored_paths for one anchor, its values set as variables on `con`."""
    if before < 0 or after < 0 or before + after == 0:
        raise PathQueryError("--before and --after must be >= 0 and not both 0")
    _require_touchpoints(con, [anchor])
    set_path_parameters(con, anchors=[anchor], steps_before=before, steps_after=after)
    return _answer_sql(con, "anchored_paths", top, "direction desc, path_rank")


def between_paths_sql(
    con: duckdb.DuckDBPyConnection, start: str, end: str, top: int | None = None
) -> str:
    """The query of between_paths for one pair, its values set as variables on `con`."""
    _require_touchpoints(con, [start, end])
    set_path_parameters(con, between=[(start, end)])
    return _answer_sql(con, "between_paths", top, "path_rank")


def _answer_sql(con: duckdb.DuckDBPyConnection, mart: str, top: int | None, order: str) -> str:
    con.execute("set variable cjm_path_answer_top = ?::bigint", [top])
    return (
        f"select * from (\n{model_sql('marts', mart)}\n) as answer\n"
        "where getvariable('cjm_path_answer_top') is null\n"
        f"    or path_rank <= getvariable('cjm_path_answer_top')\norder by {order}"
    )


# The terminal view of `cjm paths`: DuckDB drops columns from the middle of a table too wide for
# the terminal, so the path and its share come first, the counts last, the constants in between.
TERMINAL_COLUMNS = {
    "anchored_paths": (
        "direction, path, share, adjacent_touchpoint, anchor, steps, same_session_count, "
        "customer_count, path_rank"
    ),
    "between_paths": (
        "path, share, step_count, from_touchpoint, to_touchpoint, median_seconds, "
        "customer_count, path_rank"
    ),
}


def terminal_view(sql: str, mart: str) -> str:
    """The query of anchored_paths_sql or between_paths_sql with its columns in TERMINAL_COLUMNS'
    order (rows in the same order)."""
    return f"select {TERMINAL_COLUMNS[mart]} from (\n{sql}\n) as answer"


def anchored_paths(
    con: duckdb.DuckDBPyConnection,
    anchor: str,
    before: int = 3,
    after: int = 3,
    top: int | None = None,
) -> pd.DataFrame:
    """The paths before and after customers' first `anchor` event, as in anchored_paths."""
    return con.execute(anchored_paths_sql(con, anchor, before, after, top)).df()


def between_paths(
    con: duckdb.DuckDBPyConnection, start: str, end: str, top: int | None = None
) -> pd.DataFrame:
    """The sub-paths from customers' first `start` event to the next `end`, as in between_paths."""
    return con.execute(between_paths_sql(con, start, end, top)).df()


# Table macros over the published file, made from the path marts' own SQL with the run's variables
# replaced by the macro's arguments, so an analyst gets `cjm paths`' answers from any DuckDB:
#   select * from anchored_paths_for('payment_error', 2, 3)
#   select * from between_paths_for('product_view', 'purchase')
#   select * from funnel_steps_for(['product_view', 'add_to_cart', 'purchase'])
# (argument names differ from the marts' columns: a macro argument hides a column of its name).
FUNNEL_STEPS_ARG = (
    "list_transform(funnel_touchpoints, lambda touchpoint, step_number: "
    "{'funnel': array_to_string(funnel_touchpoints, ' > '), 'step_number': step_number, "
    "'touchpoint': touchpoint})"
)
# The funnel macros read int_funnel_steps inlined, its variable then replaced like theirs.
FUNNEL_STEPS_FROM = (
    "from (\n" + model_sql("intermediate", "int_funnel_steps") + ") as int_funnel_steps"
)
PATH_MACROS = {
    "anchored_paths_for": (
        ("marts", "anchored_paths"),
        ("anchor_touchpoint", "steps_before", "steps_after"),
        {
            "getvariable('cjm_path_anchors')": "[anchor_touchpoint]",
            "getvariable('cjm_path_steps_before')": "steps_before",
            "getvariable('cjm_path_steps_after')": "steps_after",
        },
    ),
    "between_paths_for": (
        ("marts", "between_paths"),
        ("start_touchpoint", "end_touchpoint"),
        {"getvariable('cjm_path_between')": "[[start_touchpoint, end_touchpoint]]"},
    ),
    "funnel_reached_for": (
        ("intermediate", "int_funnel_reached"),
        ("funnel_touchpoints",),
        {
            "from int_funnel_steps": FUNNEL_STEPS_FROM,
            "getvariable('cjm_funnel_steps')": FUNNEL_STEPS_ARG,
        },
    ),
    "funnel_steps_for": (
        ("marts", "funnel_steps"),
        ("funnel_touchpoints",),
        {
            "from int_funnel_steps": FUNNEL_STEPS_FROM,
            "getvariable('cjm_funnel_steps')": FUNNEL_STEPS_ARG,
            "from int_funnel_reached": "from funnel_reached_for(funnel_touchpoints)",
        },
    ),
}


def macro_sql(name: str, sql_dir: Traversable = SQL_DIR) -> str:
    """The `create or replace macro` statement of one of PATH_MACROS."""
    (layer, model), arguments, replacements = PATH_MACROS[name]
    body = model_sql(layer, model, sql_dir)
    for variable, argument in replacements.items():
        if variable not in body:
            raise ValueError(f"{layer}/{model}.sql no longer has {variable}; update PATH_MACROS")
        body = body.replace(variable, argument)
    return f"create or replace macro {name}({', '.join(arguments)}) as table\n{body}"


def create_path_macros(con: duckdb.DuckDBPyConnection, sql_dir: Traversable = SQL_DIR) -> list[str]:
    """Store the path and funnel table macros in the database (persistent, in its main schema)."""
    for name in PATH_MACROS:
        con.execute(macro_sql(name, sql_dir))
    return list(PATH_MACROS)

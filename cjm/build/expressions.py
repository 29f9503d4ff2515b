"""Check configured expressions before they run: column arithmetic, never the host.

An expression is parsed by DuckDB (json_serialize_sql) and walked node by node. Only the node kinds
of a scalar expression are allowed, and a function call only names a built-in scalar, aggregate or
window function that reads nothing outside its arguments: no subquery (where table functions such as
read_csv, read_text, glob or query_table live), no parameter, no function from an extension or a
schema, and not the few scalars that read the environment or the session (ENVIRONMENT_READERS).
"""

from __future__ import annotations

import json
from functools import lru_cache

import duckdb

# Node classes of json_serialize_sql that a scalar expression is made of.
ALLOWED_CLASSES = frozenset(
    {
        "BETWEEN",
        "CASE",
        "CAST",
        "COLLATE",
        "COLUMN_REF",
        "COMPARISON",
        "CONJUNCTION",
        "CONSTANT",
        "FUNCTION",
        "LAMBDA",
        "LAMBDA_REF",
        "OPERATOR",
        "TYPE",
        "WINDOW",
    }
)
# Built-in scalars that read the environment, settings, secrets or the running query, or write
# to DuckDB's log.
ENVIRONMENT_READERS = frozenset(
    {
        "getenv",
        "current_setting",
        "current_query",
        "which_secret",
        "json_deserialize_sql",
        "json_serialize_sql",
        "json_serialize_plan",
        "getvariable",
        "write_log",
    }
)


class ExpressionError(ValueError):
    """An expression that is not a single scalar expression over the file's columns."""


@lru_cache(maxsize=1)
def allowed_functions() -> frozenset[str]:
    """Names of DuckDB's built-in scalar, aggregate and window functions, less the readers."""
    with duckdb.connect() as con:
        names = con.execute(
            "select distinct lower(function_name) from duckdb_functions() "
            "where function_type in ('scalar', 'aggregate', 'window')"
        ).fetchall()
    # __internal_* functions are DuckDB's own plumbing (COPY TO helpers), not for expressions
    return frozenset(n for (n,) in names if not n.startswith("__")) - ENVIRONMENT_READERS


def check_expression(text: str) -> None:
    """Raise ExpressionError unless `text` is one scalar expression that reaches only its
    arguments (see the module docstring)."""
    # Parsed exactly as cjm.build.ingest embeds it, so text that closes the cast early is caught.
    tree = _parse(f"select cast(({text}) as varchar)")
    if tree.get("error"):
        raise ExpressionError(f"not valid SQL: {tree.get('error_message', 'parse error')}")
    statements = tree.get("statements", [])
    node = statements[0].get("node", {}) if len(statements) == 1 else {}
    clauses = ("where_clause", "having", "qualify", "sample")
    if (
        node.get("type") != "SELECT_NODE"
        or len(node.get("select_list", [])) != 1
        or node.get("from_table", {}).get("type") != "EMPTY"
        or any(node.get(c) for c in clauses)
        or node.get("group_expressions")
        or node.get("modifiers")
        or node.get("cte_map", {}).get("map")
    ):
        raise ExpressionError("must be one expression (no FROM, no second column, no clauses)")
    cast = node["select_list"][0]
    if cast.get("class") != "CAST" or cast.get("alias") or cast.get("child", {}).get("alias"):
        raise ExpressionError("must be one expression, without an alias")
    _check_node(cast)


def _parse(sql: str) -> dict:
    """json_serialize_sql of `sql`; no DuckDB object outlives the call (an error's traceback
    would otherwise keep the connection alive)."""
    error = None
    con = duckdb.connect()
    try:
        tree = json.loads(con.execute("select json_serialize_sql(?)", [sql]).fetchone()[0])
    except duckdb.Error as exc:
        error, tree = str(exc), {}
    finally:
        con.close()
        del con
    if error is not None:
        raise ExpressionError(f"cannot parse it: {error}")
    return tree


def _check_node(node: object) -> None:
    if isinstance(node, list):
        for item in node:
            _check_node(item)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("class")
    if kind is not None and kind not in ALLOWED_CLASSES:
        what = "a subquery" if kind == "SUBQUERY" else f"a {kind.lower()} node"
        raise ExpressionError(f"{what} is not allowed: expressions compute over the file's columns")
    if kind in ("FUNCTION", "WINDOW"):
        name = str(node.get("function_name", "")).lower()
        if node.get("schema") or node.get("catalog"):
            raise ExpressionError(f"function {name!r} is qualified by a schema: not allowed")
        if name not in allowed_functions():
            reason = (
                "reaches outside the expression's arguments"
                if name in ENVIRONMENT_READERS
                else "is not a built-in scalar function (file and table functions such as "
                "read_csv, read_text or glob never are)"
            )
            raise ExpressionError(f"function {name!r} {reason}")
    for value in node.values():
        _check_node(value)

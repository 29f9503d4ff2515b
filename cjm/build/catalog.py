"""The published tables as declared in sql/schema.yml (dbt's properties format): their comments,
their declared types and the cjm_schema view, written into the published file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb
import yaml

from cjm.build.models import SQL_DIR
from cjm.db import quote_ident, sql_literal

SCHEMA_FILE = SQL_DIR / "schema.yml"  # a Traversable: read_text, like a Path
SCHEMA_VIEW = "cjm_schema"


class SchemaFileError(ValueError):
    """sql/schema.yml is not a usable declaration of the published tables."""


@dataclass(frozen=True)
class Column:
    """One declared column: name, DuckDB type and what it holds."""

    name: str
    data_type: str
    description: str


@dataclass(frozen=True)
class Model:
    """One declared published table."""

    name: str
    description: str
    materialized: str
    columns: tuple[Column, ...]
    # (prefix, data type, description) of columns named after the data, e.g. tp_<touchpoint>
    column_patterns: tuple[tuple[str, str, str], ...] = ()
    # the key: one column tested unique, or the columns of dbt_utils.unique_combination_of_columns
    key: tuple[str, ...] = ()

    def column(self, name: str) -> Column | None:
        """The declared column of that name, or the pattern it matches (longest prefix first)."""
        for column in self.columns:
            if column.name == name:
                return column
        for prefix, data_type, description in sorted(
            self.column_patterns, key=lambda p: -len(p[0])
        ):
            if name.startswith(prefix):
                return Column(name, data_type, f"{description}: {name[len(prefix) :]}")
        return None


def parse_schema(text: str, source: str = "schema.yml") -> dict[str, Model]:
    """The models of a dbt properties file, by name, with a clear error naming what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise SchemaFileError(f"{source}: expected `version: 2` and a list under `models:`")
    models: dict[str, Model] = {}
    for index, entry in enumerate(data["models"], 1):
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"{source}: model {index} ({name or '?'})"
        if not name or not entry.get("description"):
            raise SchemaFileError(f"{where}: needs a name and a description")
        columns = []
        for column in entry.get("columns") or []:
            missing = [k for k in ("name", "data_type", "description") if not column.get(k)]
            if missing:
                raise SchemaFileError(f"{where}, column {column.get('name', '?')}: no {missing}")
            columns.append(Column(column["name"], column["data_type"], column["description"]))
        patterns = tuple(
            (p["prefix"], p["data_type"], p["description"])
            for p in (entry.get("meta") or {}).get("column_patterns") or []
        )
        materialized = (entry.get("config") or {}).get("materialized", "table")
        if entry["name"] in models:
            raise SchemaFileError(f"{where}: declared twice")
        models[entry["name"]] = Model(
            entry["name"],
            entry["description"],
            materialized,
            tuple(columns),
            patterns,
            _key(entry),
        )
    return models


def _key(entry: dict) -> tuple[str, ...]:
    for test in entry.get("data_tests") or []:
        if isinstance(test, dict) and "dbt_utils.unique_combination_of_columns" in test:
            spec = test["dbt_utils.unique_combination_of_columns"]
            return tuple(spec["combination_of_columns"])
    unique = [
        c["name"] for c in entry.get("columns") or [] if "unique" in (c.get("data_tests") or [])
    ]
    return tuple(unique[:1])


def key_violations(con: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> dict[str, int]:
    """The declared key tests (unique and not null) run on every declared table present: table ->
    rows that break them (duplicated or NULL keys); tables that pass are left out."""
    tables = {table for table, _, _ in published_columns(con)}
    broken = {}
    for name in sorted(tables & models.keys()):
        key = models[name].key
        if key and (count := key_breaks(con, name, key)):
            broken[name] = count
    return broken


def key_breaks(con: duckdb.DuckDBPyConnection, table: str, key: Sequence[str]) -> int:
    """Rows of `table` that break its key: NULL in a key column, or a later copy of a key value."""
    columns = ", ".join(quote_ident(c) for c in key)
    nulls = " or ".join(f"{quote_ident(c)} is null" for c in key)
    return int(
        con.execute(
            f"select (select count(*) from {quote_ident(table)} where {nulls}) + "
            f"(select coalesce(sum(n - 1), 0) from (select count(*) as n from {quote_ident(table)} "
            f"group by {columns} having count(*) > 1))"
        ).fetchone()[0]
    )


def read_schema(path: Path | Traversable = SCHEMA_FILE) -> dict[str, Model]:
    """The declared published tables of a schema file (default: sql/schema.yml)."""
    return parse_schema(path.read_text(encoding="utf-8"), str(path))


def published_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str]]:
    """(table, column, type) of every table in the main schema, in table and column order."""
    return con.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where database_name = current_database() and schema_name = 'main' "
        "and table_name in (select table_name from duckdb_tables() "
        "where database_name = current_database() and schema_name = 'main') "
        "order by table_name, column_index"
    ).fetchall()


def apply_declared_types(con: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> list[str]:
    """Give columns DuckDB typed NULL (every value missing, as on a first run) their declared
    type, so readers and Parquet exports see the real one; return the columns changed."""
    changed = []
    for table, column, data_type in published_columns(con):
        declared = models[table].column(column) if table in models else None
        if data_type == '"NULL"' and declared is not None:
            con.execute(
                f"alter table {quote_ident(table)} alter column {quote_ident(column)} "
                f"set data type {declared.data_type}"
            )
            changed.append(f"{table}.{column}")
    return changed


def write_comments(con: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> int:
    """COMMENT ON every declared table and column present; return the comments written."""
    written = 0
    tables = {table for table, _, _ in published_columns(con)}
    for name in sorted(tables & models.keys()):
        model = models[name]
        con.execute(f"comment on table {quote_ident(name)} is {sql_literal(model.description)}")
        written += 1
    for table, column, _ in published_columns(con):
        declared = models[table].column(column) if table in models else None
        if declared is not None:
            target = f"{quote_ident(table)}.{quote_ident(column)}"
            con.execute(f"comment on column {target} is {sql_literal(declared.description)}")
            written += 1
    return written


def create_schema_view(con: duckdb.DuckDBPyConnection) -> None:
    """The cjm_schema view: table_name, column_name, data_type, description of every published
    column (the table's own description on a row with column_name NULL)."""
    rows = con.execute(
        "select t.table_name, null, null, t.comment, -1 from duckdb_tables() t "
        "where t.database_name = current_database() and t.schema_name = 'main' "
        "union all "
        "select c.table_name, c.column_name, c.data_type, c.comment, c.column_index "
        "from duckdb_columns() c "
        "join duckdb_tables() t using (database_name, schema_name, table_name) "
        "where c.database_name = current_database() and c.schema_name = 'main' "
        "order by 1, 5"
    ).fetchall()
    # The rows are written into the view: a view over duckdb_columns() would list whatever
    # database is current, not this file, when the file is attached under another name.
    values = ",\n".join(
        "(" + ", ".join("null" if v is None else sql_literal(str(v)) for v in row[:4]) + ")"
        for row in rows
    )
    con.execute(
        f"create or replace view {SCHEMA_VIEW} as select * from (values\n{values}\n) "
        "as schema(table_name, column_name, data_type, description)"
    )


def publish_catalog(con: duckdb.DuckDBPyConnection, models: dict[str, Model]) -> dict[str, int]:
    """Declared types, comments and the cjm_schema view for the finished build."""
    changed = apply_declared_types(con, models)
    comments = write_comments(con, models)
    create_schema_view(con)
    return {"retyped_columns": len(changed), "comments": comments}


DBT_SOURCES_HEADER = """\
# dbt sources for the published cjm database, generated from sql/schema.yml
# (python -m cjm.build.catalog writes it; a test keeps the two in step). With dbt-duckdb, attach
# the file in profiles.yml:
#   attach: [{path: /path/to/cjm.duckdb, alias: cjm, read_only: true}]
# then select from {{ source('cjm', 'journeys') }}.
"""


def dbt_sources(models: dict[str, Model], database: str = "cjm") -> str:
    """A dbt sources.yml declaring every published table and column of `models`."""
    tables = []
    for model in models.values():
        table: dict = {"name": model.name, "description": model.description}
        if len(model.key) > 1:
            test = {
                "dbt_utils.unique_combination_of_columns": {
                    "combination_of_columns": list(model.key)
                }
            }
            table["data_tests"] = [test]
        columns = []
        for column in model.columns:
            entry: dict = {
                "name": column.name,
                "data_type": column.data_type,
                "description": column.description,
            }
            if model.key == (column.name,):
                entry["data_tests"] = ["unique", "not_null"]
            elif column.name in model.key:
                entry["data_tests"] = ["not_null"]
            columns.append(entry)
        table["columns"] = columns
        tables.append(table)
    source = {
        "name": database,
        "description": "Customer journeys published by cjm (one DuckDB file, rebuilt by each run).",
        "database": database,
        "schema": "main",
        "tables": tables,
    }
    body = yaml.safe_dump(
        {"version": 2, "sources": [source]}, sort_keys=False, width=100, allow_unicode=True
    )
    return DBT_SOURCES_HEADER + body


if __name__ == "__main__":
    import sys

    Path(sys.argv[1]).write_text(dbt_sources(read_schema()), encoding="utf-8")

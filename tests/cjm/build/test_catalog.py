"""sql/schema.yml declares every published table: comments, types, cjm_schema, docs/outputs.md."""

from __future__ import annotations

import re

import duckdb
import pytest
import yaml

from cjm.build.catalog import (
    SCHEMA_FILE,
    SchemaFileError,
    apply_declared_types,
    create_schema_view,
    dbt_sources,
    key_violations,
    parse_schema,
    published_columns,
    read_schema,
    write_comments,
)
from tests.conftest import REPO

SMALL = """
version: 2
models:
  - name: runs
    description: One row per run.
    config: {materialized: table}
    columns:
      - {name: run_id, data_type: varchar, description: the run, data_tests: [unique, not_null]}
      - {name: error, data_type: varchar, description: the error of a failed run}
    meta:
      column_patterns:
        - {prefix: tp_, data_type: double, description: share of events that are this touchpoint}
"""


def test_declared_types_comments_and_schema_view():
    models = parse_schema(SMALL)
    con = duckdb.connect()
    con.execute("create table runs as select 'r1' as run_id, null as error, 0.5 as tp_cart")
    con.execute("create table undeclared as select 1 as x")
    assert published_columns(con)[1] == ("runs", "error", '"NULL"')
    assert apply_declared_types(con, models) == ["runs.error"]
    assert write_comments(con, models) == 4
    create_schema_view(con)
    rows = con.execute("select * from cjm_schema order by all").fetchall()
    assert rows == [
        ("runs", "error", "VARCHAR", "the error of a failed run"),
        ("runs", "run_id", "VARCHAR", "the run"),
        ("runs", "tp_cart", "DECIMAL(2,1)", "share of events that are this touchpoint: cart"),
        ("runs", None, None, "One row per run."),
        ("undeclared", "x", "INTEGER", None),
        ("undeclared", None, None, None),
    ]


def test_schema_file_errors_name_the_model_and_column():
    with pytest.raises(
        SchemaFileError, match="model 1 \\(runs\\), column error: no \\['data_type'\\]"
    ):
        parse_schema(SMALL.replace("data_type: varchar, description: the error", "description: x"))
    with pytest.raises(SchemaFileError, match="models:"):
        parse_schema("version: 2\n")
    with pytest.raises(SchemaFileError, match="declared twice"):
        parse_schema(SMALL + SMALL.split("models:")[1])


def check_declared_and_commented(db) -> set[str]:
    """Assert that every table and column of a published file is declared in sql/schema.yml with
    its stored type, carries its comment, and is listed in cjm_schema; return the tables."""
    models = read_schema()
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = dict(
            con.execute(
                "select table_name, comment from duckdb_tables() where schema_name = 'main'"
            ).fetchall()
        )
        columns = [
            (t, c, data_type, comment)
            for t, c, data_type in published_columns(con)
            for comment in con.execute(
                "select comment from duckdb_columns() where database_name = current_database() "
                "and table_name = ? and column_name = ?",
                [t, c],
            ).fetchone()
        ]
        listed = con.execute(
            "select count(*), count(description) from cjm_schema where column_name is not null"
        ).fetchone()
        broken_keys = key_violations(con, models)
    finally:
        con.close()
    assert broken_keys == {}
    assert set(tables) <= set(models), set(tables) - set(models)
    assert [t for t, comment in tables.items() if comment != models[t].description] == []
    assert [f"{t}.{c}" for t, c, _, comment in columns if not comment] == []
    assert [f"{t}.{c}" for t, c, data_type, _ in columns if data_type == '"NULL"'] == []
    wrong = [
        (f"{t}.{c}", data_type, models[t].column(c).data_type)
        for t, c, data_type, _ in columns
        if models[t].column(c).data_type.upper() != data_type
    ]
    assert wrong == []
    assert listed == (len(columns), len(columns))
    return set(tables)


def test_published_sample_is_declared_and_commented(published_sample):
    assert len(check_declared_and_commented(published_sample)) >= 20


def _documented_outputs() -> dict[str, set[str]]:
    """The output table of docs/outputs.md: table -> the column names its columns cell lists."""
    text = (REPO / "docs" / "outputs.md").read_text(encoding="utf-8")
    section = text[text.index("| table | one row per | columns |") :]
    section = section[: section.index("\n\n")]
    tables = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if len(cells) != 3 or cells[0] in ("table", "---"):
            continue
        # names at the top level of the cell: outside parentheses and backticks
        flat = re.sub(r"`[^`]*`", "", cells[2])
        while re.search(r"\([^()]*\)", flat):
            flat = re.sub(r"\([^()]*\)", "", flat)
        flat = re.split(r";|: ", flat)[0]
        names = set()
        for item in re.split(r",| and ", flat):
            parts = [p.strip() for p in item.split("/") if p.strip()]
            for part in parts:
                if re.fullmatch(r"[a-z][a-z0-9_]*", part):
                    names.add(part)
            if len(parts) == 2 and "_" in parts[0] and "_" not in parts[1]:
                names.discard(parts[1])  # conversion_rate_with/without
                names.add(parts[0].rsplit("_", 1)[0] + "_" + parts[1])
        tables[cells[0]] = names
    return tables


def test_documented_output_tables_agree_with_schema_yml():
    models = read_schema(SCHEMA_FILE)
    documented = _documented_outputs()
    assert set(documented) == set(models)
    for table, names in documented.items():
        unknown = {n for n in names if models[table].column(n) is None}
        assert not unknown, (table, unknown)
    # the columns documented for events are the ones declared
    assert {c.name for c in models["events"].columns} >= documented["events"]


def test_key_violations_count_duplicated_and_null_keys():
    models = parse_schema(SMALL)
    con = duckdb.connect()
    con.execute(
        "create table runs as select * from (values ('a'), ('a'), ('a'), (null), ('b')) t(run_id)"
    )
    assert key_violations(con, models) == {"runs": 3}
    con.execute("delete from runs where run_id is null or run_id = 'a'")
    assert key_violations(con, models) == {}


def test_dbt_sources_file_is_generated_from_schema_yml():
    text = (REPO / "docs" / "dbt" / "sources.yml").read_text(encoding="utf-8")
    assert text == dbt_sources(read_schema()), (
        "regenerate: python -m cjm.build.catalog docs/dbt/sources.yml"
    )
    tables = {t["name"]: t for t in yaml.safe_load(text)["sources"][0]["tables"]}
    assert set(tables) == set(read_schema())
    event_id = next(c for c in tables["events"]["columns"] if c["name"] == "event_id")
    assert event_id["data_tests"] == ["unique", "not_null"]

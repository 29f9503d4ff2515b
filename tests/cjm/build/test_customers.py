"""Customer attributes: the customers file's reconciliation and persona profiles, on golden rows
computed by hand from a four-customer build."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cjm.build.customers import build_customer_tables, check_customer_file
from cjm.config import ConfigError

# c1..c4 have events; personas: c1, c2 -> 0 and c3, c4 -> 1. c4 has no row in the file.
CUSTOMERS_CSV = """customer_id,Plan,region
c1,pro,eu
c2,free,
c3,pro,us
c9,free,eu
c5,pro,eu
c5,free,us
,pro,eu
"""


def _build(tmp_path: Path, text: str = CUSTOMERS_CSV) -> tuple[duckdb.DuckDBPyConnection, dict]:
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    con = duckdb.connect()
    con.execute(
        "create table journeys as select * from (values ('c1'), ('c2'), ('c3'), ('c4')) "
        "as t(customer_id)"
    )
    con.execute(
        "create table customer_personas as select * from (values ('c1', 0), ('c2', 0), "
        "('c3', 1), ('c4', 1)) as t(customer_id, persona_id)"
    )
    return con, build_customer_tables(con, path, "customer_id")


def test_rows_reconcile_matched_unmatched_and_rejected(tmp_path):
    con, summary = _build(tmp_path)
    loads = con.execute(
        "select rows_read, rows_accepted, rows_matched, rows_unmatched, rows_rejected, "
        "rows_duplicate_id, rows_missing_id, is_reconciled from customer_attribute_loads"
    ).fetchall()
    assert loads == [(7, 4, 3, 1, 3, 2, 1, True)]
    assert summary["counts"] == {
        "customer_attribute_rows": 7,
        "customer_attributes_matched": 3,
        "customer_attributes_unmatched": 1,
        "customer_attributes_rejected": 3,
    }
    assert "1 unmatched" in summary["notes"][0]
    accepted = con.execute(
        "select customer_id, has_events, source_row, attr_plan, attr_region "
        "from customer_attributes order by customer_id"
    ).fetchall()
    assert accepted == [
        ("c1", True, 1, "pro", "eu"),
        ("c2", True, 2, "free", None),
        ("c3", True, 3, "pro", "us"),
        ("c9", False, 4, "free", "eu"),
    ]
    rejected = con.execute(
        "select source_row, customer_id, reason from rejected_customer_attributes "
        "order by source_row"
    ).fetchall()
    assert rejected == [
        (5, "c5", "duplicate customer id: 2 rows (rows 5, 6) give this id"),
        (6, "c5", "duplicate customer id: 2 rows (rows 5, 6) give this id"),
        (7, None, "missing customer id"),
    ]
    assert con.execute(
        "select count(*) from rejected_customer_attributes where not ends_with(source_file, "
        "'customers.csv')"
    ).fetchone() == (0,)
    build_only = con.execute(
        "select count(*) from duckdb_tables() where table_name like '%raw_customer%' "
        "or table_name like 'stg_customer%' or table_name like '_cjm_customers'"
    ).fetchone()
    assert build_only == (0,)


def test_persona_attributes_golden_rows(tmp_path):
    con, _ = _build(tmp_path)
    rows = con.execute(
        "select persona_id, attribute, attribute_value, customers, share_in_persona, "
        "share_overall, lift from persona_attributes order by all"
    ).fetchall()
    # Over c1..c4: plan is pro, free, pro, (none); region eu, (none), us, (none).
    assert rows == [
        (0, "plan", "free", 1, 0.5, 0.25, 2.0),
        (0, "plan", "pro", 1, 0.5, 0.5, 1.0),
        (0, "region", "(none)", 1, 0.5, 0.5, 1.0),
        (0, "region", "eu", 1, 0.5, 0.25, 2.0),
        (1, "plan", "(none)", 1, 0.5, 0.25, 2.0),
        (1, "plan", "pro", 1, 0.5, 0.5, 1.0),
        (1, "region", "(none)", 1, 0.5, 0.5, 1.0),
        (1, "region", "us", 1, 0.5, 0.25, 2.0),
    ]


def test_parquet_file_lands_as_text(tmp_path):
    path = tmp_path / "customers.parquet"
    duckdb.execute(
        f"copy (select * from (values (1, 30, 'eu'), (2, 40, 'us')) as t(customer_id, age, "
        f"region)) to '{path}' (format parquet)"
    )
    con = duckdb.connect()
    con.execute("create table journeys as select '1' as customer_id")
    con.execute("create table customer_personas as select '1' as customer_id, 0 as persona_id")
    build_customer_tables(con, path, "customer_id")
    assert con.execute(
        "select customer_id, has_events, attr_age, attr_region from customer_attributes order by 1"
    ).fetchall() == [("1", True, "30", "eu"), ("2", False, "40", "us")]


@pytest.mark.parametrize(
    "text, name, message",
    [
        ("id,plan\n1,pro\n", "customers.csv", "no customer id column 'customer_id'"),
        ("customer_id\n1\n", "customers.csv", "no attribute column"),
        ("customer_id,plan\n1,pro\n", "customers.json", "not a .csv or .parquet file"),
    ],
)
def test_bad_customer_files_are_refused_naming_the_file(tmp_path, text, name, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as raised:
        check_customer_file(path, "customer_id")
    assert name in str(raised.value)


def test_a_missing_customers_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        check_customer_file(tmp_path / "nope.csv", "customer_id")

"""Customer attributes (plan, region, age band ...) from a file of one row per customer id.

The file is landed as text (`raw_customer_attributes`: the id column named `customer_id`, every
other column `attr_<name>`), then the SQL models reconcile it against the customers that have
events: rows read = accepted + rejected; accepted rows are matched (the id has events) or
unmatched (kept and counted, never dropped); every row of an id given more than once is rejected
with its reason, since cjm cannot tell which one is right.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cjm.build.models import run_model
from cjm.build.parameters import CLEAN_TEXT_MACRO
from cjm.config import ConfigError
from cjm.db import quote_ident

ATTRIBUTE_PREFIX = "attr_"
FORMATS = {".csv": "csv", ".parquet": "parquet"}
# In build order: staging, then the marts that read it (persona_attributes last: it reads
# customer_attributes and customer_personas).
MODELS = (
    ("staging", "stg_customer_attributes"),
    ("marts", "rejected_customer_attributes"),
    ("marts", "customer_attributes"),
    ("marts", "customer_attribute_loads"),
    ("marts", "persona_attributes"),
)
# The tables a run publishes only when given a customers file.
TABLES = tuple(name for layer, name in MODELS if layer == "marts")


def _reader(path: Path) -> tuple[str, list[object]]:
    """The DuckDB table function (with its parameters) that reads the file as text."""
    kind = FORMATS.get(path.suffix.lower())
    if kind == "csv":
        return "read_csv(?, all_varchar = true, header = true)", [str(path)]
    if kind == "parquet":
        return "read_parquet(?)", [str(path)]
    raise ConfigError(f"customers: {path}: not a .csv or .parquet file")


def customer_file_columns(path: Path) -> list[str]:
    """The columns of a customers file, or ConfigError naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"customers: {path}: no such file")
    reader, params = _reader(path)
    con = duckdb.connect()
    try:
        return [
            row[0] for row in con.execute(f"describe select * from {reader}", params).fetchall()
        ]
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"customers: {path}: cannot be read: {first}") from None
    finally:
        con.close()


def check_customer_file(path: Path, id_column: str) -> list[str]:
    """The attribute columns of a customers file; ConfigError when it lacks the id column or has
    no attribute, or two columns that differ only in case (they would land as one)."""
    columns = customer_file_columns(path)
    if id_column not in columns:
        raise ConfigError(
            f"customers: {path}: no customer id column {id_column!r} (columns.customer_id); "
            f"the file has {columns}"
        )
    attributes = [c for c in columns if c != id_column]
    if not attributes:
        raise ConfigError(f"customers: {path}: no attribute column besides {id_column!r}")
    folded = [c.lower() for c in attributes]
    repeated = sorted({c for c in attributes if folded.count(c.lower()) > 1})
    if repeated:
        raise ConfigError(f"customers: {path}: columns {repeated} differ only in case")
    return attributes


def land_customer_file(con: duckdb.DuckDBPyConnection, path: Path, id_column: str) -> int:
    """Write raw_customer_attributes (source_file, source_row, customer_id, attr_<column> as
    text) from the file; return the rows read."""
    path = Path(path).resolve()
    attributes = check_customer_file(path, id_column)
    reader, params = _reader(path)
    selects = ", ".join(
        [f"cast({quote_ident(id_column)} as varchar) as customer_id"]
        + [
            f"cast({quote_ident(c)} as varchar) as {quote_ident(ATTRIBUTE_PREFIX + c.lower())}"
            for c in attributes
        ]
    )
    try:
        # A fresh table keeps file order in rowid: source_row 1 is the first row after a header.
        con.execute(
            f"create or replace temp table _cjm_customers as select * from {reader}", params
        )
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"customers: {path}: cannot be read: {first}") from None
    con.execute(
        f"""
        create or replace table raw_customer_attributes as
        select
            ? as source_file,
            rowid + 1 as source_row,
            {selects}
        from _cjm_customers
        order by rowid
        """,
        [str(path)],
    )
    con.execute("drop table _cjm_customers")
    return int(con.execute("select count(*) from raw_customer_attributes").fetchone()[0])


def build_customer_tables(con: duckdb.DuckDBPyConnection, path: Path, id_column: str) -> dict:
    """Land the customers file and build its reconciliation and the persona profiles; return the
    load's counts and a note for the run summary."""
    con.execute(CLEAN_TEXT_MACRO)
    land_customer_file(con, path, id_column)
    for layer, name in MODELS:
        run_model(con, layer, name)
    con.execute("drop view if exists stg_customer_attributes")
    con.execute("drop table if exists stg_customer_attributes")
    con.execute("drop table raw_customer_attributes")
    read, matched, unmatched, rejected, reconciled = con.execute(
        "select rows_read, rows_matched, rows_unmatched, rows_rejected, is_reconciled "
        "from customer_attribute_loads"
    ).fetchone()
    if not reconciled:
        raise RuntimeError(
            f"customers: {path}: rows read do not reconcile (customer_attribute_loads)"
        )
    note = (
        f"customer attributes from {Path(path).name}: {read:,} rows read, {matched:,} matched, "
        f"{unmatched:,} unmatched (no events: kept in customer_attributes), {rejected:,} rejected "
        "(see rejected_customer_attributes)"
    )
    counts = {
        "customer_attribute_rows": int(read),
        "customer_attributes_matched": int(matched),
        "customer_attributes_unmatched": int(unmatched),
        "customer_attributes_rejected": int(rejected),
    }
    return {"counts": counts, "notes": [note]}

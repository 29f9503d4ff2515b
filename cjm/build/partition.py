"""Partitioned execution: build the per-customer models in buckets of customers, then combine.

Customers go to bucket `md5(customer_id) mod P` (the stitched customer id, so an anonymous
visitor's events follow the customer they were stitched to). md5 keeps the assignment the same
across DuckDB versions, machines and runs, unlike DuckDB's own hash().

The flow (cjm.flows) runs it in three steps, each a task:
1. `export_buckets`: in the build database, the load models up to int_events_stitched run as in a
   single-process build (de-duplication and identity stitching need every row), then the stitched
   events go to Parquet, one directory per bucket, in one pass.
2. `build_bucket`: per bucket, anywhere the bucket directory can be read (a Dask worker), the
   PER_CUSTOMER models run in a DuckDB file of the bucket's own and their outputs go to Parquet.
3. `combine_buckets`: in the build database, events, sessions and journeys are the union of the
   buckets (customers are disjoint), and transition edges add up exactly
   (sql/intermediate/int_transition_edges_combined.sql).
The result equals a single-process build row for row.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from cjm.build.models import (
    INTERMEDIATE,
    LATE_INTERMEDIATE,
    MARTS,
    PER_CUSTOMER,
    STAGING,
    UNCOMPRESSED,
    create_table,
    model_sql,
    run_model,
)
from cjm.build.parameters import check_out_of_range_files, set_parameters, write_touchpoint_stages
from cjm.config import Config
from cjm.db import connect, quote_ident, sql_literal

# Bucket outputs the build database reads back: model -> name in the build database.
OUTPUTS = {
    "events": "events",
    "sessions": "sessions",
    "journeys": "journeys",
    "int_transition_edges": "bucket_transition_edges",
    "int_transition_seconds": "bucket_transition_seconds",
}
STITCHED = "int_events_stitched"
# Small tables of the whole build that every bucket reads too.
SHARED = ("cfg_touchpoint_stages", "int_source_files")
# Marts over the rows read rather than over customers: built with the load, before the buckets,
# while the load's intermediate tables are at hand.
LOAD_MARTS = ("rejected_events", "file_loads")


def bucket_expression(partitions: int) -> str:
    """SQL for the bucket (0 .. partitions-1) of the row's customer_id."""
    return f"cast(md5_number_lower(customer_id) % {int(partitions)} as integer)"


def per_customer_plan() -> list[tuple[str, str]]:
    """(layer, model) of the PER_CUSTOMER models in build order."""
    return [("intermediate" if n.startswith("int_") else "marts", n) for n in PER_CUSTOMER]


def combined_plan() -> list[tuple[str, str]]:
    """(layer, model) the build database runs once the buckets are combined: transitions, and
    int_transition_steps, a view over the combined events that later stages (segments) read."""
    steps = [("intermediate", n) for n in LATE_INTERMEDIATE if n == "int_transition_steps"]
    return steps + [("marts", m) for m in MARTS if m not in PER_CUSTOMER + LOAD_MARTS]


def partition_dir_for(build_path: Path, base: Path | None = None) -> Path:
    """Where a build's bucket files live: beside the build, or under `base` (shared storage)."""
    name = f"{build_path.name}.parts"
    return (base / name) if base is not None else build_path.with_name(name)


def export_buckets(
    con: duckdb.DuckDBPyConnection, config: Config, part_dir: Path, partitions: int
) -> list[int]:
    """Run the load models and LOAD_MARTS, write stitched events per bucket; return the
    non-empty buckets."""
    set_parameters(con, config)
    for name in STAGING:
        run_model(con, "staging", name)
    for name in INTERMEDIATE:
        if name not in PER_CUSTOMER:
            run_model(con, "intermediate", name)
    write_touchpoint_stages(con, config)
    for name in LOAD_MARTS:
        run_model(con, "marts", name)
    check_out_of_range_files(con, config)
    shutil.rmtree(part_dir, ignore_errors=True)
    (part_dir / "input").mkdir(parents=True)
    con.execute(
        f"copy (select *, {bucket_expression(partitions)} as bucket from {STITCHED}) "
        f"to {sql_literal(str(part_dir / 'input'))} "
        "(format parquet, partition_by (bucket), write_partition_columns false)"
    )
    for table in SHARED:
        out = sql_literal(str(part_dir / f"{table}.parquet"))
        con.execute(f"copy {table} to {out} (format parquet)")
    buckets = sorted(
        int(p.name.split("=", 1)[1]) for p in (part_dir / "input").glob("bucket=*") if p.is_dir()
    )
    if not buckets:  # nothing accepted: the per-customer models build their empty tables here
        for layer, name in per_customer_plan():
            run_model(con, layer, name)
    return buckets


def build_bucket(part_dir: Path, bucket: int, config: Config) -> dict[str, int]:
    """Build the per-customer models of one bucket; write their outputs; return row counts."""
    work = part_dir / f"bucket_{bucket}.duckdb"
    work.unlink(missing_ok=True)
    con = connect(
        work,
        threads=config.duckdb_threads,
        memory_limit=config.duckdb_memory_limit,
    )
    try:
        set_parameters(con, config)
        source = sql_literal(str(part_dir / "input" / f"bucket={bucket}" / "*.parquet"))
        con.execute(f"create table {STITCHED} as select * from read_parquet({source})")
        for table in SHARED:
            shared = sql_literal(str(part_dir / f"{table}.parquet"))
            con.execute(f"create table {table} as select * from read_parquet({shared})")
        for layer, name in per_customer_plan():
            run_model(con, layer, name)
        run_model(con, "intermediate", "int_transition_seconds")
        counts = {}
        for model in OUTPUTS:
            target = part_dir / "output" / model
            target.mkdir(parents=True, exist_ok=True)
            out = sql_literal(str(target / f"bucket_{bucket}.parquet"))
            con.execute(f"copy {quote_ident(model)} to {out} (format parquet)")
            counts[model] = con.execute(f"select count(*) from {quote_ident(model)}").fetchone()[0]
        return counts
    finally:
        con.close()
        work.unlink(missing_ok=True)
        work.with_name(work.name + ".wal").unlink(missing_ok=True)


def combine_buckets(con: duckdb.DuckDBPyConnection, config: Config, part_dir: Path) -> None:
    """Read the buckets' outputs into the build database; int_transition_edges adds them up.

    The bucket views and int_transition_edges read the bucket files: build `transitions` from them,
    then call `drop_bucket_views` before the files go.
    """
    set_parameters(con, config)
    for model, name in OUTPUTS.items():
        files = sql_literal(str(part_dir / "output" / model / "*.parquet"))
        rows = f"select * from read_parquet({files})"
        if name.startswith("bucket_"):
            con.execute(f"create or replace view {quote_ident(name)} as {rows}")
        else:  # stored as a single-process build stores it
            create_table(con, name, rows, UNCOMPRESSED.get(name, ()))
    body = model_sql("intermediate", "int_transition_edges_combined")
    con.execute(f"create or replace view int_transition_edges as\n{body}")


def drop_bucket_views(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the views over the bucket files."""
    con.execute("drop view if exists int_transition_edges")
    for name in OUTPUTS.values():
        if name.startswith("bucket_"):
            con.execute(f"drop view if exists {quote_ident(name)}")


def remove_buckets(part_dir: Path) -> None:
    """Delete a build's bucket files."""
    shutil.rmtree(part_dir, ignore_errors=True)

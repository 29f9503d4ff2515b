"""Incremental builds: seed the build from the published file and merge only what new files change.

A seeded build keeps the published events, rejected_events, file_loads and loaded_files (renamed
to prior_* where the models rebuild them) and drops every other table, so tables that carry history
across runs rebuild from the published file at db_path as in a full build. New rows go through the
same staging and intermediate models as a full build; the merge hooks below then
- de-duplicate them against the published events (first row in (source_file, source_row) order wins,
  as in a full build; a published event can become a duplicate of an earlier copy in a new file),
- rebuild the identity map from every published link plus the new ones,
- re-stitch and re-sessionise only the touched customers (int_touched_customers) with all of their
  events, and keep every other customer's published events as they are.
Marts that aggregate events (sessions, journeys, transitions, ...) then recompute from the merged
events table, so the result equals a full build over all loaded files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from cjm.build.manifest import MANIFEST_TABLE, IncrementalLoadError
from cjm.build.models import run_model
from cjm.build.publish import discard
from cjm.db import connect, copy_database, quote_ident, table_exists

# Published tables an incremental build starts from -> the name the merge reads them under.
CARRIED = {
    "events": "prior_events",
    "rejected_events": "prior_rejected_events",
    "file_loads": "prior_file_loads",
    MANIFEST_TABLE: MANIFEST_TABLE,
}
_DISPLACED = "select event_id from int_dedup_conflicts where is_new_first"
_TOUCHED = "select customer_id from int_touched_customers"


def seed_build(db_path: Path, build_path: Path, storage_version: str) -> None:
    """Copy the published file to the build path, in `storage_version`'s format, and keep only
    what the merge needs."""
    # A retried load must not replay the write-ahead log of its failed attempt onto the copy.
    discard(build_path)
    copy_database(db_path, build_path, storage_version)
    with connect(build_path) as con:
        keep_carried_tables(con)


def keep_carried_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop every view and table but the CARRIED ones, and rename those to their prior_* names."""
    relations = con.execute(
        "select table_name, table_type from information_schema.tables "
        "where table_schema = 'main' order by table_type desc"
    ).fetchall()
    for name, kind in relations:
        if name not in CARRIED or kind == "VIEW":
            con.execute(f"drop {'view' if kind == 'VIEW' else 'table'} {quote_ident(name)}")
    missing = [name for name in CARRIED if not table_exists(con, name)]
    if missing:
        raise RuntimeError(f"published database lacks {missing}; rerun with --full-refresh")
    for name, prior in CARRIED.items():
        if prior != name:
            con.execute(f"alter table {quote_ident(name)} rename to {quote_ident(prior)}")


def is_seeded(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this build database was seeded from a published one."""
    return table_exists(con, "prior_events")


def merge_hooks() -> dict[str, Callable[[duckdb.DuckDBPyConnection], None]]:
    """Steps to run right after the named models when the build was seeded."""
    return {
        "int_events_deduplicated": merge_new_rows,
        "events": merge_events,
        "rejected_events": merge_rejected_events,
        "file_loads": merge_file_loads,
    }


def merge_new_rows(con: duckdb.DuckDBPyConnection) -> None:
    """Turn this run's de-duplicated rows into the input of stitching for touched customers."""
    con.execute(
        "create temp table int_new_events_deduplicated as select * from int_events_deduplicated"
    )
    con.execute("drop view int_events_deduplicated")
    run_model(con, "intermediate", "int_dedup_conflicts")
    # A view (declared so), dropped below: the published events are read twice, never copied.
    run_model(con, "intermediate", "int_prior_events")
    con.execute(
        """
        create table int_events_deduplicated as
        select
            new_rows.* exclude (is_duplicate),
            new_rows.is_duplicate or coalesce(not conflicts.is_new_first, false) as is_duplicate,
            false as is_prior
        from int_new_events_deduplicated as new_rows
        left join int_dedup_conflicts as conflicts on new_rows.event_id = conflicts.event_id
        """
    )
    # Every published identity link, so the map is complete before touched customers are known.
    con.execute(
        "insert into int_events_deduplicated by name "
        "select * exclude (published_customer_id) from int_prior_events "
        "where anonymous_id is not null and customer_id is not null "
        f"and event_id not in ({_DISPLACED})"
    )
    run_model(con, "intermediate", "int_identity_map")
    run_model(con, "intermediate", "int_touched_customers")
    con.execute(
        "insert into int_events_deduplicated by name "
        "select * exclude (published_customer_id) from int_prior_events "
        f"where published_customer_id in ({_TOUCHED}) "
        "and not (anonymous_id is not null and customer_id is not null) "
        f"and event_id not in ({_DISPLACED})"
    )
    con.execute("drop view int_prior_events")


def merge_events(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the re-sessionised touched customers and every other customer's published events."""
    built, published = _columns(con, "events"), _columns(con, "prior_events")
    if built != published:
        raise IncrementalLoadError(
            f"the published events table has columns {published}, this version of cjm builds "
            f"{built}; rerun with --full-refresh"
        )
    # Identity links of untouched customers were sessionised only partly: drop them.
    con.execute(f"delete from events where customer_id not in ({_TOUCHED})")
    # Edit the published table in place rather than copy every untouched event into a new one.
    con.execute(f"delete from prior_events where customer_id in ({_TOUCHED})")
    con.execute("insert into prior_events by name select * from events")
    con.execute("drop table events")
    con.execute("alter table prior_events rename to events")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_name = ? "
            "order by ordinal_position",
            [table],
        ).fetchall()
    ]


def merge_rejected_events(con: duckdb.DuckDBPyConnection) -> None:
    """Rejected rows of earlier files stay as they were: rejection depends on the row alone."""
    con.execute("insert into rejected_events by name select * from prior_rejected_events")


def merge_file_loads(con: duckdb.DuckDBPyConnection) -> None:
    """Earlier files keep their counts, except accepted rows now duplicates of an earlier copy.

    Skipped paths are those of this run: an earlier run's list is not carried.
    """
    if "status" not in _columns(con, "prior_file_loads"):
        # published before files were listed as skipped: every row is a loaded file
        con.execute("alter table prior_file_loads add column status varchar default 'loaded'")
        con.execute("alter table prior_file_loads add column reason varchar")
    con.execute(
        """
        insert into file_loads by name
        with displaced as (
            select prior_source_file as source_file, count(*) as row_count
            from int_dedup_conflicts
            where is_new_first
            group by prior_source_file
        )
        select prior_file_loads.* replace (
            prior_file_loads.rows_accepted - coalesce(displaced.row_count, 0) as rows_accepted,
            prior_file_loads.rows_duplicate + coalesce(displaced.row_count, 0) as rows_duplicate
        )
        from prior_file_loads
        left join displaced on prior_file_loads.source_file = displaced.source_file
        where prior_file_loads.status = 'loaded'
        """
    )

"""The checks a build must pass before it is published: every file's rows reconcile, every key
holds. A failed check stops the run and leaves the published file as it was."""

from __future__ import annotations

import duckdb

from cjm.build import catalog


class ReconciliationError(RuntimeError):
    """Rows read do not add up to accepted + duplicate + rejected: never publish that."""


class KeyViolationError(RuntimeError):
    """A table to publish has duplicated or NULL values of its declared key: never publish that."""


def check_reconciled(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ReconciliationError unless every file's rows read are accepted, duplicate or
    rejected (file_loads.is_reconciled)."""
    broken = con.execute(
        "select source_file, rows_read, rows_accepted, rows_duplicate, rows_rejected "
        "from file_loads where not is_reconciled order by source_file"
    ).fetchall()
    if not broken:
        return
    files = "; ".join(
        f"{file}: {read:,} rows read, but {accepted:,} accepted + {duplicate:,} duplicate + "
        f"{rejected:,} rejected"
        for file, read, accepted, duplicate, rejected in broken
    )
    # Parquet files are read in place twice (counted while loading, read again by the models),
    # so a file rewritten in between is the one cause outside cjm.
    raise ReconciliationError(
        f"row counts do not reconcile, so nothing was published: {files}. An input file changed "
        "while the run read it: keep the event files unchanged during a run, then run again. "
        "If they did not change, this is a bug in cjm: please report it with this message."
    )


def check_keys(con: duckdb.DuckDBPyConnection, schema: dict[str, catalog.Model]) -> None:
    """The key tests of every table to publish (sql/schema.yml, the same keys as the SQL headers):
    one grouped count per table."""
    broken = catalog.key_violations(con, schema)
    if broken:
        found = ", ".join(
            f"{table} ({n:,} rows; key {', '.join(schema[table].key)})"
            for table, n in broken.items()
        )
        raise KeyViolationError(
            f"tables whose key is duplicated or NULL, so nothing was published: {found}. "
            "This is a bug in cjm, not in your events: please report it with this message."
        )

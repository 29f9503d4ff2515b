"""The checks a build must pass before it is published: every file's rows reconcile, every key
holds. A failed check stops the run and leaves the published file as it was."""

from __future__ import annotations

import duckdb

from cjm import catalog


class ReconciliationError(RuntimeError):
    """Rows read do not add up to accepted + duplicate + rejected: never publish that."""


class KeyViolationError(RuntimeError):
    """A table to publish has duplicated or NULL values of its declared key: never publish that."""


def check_reconciled(con: duckdb.DuckDBPyConnection) -> None:
    """Raise ReconciliationError unless every file's rows read are accepted, duplicate or
    rejected (file_loads.is_reconciled)."""
    broken = con.execute(
        "select source_file, rows_read, rows_accepted, rows_duplicate, rows_rejected "
        "from file_loads where not is_reconciled"
    ).fetchall()
    if broken:
        raise ReconciliationError(f"row counts do not reconcile for {broken}")


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
            f"tables whose key is duplicated or NULL, so nothing was published: {found}"
        )

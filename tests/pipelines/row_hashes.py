"""Fingerprint every published table's rows, to check that a change leaves the outputs as they were.

    python -m tests.pipelines.row_hashes DB [--out FILE.json]      # fingerprint a published file
    python -m tests.pipelines.row_hashes --compare A.json B.json   # the tables whose rows differ

A table's fingerprint is its row count and a hash of the sorted hashes of its rows (row order is not
part of a table's content), with doubles rounded to 9 decimals so the order of a floating-point sum
cannot matter. Columns that name the run or the wall clock (RUN_COLUMNS) are left out, so two runs
of the same code on the same files give the same fingerprints in every table, run tables included.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb

DECIMALS = 9
# Columns whose values differ between two runs of the same code on the same input by design.
RUN_COLUMNS = {
    "pipeline_runs": {
        "run_id",
        "started_at",
        "finished_at",
        "stage_seconds",
        "db_path",
        "code_version",
    },
    "loaded_files": {"run_id", "loaded_at"},
    "persona_centroids": {"run_id"},
    "persona_history": {"run_id"},
    "persona_migrations": {"previous_run_id", "run_id"},
    "transition_history": {"run_id", "recorded_at"},
    "transition_changes": {"previous_run_id", "current_run_id"},
}


def _expression(column: str, column_type: str) -> str:
    quoted = '"' + column.replace('"', '""') + '"'
    if column_type in ("DOUBLE", "FLOAT"):
        return f"round({quoted}, {DECIMALS})"
    if column_type in ("DOUBLE[]", "FLOAT[]"):
        return f"list_transform({quoted}, x -> round(x, {DECIMALS}))"
    return quoted


def fingerprints(db: Path) -> dict[str, dict]:
    """Every table of `db`: row count, hash of its sorted row hashes, columns left out."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        result = {}
        for (table,) in con.execute("show tables").fetchall():
            left_out = RUN_COLUMNS.get(table, set())
            columns = [
                (name, kind)
                for name, kind, *_ in con.execute(f'describe "{table}"').fetchall()
                if name not in left_out
            ]
            row = ", ".join(_expression(name, kind) for name, kind in columns)
            rows, digest = con.execute(
                f"select count(*), hash(list(h order by h)) from (select hash(({row}, 0)) as h "
                f'from "{table}")'
            ).fetchone()
            result[table] = {"rows": rows, "hash": str(digest), "left_out": sorted(left_out)}
        return result
    finally:
        con.close()


def differences(first: dict[str, dict], second: dict[str, dict]) -> list[str]:
    """What differs between two fingerprints: tables only in one, and tables whose rows differ."""
    found = [f"only in the first: {t}" for t in sorted(set(first) - set(second))]
    found += [f"only in the second: {t}" for t in sorted(set(second) - set(first))]
    for table in sorted(set(first) & set(second)):
        if first[table] != second[table]:
            found.append(f"{table}: {first[table]} != {second[table]}")
    return found


def main(argv: list[str] | None = None) -> int:
    """Fingerprint a published file, or compare two fingerprints (exit 1 when they differ)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", nargs="?", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = parser.parse_args(argv)
    if args.compare:
        a, b = (json.loads(p.read_text()) for p in args.compare)
        found = differences(a, b)
        print("\n".join(found) or f"identical: {len(a)} tables")
        return 1 if found else 0
    if args.db is None:
        parser.error("give a database, or --compare A B")
    text = json.dumps(fingerprints(args.db), indent=1, sort_keys=True)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A second process that keeps querying the published file read-only (used by the flow tests)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb


def main(db: str, stop_file: str, out: str) -> None:
    """Open, query and close the file in a loop until stop_file appears; report what happened."""
    errors: list[str] = []
    run_ids: list[str] = []
    queries = 0
    deadline = time.monotonic() + 300
    while not Path(stop_file).exists() and time.monotonic() < deadline:
        try:
            con = duckdb.connect(db, read_only=True)
            try:
                run_id = con.execute(
                    "select run_id from pipeline_runs order by started_at desc limit 1"
                ).fetchone()[0]
                con.execute("select count(*), count(distinct session_id) from events").fetchone()
                con.execute("select sum(transition_count) from transitions").fetchone()
                queries += 1
                if not run_ids or run_ids[-1] != run_id:
                    run_ids.append(run_id)
            finally:
                con.close()
        except Exception as exc:  # every failure is what the test is looking for
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.02)
    Path(out).write_text(json.dumps({"errors": errors, "run_ids": run_ids, "queries": queries}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

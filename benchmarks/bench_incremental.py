"""What an incremental run costs next to a full rebuild, on synthetic events.

Usage: python benchmarks/bench_incremental.py --events 1000000 [--new-share 0.01] [--threads 2]

The generated events are split by time: the last `new-share` of them (by event_time) is the new
file, the rest the already published base. Timed, in one process, with wall seconds per stage:
1. a full build of the base (load + SQL models), published;
2. an incremental run adding the new file: plan (hash the new file), seed the build from the
   published file, load the new file, SQL models with the merge, publish;
3. a full rebuild over base + new, what a run without the manifest would do.
Personas, insights and churn recompute from the whole events table in both modes, so they are not
timed here.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cjm import steps  # noqa: E402
from cjm.build.models import drop_build_tables  # noqa: E402
from cjm.build.publish import build_path_for, publish  # noqa: E402
from cjm.config import parse_config  # noqa: E402
from cjm.db import connect  # noqa: E402


def _timed(laps: dict, name: str, fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    laps[name] = round(time.perf_counter() - started, 2)
    return result


def _split(source: Path, out: Path, new_share: float) -> tuple[Path, Path]:
    """Write base.parquet and new.parquet: the new file holds the latest events."""
    out.mkdir(parents=True, exist_ok=True)
    base, new = out / "base.parquet", out / "new.parquet"
    con = connect()
    try:
        cutoff = con.execute(
            "select quantile_disc(event_time, ?) from read_parquet(?)", [1 - new_share, str(source)]
        ).fetchone()[0]
        for path, op in ((base, "<"), (new, ">=")):
            con.execute(
                f"copy (select * from read_parquet(?) where event_time {op} ?) to '{path}' "
                "(format parquet)",
                [str(source), cutoff],
            )
    finally:
        con.close()
    return base, new


def _run(db: Path, files: list[Path], config, full_refresh: bool) -> dict:
    laps: dict[str, float] = {}
    run_id = f"bench-{time.time_ns()}"
    build = build_path_for(db, run_id)
    plan = _timed(laps, "plan", steps.plan_load, db, files, config, full_refresh, run_id)
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    steps.load_events(build, files, config, lambda m: marks.append((m, time.perf_counter())), plan)
    laps["load_events"] = round(time.perf_counter() - started, 2)
    if plan.mode == "incremental":
        laps["of which seed_copy"] = round(marks[1][1] - marks[0][1], 2)
    models = _timed(laps, "build_journeys", steps.build_journeys, build, config)
    con = connect(build)
    try:
        touched = (
            con.execute("select count(*) from int_touched_customers").fetchone()[0]
            if plan.mode == "incremental"
            else None
        )
        customers = con.execute("select count(*) from journeys").fetchone()[0]
        drop_build_tables(con)
    finally:
        con.close()
    _timed(laps, "publish", publish, build, db)
    laps["total"] = round(sum(v for k, v in laps.items() if not k.startswith("of which")), 2)
    return {
        "mode": plan.mode,
        "files": len(plan.files),
        "seconds": laps,
        "model_seconds": models,
        "customers": customers,
        "touched_customers": touched,
        "db_mb": round(db.stat().st_size / 2**20, 1),
    }


def main() -> None:
    """Generate, split, and time full and incremental runs; print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=HERE / "data" / "incremental")
    args = parser.parse_args()
    source = HERE / "data" / f"events_{args.events}_v1.parquet"  # shared with bench_pipeline
    if not source.exists():
        subprocess.run(
            [sys.executable, str(HERE / "generate_events.py"), str(args.events), str(source)],
            check=True,
        )
    shutil.rmtree(args.work / "out", ignore_errors=True)
    base, new = _split(source, args.work / "input", args.new_share)
    config = parse_config({"duckdb_threads": args.threads})
    db, full_db = args.work / "out" / "cjm.duckdb", args.work / "out" / "full.duckdb"
    db.parent.mkdir(parents=True)
    report = {
        "events": args.events,
        "new_share": args.new_share,
        "base": _run(db, [base], config, full_refresh=True),
        "incremental": _run(db, [base, new], config, full_refresh=False),
        "full_rebuild": _run(full_db, [base, new], config, full_refresh=True),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

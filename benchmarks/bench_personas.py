"""Benchmark customer features and persona clustering for many customers on synthetic events.

Usage: python benchmarks/bench_personas.py --customers 1000000 [--threads 2] [--keep-data]

Each size runs in a fresh subprocess against a fresh DuckDB file on disk. The events table (the
columns the features read, about 6.5 events per customer in five behavioural types) is written
by DuckDB SQL first and is not part of the timed total. Timed stages: customer_features (DuckDB),
writing the customer_features table, fit_personas (automatic k over k_min..k_max on the bounded
fit sample, then every customer assigned and every persona described), and, outside the total, a
second fit matched to the first run's centroids (what the next scheduled run adds). Per stage:
wall seconds, CPU seconds of the process, peak RSS sampled every 20 ms, and CPU seconds other
processes used meanwhile (contention).

With --recovery it measures quality instead: logs with planted behavioural groups of several
shapes and seeds (benchmarks/persona_recovery.py), and per log automatic k against planted and the
adjusted Rand index of cjm's personas beside plain k-means on touchpoint and channel shares and
the ceiling (the Bayes classifier that knows the planted parameters).
Usage: python benchmarks/bench_personas.py --recovery [--seeds 101 102 103] [--customers 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_pipeline import measure, remove_db, report, rss_mb, start_sampler  # noqa: E402

DATA_DIR = HERE / "data"
RESULTS_DIR = HERE / "results"
TARGET_SECONDS = 60.0
TIMED = ("customer_features", "write customer_features", "fit_personas")

# Five behavioural types, each with its own favourite touchpoints and channel; every event is the
# type's favourite with probability 0.6, else any of the 15 touchpoints.
EVENTS_SQL = """
create table events as
with customers as (
    select range as c, (1 + hash(range, 'n') % 12)::bigint as n,
           (hash(range, 'type') % 5)::bigint as type,
           (hash(range, 'start') % 180)::bigint as start_day,
           (1 + hash(range, 'gap') % 14)::bigint as gap_days
    from range($customers)
),
numbered as (
    select *, unnest(range(n)) as i from customers
),
drawn as (
    select *,
        (hash(c, i, 'tp') % 100)::bigint as u,
        (hash(c, i, 'fav') % 3)::bigint as fav,
        (hash(c, i, 'any') % 15)::bigint as anyone,
        (hash(c, i, 'ch') % 100)::bigint as v,
        (hash(c, i, 'c') % 5)::bigint as other_channel,
        ['product_view', 'search', 'add_to_cart', 'checkout', 'purchase', 'app_open',
         'reorder', 'email_open', 'coupon_view', 'support_chat', 'ticket', 'review_read',
         'compare', 'loyalty_reward', 'referral'] as tps
    from numbered
)
select
    'e' || c || '_' || i as event_id,
    'cust_' || lpad(c::varchar, 8, '0') as customer_id,
    timestamptz '2026-01-01 08:00:00+00'
        + to_days((start_day + (i // 4) * gap_days)::integer)
        + to_seconds(((hash(c, 'hour') % 12)::bigint * 3600 + (i % 4) * 90)) as event_time,
    case when u < 60 then tps[1 + type * 3 + fav] else tps[1 + anyone] end as touchpoint,
    ['web', 'mobile_app', 'email', 'call_center', 'store'][1 + if(v < 70, type, other_channel)]
        as channel,
    'cust_' || lpad(c::varchar, 8, '0') || '_' || (i // 4) as session_id,
    i + 1 as event_index
from drawn
"""
STAGED_SQL = """
create or replace table events as
select *,
    case when touchpoint in ('purchase', 'checkout') then 'purchase'
         when touchpoint in ('support_chat', 'ticket', 'reorder', 'loyalty_reward') then 'retention'
         when touchpoint = 'referral' then 'advocacy'
         when touchpoint = 'email_open' then 'awareness'
         else 'consideration' end as stage,
    case when touchpoint = 'purchase' then 10 + hash(event_id) % 90 end::double as revenue,
    case when touchpoint in ('support_chat', 'ticket') then -0.5 end::double as sentiment,
    touchpoint = 'purchase' as is_conversion
from events
"""


def worker(args: argparse.Namespace) -> None:
    """Subprocess body: build the events, then time features and clustering; JSON to args.out."""
    import duckdb
    from threadpoolctl import threadpool_limits

    from cjm.config_sections import PersonaSettings
    from cjm.db import connect, write_table
    from cjm.personas.features import customer_features
    from cjm.personas.fitting import fit_personas
    from cjm.personas.identity import PreviousPersonas

    sampler = start_sampler()
    stages: list[dict] = []
    baseline = rss_mb()
    settings = PersonaSettings()
    con = connect(args.db, threads=args.threads)

    def make_events() -> int:
        con.execute(EVENTS_SQL, {"customers": args.customers})
        con.execute(STAGED_SQL)
        return con.execute("select count(*) from events").fetchone()[0]

    events = measure(stages, sampler, "synthetic events (setup)", "setup", make_events)
    features = measure(
        stages, sampler, "customer_features", "personas", lambda: customer_features(con)
    )
    measure(
        stages,
        sampler,
        "write customer_features",
        "personas",
        lambda: write_table(con, "customer_features", features),
    )
    # OpenMP/BLAS pools sized to the DuckDB threads: the bench's 2 cores.
    with threadpool_limits(args.threads):
        result = measure(
            stages, sampler, "fit_personas", "personas", lambda: fit_personas(features, settings, 0)
        )
        previous = PreviousPersonas(
            "bench-1",
            result.centroids[["persona_id", "feature", "value"]],
            result.customer_personas[["customer_id", "persona_id"]],
            int(result.personas["persona_id"].max()),
        )
        again = measure(
            stages,
            sampler,
            "fit_personas matched to previous run",
            "next run",
            lambda: fit_personas(features, settings, 1, previous=previous),
        )
    con.close()
    sampler["stop"].set()
    same = (
        result.customer_personas["persona_id"].to_numpy()
        == again.customer_personas["persona_id"].to_numpy()
    ).mean()
    out = {
        "duckdb": duckdb.__version__,
        "baseline_rss_mb": round(baseline, 1),
        "events": int(events),
        "customers": len(features),
        "feature_columns": len(result.feature_columns),
        "k": result.k,
        "k_note": result.k_note,
        "fit_sample_size": settings.fit_sample_size,
        "next_run_k_note": again.k_note,
        "next_run_same_persona_share": round(float(same), 4),
        "stages": stages,
    }
    args.out.write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")


def run_size(n: int, args: argparse.Namespace) -> dict:
    """Run the worker subprocess for n customers and return its result."""
    args.data_dir.mkdir(parents=True, exist_ok=True)
    db = args.data_dir / f"bench_personas_{n}.duckdb"
    out = args.data_dir / f"bench_personas_{n}.json"
    remove_db(db)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--customers", str(n)]
    cmd += ["--db", str(db), "--threads", str(args.threads), "--out", str(out)]
    subprocess.run(cmd, check=True)
    result = json.loads(out.read_text(encoding="utf-8"))
    if not args.keep_data:
        remove_db(db)
        out.unlink(missing_ok=True)
    return result


def markdown(result: dict) -> str:
    """One size as a Markdown table plus the totals against the target."""
    lines = [
        f"### {result['customers']:,} customers, {result['events']:,} events, "
        f"{result['feature_columns']} clustering features, k={result['k']}",
        "",
        "| stage | wall s | CPU s | peak RSS MB | other CPU s |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in result["stages"]:
        lines.append(
            f"| {s['stage']} | {s['wall_s']:.2f} | {s['cpu_s']:.2f} | "
            f"{s['peak_rss_mb']:.0f} | {s['other_cpu_s']:.1f} |"
        )
    timed = [s for s in result["stages"] if s["stage"] in TIMED]
    wall = sum(s["wall_s"] for s in timed)
    cpu = sum(s["cpu_s"] for s in timed)
    peak = max(s["peak_rss_mb"] for s in timed)
    lines += [
        f"| **features + clustering** | **{wall:.2f}** | **{cpu:.2f}** | **{peak:.0f}** | |",
        "",
        f"Target {TARGET_SECONDS:.0f} s: {'met' if wall < TARGET_SECONDS else 'MISSED'} "
        f"({wall:.1f} s). {result['k_note']}.",
        f"Next run (another random_state, matched to these centroids): "
        f"{result['next_run_same_persona_share']:.1%} of customers keep their persona id.",
        "",
    ]
    return "\n".join(lines)


def recover(args: argparse.Namespace) -> None:
    """Every shape x seed of persona_recovery: print the table, save JSON in the results dir."""
    from persona_recovery import SHAPES, recovery_row, recovery_table

    customers = args.customers[0] if args.customers != [1_000_000] else 2_000
    started = datetime.now(UTC)
    rows = []
    for shape in SHAPES:
        for seed in args.seeds:
            rows.append(recovery_row(shape, customers, seed))
            print(json.dumps(rows[-1]), flush=True)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"bench_persona_recovery_{started:%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"started_at": started.isoformat(), "rows": rows}, indent=2))
    print(f"\n## Persona recovery on planted groups, {started:%Y-%m-%d}\n")
    print(recovery_table(rows))
    print(f"JSON: {out}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (the --worker ones are internal)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-data", action="store_true", help="keep the DuckDB file")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument(
        "--recovery", action="store_true", help="persona recovery on planted groups instead"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    """Run every requested size, print Markdown, write JSON to the results directory."""
    args = parse_args()
    if args.recovery:
        recover(args)
        return
    if args.worker:
        args.customers = args.customers[0]
        worker(args)
        return
    started = datetime.now(UTC)
    results = [run_size(n, args) for n in args.customers]
    report(
        args, started, results, "bench_personas", "cjm features and personas benchmark", markdown
    )


if __name__ == "__main__":
    main()

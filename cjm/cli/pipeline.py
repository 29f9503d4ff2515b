"""`cjm run` (the whole pipeline as a Prefect flow) and `cjm sample` (a synthetic log)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from cjm.cli.output import say
from cjm.cli.version import REPO_ROOT, code_version

SAMPLE_DIR = REPO_ROOT / "data" / "sample"

# Offline, quiet defaults for the temporary Prefect API a run starts when no server is configured.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
}


def use_prefect_defaults() -> None:
    """Set PREFECT_DEFAULTS in the environment where the user has not set them."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the whole pipeline as a Prefect flow and print what it did."""
    from cjm.build.preflight import check_run_inputs
    from cjm.config import ConfigError, load_config, with_execution

    events = args.events
    config_path = args.config
    if events is None:
        if not (SAMPLE_DIR / "events").is_dir():
            raise ConfigError(
                "no --events given, and this installation has no bundled sample (it comes with a "
                "checkout of the repository): give --events, or write one with `cjm sample --out "
                "DIR` and run `cjm run --events DIR/events --config DIR/cjm.yaml`"
            )
        events = str(SAMPLE_DIR / "events")
        if config_path is None and (SAMPLE_DIR / "cjm.yaml").exists():
            config_path = SAMPLE_DIR / "cjm.yaml"
    config = with_execution(
        load_config(Path(config_path) if config_path else None),
        partitions=args.partitions,
        task_runner=args.task_runner or ("dask" if args.dask_address else None),
        dask_address=args.dask_address,
        # Absolute: the file is named in the run's config, which pipeline_runs keeps.
        customers=Path(args.customers).absolute() if args.customers else None,
    )
    # Before Prefect starts: bad input fails in about a second and leaves no file behind.
    check_run_inputs(str(events), config, Path(args.db))
    if args.events is None:
        say(f"No --events given: running on the bundled sample in {SAMPLE_DIR}")
    use_prefect_defaults()
    from cjm.flows import journey_flow

    if config.is_partitioned:
        where = config.dask_address or "a local Dask cluster"
        runner = f"Dask ({where})" if config.task_runner == "dask" else "this process"
        say(f"Partitioned run: {config.partitions} buckets of customers on {runner}")
    started = time.perf_counter()
    summary = journey_flow(
        events=str(events),
        db=str(args.db),
        config=config,
        full_refresh=args.full_refresh,
        code_version=code_version(),
        strict=args.strict,
    )
    _print_summary(summary, time.perf_counter() - started)
    return 0


def _print_summary(summary: dict, seconds: float) -> None:
    counts = summary["counts"]
    say("")
    say(f"cjm run {summary['run_id']} finished in {seconds:.1f} s ({summary['load_mode']} load)")
    say(f"  {'file':<48} {'read':>9} {'accepted':>9} {'duplicate':>9} {'rejected':>9}")
    for f in summary["files"]:
        name = Path(f["source_file"]).name
        say(
            f"  {name:<48} {f['rows_read']:>9,} {f['rows_accepted']:>9,} "
            f"{f['rows_duplicate']:>9,} {f['rows_rejected']:>9,}"
        )
    say(
        f"  {'total':<48} {summary['rows_read']:>9,} {summary['rows_accepted']:>9,} "
        f"{summary['rows_duplicate']:>9,} {summary['rows_rejected']:>9,}"
    )
    say(
        f"  customers {counts.get('customers', 0):,}, sessions {counts.get('sessions', 0):,}, "
        f"personas {counts.get('personas', 0):,}, customers scored "
        f"{counts.get('customers_scored', 0):,}, flagged high risk {counts.get('flagged', 0):,}"
    )
    warnings = summary.get("warnings", [])
    for note in summary.get("notes", []):
        if not any(note.endswith(w) for w in warnings):
            say(f"  note: {note}")
    if warnings:
        say("")
        say(f"WARNING: churn or personas collapsed against the previous run ({len(warnings)}):")
        for warning in warnings:
            say(f"  - {warning}")
        say("  Published all the same; check the new input (cjm run --strict refuses such runs).")
        say("")
    say(f"Published: {summary['db_path']}")
    if summary.get("report_path"):
        say(f"Journey map: {summary['report_path']}")
    if summary["rows_rejected"]:
        say(f"Rejected rows and their reasons: table rejected_events in {summary['db_path']}")
    command = sys.argv[0] if sys.argv and sys.argv[0].endswith("cjm") else "cjm"
    say(f'Try: {command} query "select * from journeys limit 5" --db {summary["db_path"]}')


def cmd_sample(args: argparse.Namespace) -> int:
    """Write a synthetic event log with ground truth."""
    from cjm.sample import generate_sample

    summary = generate_sample(
        Path(args.out),
        customers=args.customers,
        seed=args.seed,
        days=args.days,
        horizon_days=args.horizon_days,
    )
    say(f"Wrote {summary.events:,} events for {summary.customers:,} customers to {args.out}")
    for path in summary.files:
        say(f"  {path}")
    say(f"Ground truth in {Path(args.out) / 'truth'}")
    return 0

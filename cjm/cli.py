"""The `cjm` command line: run, sample, query, churn-list, report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_DB = Path("output") / "cjm.duckdb"

# Offline, quiet defaults for the temporary Prefect API a run starts when no server is configured.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
}


def _say(message: str) -> None:
    print(message, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the whole pipeline as a Prefect flow and print what it did."""
    from cjm.config import load_config

    events = args.events
    config_path = args.config
    if events is None:
        events = str(SAMPLE_DIR / "events")
        if config_path is None and (SAMPLE_DIR / "cjm.yaml").exists():
            config_path = SAMPLE_DIR / "cjm.yaml"
        _say(f"No --events given: running on the bundled sample in {SAMPLE_DIR}")
    config = load_config(Path(config_path) if config_path else None)
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from pipelines.journey_flow import journey_flow

    started = time.perf_counter()
    summary = journey_flow(events=str(events), db=str(args.db), config=config)
    _print_summary(summary, time.perf_counter() - started)
    return 0


def _print_summary(summary: dict, seconds: float) -> None:
    counts = summary["counts"]
    _say("")
    _say(f"cjm run {summary['run_id']} finished in {seconds:.1f} s")
    _say(f"  {'file':<48} {'read':>9} {'accepted':>9} {'duplicate':>9} {'rejected':>9}")
    for f in summary["files"]:
        name = Path(f["source_file"]).name
        _say(
            f"  {name:<48} {f['rows_read']:>9,} {f['rows_accepted']:>9,} "
            f"{f['rows_duplicate']:>9,} {f['rows_rejected']:>9,}"
        )
    _say(
        f"  {'total':<48} {summary['rows_read']:>9,} {summary['rows_accepted']:>9,} "
        f"{summary['rows_duplicate']:>9,} {summary['rows_rejected']:>9,}"
    )
    _say(
        f"  customers {counts.get('customers', 0):,}, sessions {counts.get('sessions', 0):,}, "
        f"personas {counts.get('personas', 0):,}, customers scored "
        f"{counts.get('customers_scored', 0):,}, flagged high risk {counts.get('flagged', 0):,}"
    )
    for note in summary.get("notes", []):
        _say(f"  note: {note}")
    _say(f"Published: {summary['db_path']}")
    if summary.get("report_path"):
        _say(f"Journey map: {summary['report_path']}")
    if summary["rows_rejected"]:
        _say(f"Rejected rows and their reasons: table rejected_events in {summary['db_path']}")
    command = sys.argv[0] if sys.argv and sys.argv[0].endswith("cjm") else "cjm"
    _say(f'Try: {command} query "select * from journeys limit 5" --db {summary["db_path"]}')


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
    _say(f"Wrote {summary.events:,} events for {summary.customers:,} customers to {args.out}")
    for path in summary.files:
        _say(f"  {path}")
    _say(f"Ground truth in {Path(args.out) / 'truth'}")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Run read-only SQL against the published database."""
    from cjm.query import run_query

    frame = run_query(Path(args.db), args.sql)
    if args.format == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif args.format == "json":
        _say(frame.to_json(orient="records", date_format="iso"))
    else:
        import pandas as pd

        with pd.option_context("display.max_rows", args.max_rows, "display.width", 200):
            _say(frame.to_string(index=False) if len(frame) else "(no rows)")
    return 0


def cmd_churn_list(args: argparse.Namespace) -> int:
    """Write the retention team's churn-risk list as CSV or Parquet."""
    from cjm.query import write_churn_list

    out = Path(args.out)
    rows = write_churn_list(Path(args.db), out, top=args.top, tiers=args.tier)
    _say(f"Wrote {rows:,} customers, riskiest first, to {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write the journey map of the published database as one self-contained HTML file."""
    from cjm.report import write_report

    out = write_report(Path(args.db), Path(args.out))
    _say(f"Wrote the journey map of {args.db} to {out} (self-contained; opens offline)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cjm", description="Customer journey analytics on DuckDB, run by Prefect."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline (default: on the bundled sample)")
    run.add_argument("--events", help="event file, directory or glob (CSV, JSON Lines, Parquet)")
    run.add_argument("--config", help="YAML config file")
    run.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    run.set_defaults(func=cmd_run)

    sample = sub.add_parser("sample", help="generate a synthetic event log with ground truth")
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--customers", type=int, default=1000)
    sample.add_argument("--seed", type=int, default=7)
    sample.add_argument("--days", type=int, default=90)
    sample.add_argument("--horizon-days", type=int, default=60)
    sample.set_defaults(func=cmd_sample)

    query = sub.add_parser("query", help="read-only SQL against the published database")
    query.add_argument("sql")
    query.add_argument("--db", default=str(DEFAULT_DB))
    query.add_argument("--format", choices=["table", "csv", "json"], default="table")
    query.add_argument("--max-rows", type=int, default=100)
    query.set_defaults(func=cmd_query)

    churn = sub.add_parser("churn-list", help="write the ranked churn-risk list")
    churn.add_argument("--out", required=True, help="output file, .csv or .parquet")
    churn.add_argument("--top", type=int, help="only the N riskiest customers")
    churn.add_argument(
        "--tier", action="append", choices=["high", "medium", "low"], help="only these tiers"
    )
    churn.add_argument("--db", default=str(DEFAULT_DB))
    churn.set_defaults(func=cmd_churn_list)

    report = sub.add_parser("report", help="write the journey map as a self-contained HTML page")
    report.add_argument("--out", required=True, help="output file, e.g. report.html")
    report.add_argument("--db", default=str(DEFAULT_DB))
    report.set_defaults(func=cmd_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cjm` console script."""
    from cjm.errors import USER_ERRORS, release_frames

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as exc:
        print(f"cjm {args.command}: error: {exc}", file=sys.stderr)
        release_frames(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

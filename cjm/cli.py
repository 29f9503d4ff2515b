"""The `cjm` command line: run, sample, query, churn-list, report, paths, graph, serve,
notify-on-failure."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"
DEFAULT_DB = Path("output") / "cjm.duckdb"
# `cjm query`'s terminal view: enough rows to see the shape of a result, cells short enough that a
# path or a description does not push every other column off the screen.
DEFAULT_MAX_ROWS = 40
DEFAULT_MAX_COL_WIDTH = 40

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
    from cjm.config import ConfigError, load_config, with_execution
    from cjm.preflight import check_run_inputs

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
        _say(f"No --events given: running on the bundled sample in {SAMPLE_DIR}")
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from cjm.flows import journey_flow

    if config.is_partitioned:
        where = config.dask_address or "a local Dask cluster"
        runner = f"Dask ({where})" if config.task_runner == "dask" else "this process"
        _say(f"Partitioned run: {config.partitions} buckets of customers on {runner}")
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
    _say("")
    _say(f"cjm run {summary['run_id']} finished in {seconds:.1f} s ({summary['load_mode']} load)")
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
    warnings = summary.get("warnings", [])
    for note in summary.get("notes", []):
        if not any(note.endswith(w) for w in warnings):
            _say(f"  note: {note}")
    if warnings:
        _say("")
        _say(f"WARNING: churn or personas collapsed against the previous run ({len(warnings)}):")
        for warning in warnings:
            _say(f"  - {warning}")
        _say("  Published all the same; check the new input (cjm run --strict refuses such runs).")
        _say("")
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
        # Absolute: the file is named in the run's config, which pipeline_runs keeps.
        customers=Path(args.customers).absolute() if args.customers else None,
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
    from cjm.query import open_published

    con = open_published(Path(args.db))
    try:
        return _print_rows(con, args.sql, args)
    finally:
        con.close()


def _print_rows(con, sql: str, args: argparse.Namespace) -> int:
    """A query's rows as `cjm query` prints them: drawn for the terminal, or every row written."""
    from cjm.query import QueryError, export_rows, show_rows

    out = Path(args.out) if args.out else None
    if args.format == "table":
        if out is not None:
            raise QueryError("--out goes with --format csv|json|parquet|markdown")
        width = args.max_width or shutil.get_terminal_size((120, 24)).columns
        _say(
            show_rows(
                con,
                sql,
                max_rows=args.max_rows,
                max_col_width=args.max_col_width,
                max_width=width,
            )
        )
        return 0
    sys.stdout.flush()
    try:
        export_rows(con, sql, args.format, out, sys.stdout.buffer)
    except BrokenPipeError:
        # The reader (head, less) stopped early: not an error; keep Python's exit flush quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if out is not None:
        _say(f"Wrote the {args.format} result to {out}")
    return 0


PSEUDONYM_KEY_ENV = "CJM_PSEUDONYM_KEY"


def cmd_churn_list(args: argparse.Namespace) -> int:
    """Write the retention team's churn-risk list as CSV or Parquet, or explain the model."""
    from cjm.query import QueryError, churn_list_warnings, explain_churn_model, write_churn_list

    if args.explain:
        _say(explain_churn_model(Path(args.db)))
        if args.out is None:
            return 0
    if args.out is None:
        raise QueryError("give --out FILE (.csv or .parquet), or --explain")
    key = None
    if args.pseudonymise:
        # The key is read here, at the edge, and handed down as bytes.
        text = args.pseudonym_key or os.environ.get(PSEUDONYM_KEY_ENV)
        if not text:
            raise QueryError(f"--pseudonymise needs --pseudonym-key or {PSEUDONYM_KEY_ENV} set")
        key = text.encode("utf-8")
    out = Path(args.out)
    rows = write_churn_list(
        Path(args.db), out, top=args.top, tiers=args.tier, pseudonym_key=key, states=args.state
    )
    ids = " with pseudonymised ids" if key else ""
    _say(f"Wrote {rows:,} customers{ids}, highest priority first, to {out}")
    for warning in churn_list_warnings(Path(args.db)):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    """Paths around one touchpoint, or between two, from the published database."""
    from cjm.paths import PathQueryError, anchored_paths_sql, between_paths_sql, terminal_view
    from cjm.query import open_published

    if args.between is not None and (args.before is not None or args.after is not None):
        raise PathQueryError("--before and --after go with --anchor, not --between")
    con = open_published(Path(args.db))
    try:
        if args.anchor is not None:
            given = args.before is not None or args.after is not None
            before = args.before if args.before is not None else (0 if given else 3)
            after = args.after if args.after is not None else (0 if given else 3)
            sql = anchored_paths_sql(con, args.anchor, before, after, top=args.top)
        else:
            sql = between_paths_sql(con, args.between[0], args.between[1], top=args.top)
        if args.format == "table":
            sql = terminal_view(sql, "anchored_paths" if args.anchor else "between_paths")
        return _print_rows(con, sql, args)
    finally:
        con.close()


def cmd_graph(args: argparse.Namespace) -> int:
    """Export one transition graph as GraphML, GEXF or node-link JSON."""
    from cjm.graphs.exports import export_graph

    out = Path(args.out)
    graph = export_graph(Path(args.db), out, args.format, segment=args.segment, scope=args.scope)
    _say(
        f"Wrote the {args.scope} graph of segment {args.segment!r} "
        f"({graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges) to {out}"
    )
    return 0


def code_version() -> str:
    """The package version, plus the git commit when cjm runs from a git checkout."""
    from importlib import metadata

    try:
        version = metadata.version("cjm")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        top, commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--show-toplevel", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
    except (OSError, ValueError, subprocess.SubprocessError):
        return version
    # Only a checkout of cjm itself: an installed copy may sit in some other project's checkout.
    return f"{version}+g{commit}" if Path(top).resolve() == REPO_ROOT else version


def cmd_serve(args: argparse.Namespace) -> int:
    """Register the scheduled deployment with a Prefect server and run its flow runs."""
    from cjm.config import ConfigError, load_config

    config = load_config(Path(args.config) if args.config else None)
    events = args.events or config.schedule.events
    if not events:
        raise ConfigError(
            "cjm serve needs the events to load on every run: give --events PATH_OR_GLOB or "
            "set schedule.events in the config file"
        )
    from prefect.settings import PREFECT_API_URL

    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise ConfigError(
            "cjm serve needs a running Prefect server, and PREFECT_API_URL is not set. Start one "
            "with `prefect server start --host 127.0.0.1`, then in another shell "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api` and run `cjm serve` again"
        )
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    from prefect import serve
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from cjm.deployment import concurrency_limit
    from cjm.flows import journey_flow

    try:
        schedule = Cron(config.schedule.cron, timezone=config.timezone)
    except ValueError as exc:
        raise ConfigError(f"schedule.cron {config.schedule.cron!r}: {exc}") from None
    _check_api(api_url)
    # Absolute paths: scheduled runs must not depend on the directory a run starts in.
    events = _absolute_events(events)
    db = str(Path(args.db).resolve())
    version = code_version()
    deployment = journey_flow.to_deployment(
        name=args.name,
        schedule=schedule,
        parameters={
            "events": events,
            "db": db,
            "config": config.model_dump(mode="json"),
            "code_version": version,
        },
        description=f"cjm pipeline: {events} -> {db}",
        version=version,
        entrypoint_type=EntrypointType.MODULE_PATH,
        concurrency_limit=concurrency_limit(),
    )
    _say(f"Serving deployment cjm-journeys/{args.name} on {api_url}")
    _say(f"  schedule: {config.schedule.cron} ({config.timezone}); events: {events}; db: {db}")
    _say(f"  run it now: prefect deployment run 'cjm-journeys/{args.name}'")
    timeout = config.flow_timeout_seconds
    limit = "no time limit" if timeout is None else f"a run fails after {timeout:g} s"
    _say(f"  one run at a time, later runs queue; {limit} (flow_timeout_seconds)")
    # The server queues runs beyond the deployment's limit (AwaitingConcurrencySlot), across
    # every process serving it, so this runner needs no limit of its own.
    serve(deployment)
    return 0


def cmd_notify_on_failure(args: argparse.Namespace) -> int:
    """Create the automation that notifies through a block when a deployment's run fails."""
    from cjm.config import ConfigError

    if not _api_url():
        raise ConfigError("needs PREFECT_API_URL: the Prefect server the deployment is on")
    from prefect.client.orchestration import get_client

    from cjm.deployment import install_failure_automation

    _check_api(_api_url())
    with get_client(sync_client=True) as client:
        automation_id, definition = install_failure_automation(client, args.deployment, args.block)
    states = ", ".join(e.rsplit(".", 1)[1] for e in definition["trigger"]["expect"])
    _say(
        f"Automation {definition['name']!r} ({automation_id}): on {states}, notify via {args.block}"
    )
    return 0


def _api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def _check_api(api_url: str) -> None:
    """Fail in one line when the Prefect API does not answer, before anything registers."""
    from prefect.client.orchestration import get_client

    from cjm.config import ConfigError

    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is not None:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(
            f"cannot reach the Prefect API at {api_url} ({reason}): start the server, or point "
            "PREFECT_API_URL at a running one"
        )


def _absolute_events(events: str) -> str:
    """Make a relative events path or glob absolute (relative to the current directory)."""
    path = Path(events).expanduser()
    return str(path if path.is_absolute() else Path.cwd() / path)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the journey map of the published database as one self-contained HTML file."""
    from cjm.config import duckdb_settings, load_config
    from cjm.report import write_report

    # The run's DuckDB limits: with DuckDB's defaults a report of 100M events may take most of
    # the machine's memory (the run's own report step reads them from the run's config).
    config = load_config(Path(args.config) if args.config else None)
    out = write_report(
        Path(args.db),
        Path(args.out),
        entity=config.entity,
        emotion_min_events=config.emotion_min_events,
        **duckdb_settings(config),
    )
    _say(f"Wrote the journey map of {args.db} to {out} (self-contained; opens offline)")
    return 0


class _HelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default where it has one (None and off are no default)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
            or "%(default)" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


class _VersionAction(argparse.Action):
    """--version: computed only when asked for (it may run git)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="print cjm's version (with the git commit in a checkout) and exit",
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"cjm {code_version()}")
        parser.exit()


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """The options of `cjm query`'s output, for every command that prints rows as it does."""
    parser.add_argument(
        "--format",
        choices=["table", "csv", "json", "parquet", "markdown"],
        default="table",
        help="table: the first rows drawn for the terminal; the others write every row "
        "(to --out, or to stdout for csv, json and markdown)",
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="file for --format csv|json|parquet|markdown (default: stdout)",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help="table format: rows shown; the rest are counted",
    )
    parser.add_argument(
        "--max-col-width",
        type=int,
        default=DEFAULT_MAX_COL_WIDTH,
        metavar="W",
        help="table format: text longer than W characters is cut",
    )
    parser.add_argument(
        "--max-width",
        type=int,
        metavar="W",
        help="table format: width of the whole table (default: the terminal's)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cjm", description="Customer journey analytics on DuckDB, run by Prefect."
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole pipeline (default: on the bundled sample)")
    run.add_argument(
        "--events",
        help="event file, directory or glob of CSV, JSON Lines or Parquet files (default: the "
        "bundled sample)",
    )
    run.add_argument(
        "--config",
        help="YAML config file (default: the sample's cjm.yaml for the sample, else the built-in "
        "settings)",
    )
    run.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    run.add_argument(
        "--customers",
        metavar="FILE",
        help="CSV or Parquet file of customer attributes, one row per customer id "
        "(default: config customers)",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild from exactly the given files instead of loading only new ones",
    )
    run.add_argument(
        "--strict",
        action="store_true",
        help="fail, publishing nothing, when churn or personas collapse against the previous "
        "run (default: publish with a warning)",
    )
    run.add_argument(
        "--partitions",
        type=int,
        metavar="P",
        help="build sessions and journeys in P buckets of customers (default: the config's "
        "partitions, 1)",
    )
    run.add_argument(
        "--task-runner",
        choices=["local", "dask"],
        help="where buckets run: local, one after another, or dask (default: the config's "
        "task_runner, local)",
    )
    run.add_argument(
        "--dask-address",
        metavar="tcp://HOST:PORT",
        help="Dask scheduler to run buckets on (implies --task-runner dask)",
    )
    run.set_defaults(func=cmd_run)

    sample = sub.add_parser("sample", help="generate a synthetic event log with ground truth")
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--customers", type=int, default=1000, help="customers to simulate")
    sample.add_argument("--seed", type=int, default=7, help="random seed; same seed, same log")
    sample.add_argument("--days", type=int, default=90, help="days of events in the log")
    sample.add_argument(
        "--horizon-days",
        type=int,
        default=60,
        help="days simulated after the log ends, for the ground truth of who churns",
    )
    sample.set_defaults(func=cmd_sample)

    query = sub.add_parser("query", help="read-only SQL against the published database")
    query.add_argument("sql", help="one SQL query (select, with, from, show, describe ...)")
    query.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    _add_output_options(query)
    query.set_defaults(func=cmd_query)

    paths = sub.add_parser(
        "paths", help="paths around a touchpoint or between two, from the published database"
    )
    target = paths.add_mutually_exclusive_group(required=True)
    target.add_argument("--anchor", metavar="T", help="touchpoint to look around")
    target.add_argument(
        "--between", nargs=2, metavar=("A", "B"), help="paths from the first A to the next B"
    )
    paths.add_argument(
        "--before",
        type=int,
        metavar="K",
        help="steps before the anchor (default: 3, or 0 when only --after is given)",
    )
    paths.add_argument(
        "--after",
        type=int,
        metavar="K",
        help="steps after the anchor (default: 3, or 0 when only --before is given)",
    )
    paths.add_argument(
        "--top", type=int, metavar="N", help="only the N most common paths (default: all)"
    )
    paths.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    _add_output_options(paths)
    paths.set_defaults(func=cmd_paths)

    churn = sub.add_parser("churn-list", help="write the ranked churn-risk list")
    churn.add_argument("--out", help="output file, .csv or .parquet")
    churn.add_argument("--top", type=int, help="only the N riskiest customers (default: all)")
    churn.add_argument(
        "--tier",
        action="append",
        choices=["high", "medium", "low", "none"],
        help="only these tiers (repeatable; 'none': scores that did not pass the gate) "
        "(default: every tier)",
    )
    churn.add_argument(
        "--state",
        action="append",
        choices=["active", "lapsed", "exited"],
        help="only customers in these states (repeatable; lapsed: the win-back list) "
        "(default: every state)",
    )
    churn.add_argument(
        "--pseudonymise",
        action="store_true",
        help=f"replace customer ids by a keyed HMAC (key: --pseudonym-key or ${PSEUDONYM_KEY_ENV})",
    )
    churn.add_argument("--pseudonym-key", help=f"HMAC key (default: ${PSEUDONYM_KEY_ENV})")
    churn.add_argument(
        "--explain", action="store_true", help="print the churn model card and its metrics"
    )
    churn.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    churn.set_defaults(func=cmd_churn_list)

    graph = sub.add_parser("graph", help="export a transition graph for Gephi or Cytoscape")
    graph.add_argument(
        "--format",
        choices=["graphml", "gexf", "json"],
        default="graphml",
        help="GraphML, GEXF or node-link JSON",
    )
    graph.add_argument("--segment", default="all", help="e.g. all, persona:2, converted:true")
    graph.add_argument(
        "--scope",
        choices=["journey", "session"],
        default="journey",
        help="steps within a whole journey, or only within one session",
    )
    graph.add_argument("--out", required=True, help="output file")
    graph.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    graph.set_defaults(func=cmd_graph)
    serve = sub.add_parser(
        "serve", help="serve the scheduled deployment (needs a Prefect server, PREFECT_API_URL)"
    )
    serve.add_argument("--config", help="YAML config file (schedule.cron, schedule.events)")
    serve.add_argument("--events", help="event file, directory or glob (default schedule.events)")
    serve.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    serve.add_argument("--name", default="scheduled", help="deployment name")
    serve.set_defaults(func=cmd_serve)
    notify = sub.add_parser(
        "notify-on-failure",
        help="notify through a Prefect block when a run of the deployment fails, crashes or "
        "times out (needs PREFECT_API_URL)",
    )
    notify.add_argument(
        "--block",
        required=True,
        help="notification block TYPE-SLUG/NAME on the server, e.g. slack-webhook/ops",
    )
    notify.add_argument(
        "--deployment", default="cjm-journeys/scheduled", help="deployment to watch"
    )
    notify.set_defaults(func=cmd_notify_on_failure)
    report = sub.add_parser("report", help="write the journey map as a self-contained HTML page")
    report.add_argument("--out", required=True, help="output file, e.g. report.html")
    report.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    report.add_argument(
        "--config",
        help="YAML config file: its duckdb_memory_limit, duckdb_threads and "
        "duckdb_temp_directory bound the report's reads (default: DuckDB's own limits)",
    )
    report.set_defaults(func=cmd_report)
    for command in sub.choices.values():
        command.formatter_class = _HelpFormatter
        command.add_argument(
            "--debug", action="store_true", help="on an error, print its traceback too"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cjm` console script."""
    from cjm.errors import is_reported, release_frames

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:
        if not is_reported(exc):
            raise
        if args.debug:
            traceback.print_exc()
        print(f"cjm {args.command}: error: {exc}", file=sys.stderr)
        release_frames(exc)
        return 2


if __name__ == "__main__":
    sys.exit(main())

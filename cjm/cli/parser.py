"""The `cjm` argument parser: one function per command adds its options, in the order `cjm
--help` lists them."""

from __future__ import annotations

import argparse
from pathlib import Path

from cjm.cli.output import add_output_options
from cjm.cli.pipeline import cmd_run, cmd_sample
from cjm.cli.published import (
    PSEUDONYM_KEY_ENV,
    cmd_churn_list,
    cmd_graph,
    cmd_paths,
    cmd_query,
    cmd_report,
)
from cjm.cli.serve import cmd_notify_on_failure, cmd_serve
from cjm.cli.version import code_version

DEFAULT_DB = Path("output") / "cjm.duckdb"


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="cjm", description="Customer journey analytics on DuckDB, run by Prefect."
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run(sub)
    _add_sample(sub)
    _add_query(sub)
    _add_paths(sub)
    _add_churn_list(sub)
    _add_graph(sub)
    _add_serve(sub)
    _add_notify_on_failure(sub)
    _add_report(sub)
    for command in sub.choices.values():
        command.formatter_class = _HelpFormatter
        command.add_argument(
            "--debug", action="store_true", help="on an error, print its traceback too"
        )
    return parser


def _add_run(sub: argparse._SubParsersAction) -> None:
    """`cjm run`: events, config, customers file and how the run executes."""
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


def _add_sample(sub: argparse._SubParsersAction) -> None:
    """`cjm sample`: size, seed and span of the synthetic log."""
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


def _add_query(sub: argparse._SubParsersAction) -> None:
    """`cjm query`: one read-only SQL query and how its rows are printed."""
    query = sub.add_parser("query", help="read-only SQL against the published database")
    query.add_argument("sql", help="one SQL query (select, with, from, show, describe ...)")
    query.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    add_output_options(query)
    query.set_defaults(func=cmd_query)


def _add_paths(sub: argparse._SubParsersAction) -> None:
    """`cjm paths`: paths around one touchpoint or between two."""
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
    add_output_options(paths)
    paths.set_defaults(func=cmd_paths)


def _add_churn_list(sub: argparse._SubParsersAction) -> None:
    """`cjm churn-list`: which customers, ids pseudonymised or not, or the model card."""
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


def _add_graph(sub: argparse._SubParsersAction) -> None:
    """`cjm graph`: which transition graph, in which file format."""
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


def _add_serve(sub: argparse._SubParsersAction) -> None:
    """`cjm serve`: the scheduled deployment's config, events and database."""
    serve = sub.add_parser(
        "serve", help="serve the scheduled deployment (needs a Prefect server, PREFECT_API_URL)"
    )
    serve.add_argument("--config", help="YAML config file (schedule.cron, schedule.events)")
    serve.add_argument("--events", help="event file, directory or glob (default schedule.events)")
    serve.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    serve.add_argument("--name", default="scheduled", help="deployment name")
    serve.set_defaults(func=cmd_serve)


def _add_notify_on_failure(sub: argparse._SubParsersAction) -> None:
    """`cjm notify-on-failure`: the block to notify and the deployment to watch."""
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


def _add_report(sub: argparse._SubParsersAction) -> None:
    """`cjm report`: the page to write and the DuckDB limits of its reads."""
    report = sub.add_parser("report", help="write the journey map as a self-contained HTML page")
    report.add_argument("--out", required=True, help="output file, e.g. report.html")
    report.add_argument("--db", default=str(DEFAULT_DB), help="published DuckDB file")
    report.add_argument(
        "--config",
        help="YAML config file: its duckdb_memory_limit, duckdb_threads and "
        "duckdb_temp_directory bound the report's reads (default: DuckDB's own limits)",
    )
    report.set_defaults(func=cmd_report)

"""The commands that read the published file: query, paths, churn-list, graph and report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cjm.cli.output import print_rows, say


def cmd_query(args: argparse.Namespace) -> int:
    """Run read-only SQL against the published database."""
    from cjm.query import open_published

    con = open_published(Path(args.db))
    try:
        return print_rows(con, args.sql, args)
    finally:
        con.close()


PSEUDONYM_KEY_ENV = "CJM_PSEUDONYM_KEY"


def cmd_churn_list(args: argparse.Namespace) -> int:
    """Write the retention team's churn-risk list as CSV or Parquet, or explain the model."""
    from cjm.churn_list import churn_list_warnings, explain_churn_model, write_churn_list
    from cjm.query import QueryError

    if args.explain:
        say(explain_churn_model(Path(args.db)))
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
    say(f"Wrote {rows:,} customers{ids}, highest priority first, to {out}")
    for warning in churn_list_warnings(Path(args.db)):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    """Paths around one touchpoint, or between two, from the published database."""
    from cjm.journeys.paths import (
        PathQueryError,
        anchored_paths_sql,
        between_paths_sql,
        terminal_view,
    )
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
        return print_rows(con, sql, args)
    finally:
        con.close()


def cmd_graph(args: argparse.Namespace) -> int:
    """Export one transition graph as GraphML, GEXF or node-link JSON."""
    from cjm.graphs.exports import export_graph

    out = Path(args.out)
    graph = export_graph(Path(args.db), out, args.format, segment=args.segment, scope=args.scope)
    say(
        f"Wrote the {args.scope} graph of segment {args.segment!r} "
        f"({graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges) to {out}"
    )
    return 0


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
    say(f"Wrote the journey map of {args.db} to {out} (self-contained; opens offline)")
    return 0

"""How commands print: lines of output, and query rows as `cjm query` shows or writes them."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

# `cjm query`'s terminal view: enough rows to see the shape of a result, cells short enough that a
# path or a description does not push every other column off the screen.
DEFAULT_MAX_ROWS = 40
DEFAULT_MAX_COL_WIDTH = 40


def say(message: str) -> None:
    """Print one line of a command's output, flushed at once."""
    print(message, flush=True)


def print_rows(con, sql: str, args: argparse.Namespace) -> int:
    """A query's rows as `cjm query` prints them: drawn for the terminal, or every row written."""
    from cjm.query import QueryError, export_rows, show_rows

    out = Path(args.out) if args.out else None
    if args.format == "table":
        if out is not None:
            raise QueryError("--out goes with --format csv|json|parquet|markdown")
        width = args.max_width or shutil.get_terminal_size((120, 24)).columns
        say(
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
        say(f"Wrote the {args.format} result to {out}")
    return 0


def add_output_options(parser: argparse.ArgumentParser) -> None:
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

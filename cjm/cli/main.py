"""Entry point of the `cjm` console script: parse, run the command, print user errors briefly."""

from __future__ import annotations

import sys
import traceback

from cjm.cli.parser import build_parser


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

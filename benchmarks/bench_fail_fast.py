"""How fast and how briefly `cjm run` refuses bad input, next to the interpreter's start-up.

Usage: python benchmarks/bench_fail_fast.py [--repeat 5]

Each case runs `cjm run` in a fresh interpreter in an empty scratch directory, `--repeat` times,
alternating cases so that the machine's load falls on all of them alike. The floor is the same
interpreter importing the checks (cjm.build.preflight: DuckDB, pydantic, YAML and the config
model) and exiting: what any of these failures costs at least. Printed:
median and slowest wall seconds, the ratio of the median to the floor's, the exit code, the lines
printed and the files left behind (all three must be 2, at most 3, and 0).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = "import sys\nfrom cjm.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
HEADER = "customer_id,{},touchpoint\nc1,2024-01-01T00:00:00Z,home\n"
BAD_SETTINGS = (
    "session_gap_minutes: -3\nduckdb_threads: lots\nrandom_stat: 1\n"
    "churn: {horizon_days: x, bogus: 2}\n"
)
CASES = {
    "missing path": ["--events", "missing"],
    "empty directory": ["--events", "empty"],
    "missing column": ["--events", "when.csv"],
    "config typo": ["--events", "ok.csv", "--config", "typo.yaml"],
    "5 bad settings": ["--events", "ok.csv", "--config", "bad.yaml"],
}


def _scratch(root: Path) -> None:
    (root / "empty").mkdir()
    (root / "when.csv").write_text(HEADER.format("when"))
    (root / "ok.csv").write_text(HEADER.format("event_time"))
    (root / "typo.yaml").write_text("timezon: UTC\n")
    (root / "bad.yaml").write_text(BAD_SETTINGS)


def _once(root: Path, args: list[str] | None) -> tuple[float, int, int, int]:
    before = set(root.rglob("*"))
    if args is None:  # the floor
        command = [sys.executable, "-c", "import cjm.build.preflight\n"]
    else:
        command = [sys.executable, "-c", RUN, "run", "--db", "out/cjm.duckdb", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    lines = len((done.stdout + done.stderr).splitlines())
    return seconds, done.returncode, lines, len(set(root.rglob("*")) - before)


def main() -> None:
    """Time every case and the floor, alternating, and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case (default: 5)")
    repeat = parser.parse_args().repeat
    runs: dict[str, list[tuple[float, int, int, int]]] = {"floor": [], **{c: [] for c in CASES}}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        _scratch(root)
        for _ in range(repeat):
            runs["floor"].append(_once(root, None))
            for case, args in CASES.items():
                runs[case].append(_once(root, args))
    floor = statistics.median(r[0] for r in runs["floor"])
    print(f"{'case':<18} {'median s':>9} {'slowest s':>10} {'x floor':>8} exit lines left")
    for case, results in runs.items():
        median = statistics.median(r[0] for r in results)
        exits = ",".join(sorted({str(r[1]) for r in results}))
        lines = max(r[2] for r in results)
        left = max(r[3] for r in results)
        slowest = max(r[0] for r in results)
        print(
            f"{case:<18} {median:>9.2f} {slowest:>10.2f} {median / floor:>8.2f} "
            f"{exits:>4} {lines:>5} {left:>4}"
        )


if __name__ == "__main__":
    main()

"""How many training rows the churn model needs: rows against forward-holdout ROC AUC and fit time.

    python benchmarks/churn_learning_curve.py [--live-events 1000000] [--live-seed 7]
        [--customers 20000] [--shape-seeds 201] [--datasets DIR] [--rows 5000 10000 ...]

For each log the labelled (customer, cutoff) rows are built once, unbounded, as score_churn builds
them; then the forward holdout (cjm.churn.holdout.holdout_metrics: fit on the cutoffs a full
horizon before the last, score the last) runs with the training rows bounded at each size, drawn
two ways: stratified (stratified_sample: outcome x active or lapsed at the cutoff, rare strata kept
whole, rows weighted back) and uniform (the earlier bounded_sample, unweighted). Printed per log
and size: the rows fitted, the model's holdout ROC AUC with its 95% bootstrap interval, BG/NBD's
and recency's on the same holdout, and the CPU seconds of the holdout fits (the model's calibrated
3-fold boosting on one thread, as score_churn fits, and the two baselines) and their scoring.

Logs: the live benchmark log (generate_events.py --shape live), the three shapes of
churn_generated.py and the shared real logs of churn_real_logs.py (whole logs, example configs),
at seeds not used to choose anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cjm import steps
from cjm.churn import holdout
from cjm.churn.definition import log_start, resolve_churn_definition, training_cutoffs
from cjm.churn.model import MODEL_THREADS
from cjm.churn.scoring import model_inputs, training_frames
from cjm.config import load_config, parse_config
from cjm.db import connect, sql_literal
from cjm.personas.features import MAX_CHANNELS, MAX_TOUCHPOINTS, log_end, top_values

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import churn_generated  # noqa: E402
import churn_real_logs  # noqa: E402
import generate_events  # noqa: E402

ROWS = (5_000, 10_000, 25_000, 50_000, 100_000, 200_000)
REAL_LOGS = (
    ("online_retail", "online_retail/online_retail.parquet", "online_retail.yaml"),
    ("helpdesk", "helpdesk/helpdesk.csv", "helpdesk.yaml"),
    ("bpic2013_incidents", "bpic2013_incidents/bpic2013_incidents.parquet",
     "bpic2013_incidents.yaml"),
)  # fmt: skip


def curve(build: Path, config, rows: tuple[int, ...]) -> list[dict]:
    """The holdout at each bound on the labelled rows of the build file's events."""
    settings = config.churn.model_copy(update={"max_train_rows": 10**9})
    with connect() as con:
        con.execute(f"attach {sql_literal(str(build))} as b (read_only)")
        con.execute("create table events as select * from b.events")
        start, end = log_start(con), log_end(con)
        definition = resolve_churn_definition(con, settings, end)
        cutoffs = training_cutoffs(start, end, definition.horizon_days, settings.training_cutoffs)
        vocabulary = (
            top_values(con, "touchpoint", cutoffs[-1], MAX_TOUCHPOINTS),
            top_values(con, "channel", cutoffs[-1], MAX_CHANNELS),
        )
        started = time.perf_counter()
        frames, *_ = training_frames(
            con, definition, cutoffs, vocabulary, config.timezone, settings, config.random_state
        )
        frame_seconds = time.perf_counter() - started
    features, _ = model_inputs(pd.concat(frames, ignore_index=True))
    horizon = timedelta(days=definition.horizon_days)
    earlier = sum(
        len(f) for f, c in zip(frames[:-1], cutoffs, strict=False) if c + horizon <= cutoffs[-1]
    )
    out = []
    for bound in [r for r in rows if r < earlier] + [earlier]:
        # One model thread, as score_churn fits (OpenMP pools stall on a shared machine); CPU
        # seconds, which other jobs on the machine do not inflate.
        started = time.process_time()
        with threadpool_limits(limits=MODEL_THREADS):
            metrics, _ = holdout.holdout_metrics(
                frames, cutoffs, features, config.random_state, horizon, bound
            )
        seconds = time.process_time() - started
        m = metrics.set_index("model")
        out.append(
            {
                "kind": "all rows" if bound == earlier else "uniform sample",
                "rows": int(m.loc["churn_model", "n_train"]),
                "holdout": int(m.loc["churn_model", "n_holdout"]),
                "auc": m.loc["churn_model", "roc_auc"],
                "low": m.loc["churn_model", "roc_auc_low"],
                "high": m.loc["churn_model", "roc_auc_high"],
                "bgnbd": m.loc["bgnbd_baseline", "roc_auc"],
                "recency": m.loc["recency_baseline", "roc_auc"],
                "seconds": seconds,
                "frame_seconds": frame_seconds,
            }
        )
    return out


def _build(events: list[Path], config, tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    build = tmp / "build.duckdb"
    steps.load_events(build, events, config)
    steps.build_journeys(build, config)
    return build


def logs(args: argparse.Namespace, tmp: Path):
    """(name, build file, config) of every log, built one at a time."""
    if args.live_events:
        path = tmp / "live.parquet"
        generate_events.generate(args.live_events, path, seed=args.live_seed, shape="live")
        config = parse_config({})
        yield (
            f"live {args.live_events:,} events, seed {args.live_seed}",
            _build([path], config, tmp / "a"),
            config,
        )
    for shape in args.shapes:
        for seed in args.shape_seeds:
            everything = churn_generated.SHAPES[shape](np.random.default_rng(seed), args.customers)
            seen = everything[everything["day"] <= churn_generated.LOG_DAYS]
            events = seen.assign(
                event_time=[churn_generated.START + timedelta(days=float(d)) for d in seen["day"]]
            ).drop(columns="day")
            path = tmp / f"{shape}.parquet"
            events.to_parquet(path, index=False)
            config = parse_config({"churn": {"horizon_days": churn_generated.HORIZON}})
            yield (
                f"{shape} {args.customers:,} customers, seed {seed}",
                _build([path], config, tmp / shape),
                config,
            )
    for name, data, config_file in REAL_LOGS if args.datasets else ():
        config = load_config(churn_real_logs.REPO / "examples" / config_file)
        yield name, _build([(args.datasets / data).resolve()], config, tmp / name), config


def main(argv: list[str] | None = None) -> None:
    """Every log, one table row per bound and draw."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-events", type=int, default=1_000_000, help="0: no live log")
    parser.add_argument("--live-seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--shapes", nargs="*", default=list(churn_generated.SHAPES))
    parser.add_argument("--shape-seeds", type=int, nargs="*", default=[201])
    parser.add_argument("--datasets", type=Path, default=churn_real_logs.DATASETS)
    parser.add_argument("--no-real", dest="datasets", action="store_const", const=None)
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS))
    args = parser.parse_args(argv)
    print(
        "| log | draw | training rows | holdout rows | model ROC AUC (95% interval) | BG/NBD "
        "| recency | holdout fits CPU s |"
    )
    print("|---|---|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name, build, config in logs(args, Path(tmp)):
            for r in curve(build, config, tuple(args.rows)):
                print(
                    f"| {name} | {r['kind']} | {r['rows']:,} | {r['holdout']:,} | {r['auc']:.3f} "
                    f"({r['low']:.3f}-{r['high']:.3f}) | {r['bgnbd']:.3f} | {r['recency']:.3f} "
                    f"| {r['seconds']:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

"""Churn model vs recency and BG/NBD on online_retail: trained to 2011-09-09, judged on 90 days.

    python benchmarks/churn_online_retail.py [--data PATH/online_retail.parquet]

(default data: ../shared/datasets/online_retail/online_retail.parquet beside the repository.)
The whole log is loaded with examples/online_retail.yaml into a temporary DuckDB file; the model
then sees only a copy of the events up to the cutoff (2011-09-09 23:59:59 UTC), so nothing after it
can leak, and scores at the last event in that copy. It trains on its own cutoffs inside that
window (the latest a 90-day horizon before it) and scores the customers active then (an event in
the 90 days before). The judge is the rest of the log: churned = no purchase (any non-cancelled
invoice line) in the 90 days after the scoring time. Baselines on the same customers: recency
(logistic regression on days since the last event, fitted on the same training cutoffs) and BG/NBD
(probability of no active day in the 90 days, fitted on all history before the cutoff).
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from cjm import churn, steps
from cjm.churn.model import holdout_scores, training_frame
from cjm.config import load_config
from cjm.db import connect, sql_literal
from cjm.features import MAX_CHANNELS, MAX_TOUCHPOINTS, customer_features, top_values

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "datasets" / "online_retail" / "online_retail.parquet"
CUTOFF = datetime(2011, 9, 9, 23, 59, 59, tzinfo=UTC)
JUDGE_DAYS = 90


def main(argv: list[str] | None = None) -> None:
    """Build, train at the cutoff, judge on the following 90 days, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    config = load_config(REPO / "examples" / "online_retail.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.duckdb"
        steps.load_events(full, [args.data.resolve()], config)
        steps.build_journeys(full, config)
        with connect() as con:
            con.execute(f"attach {sql_literal(str(full))} as full_log (read_only)")
            con.execute(
                "create table events as select * from full_log.events where event_time <= ?",
                [CUTOFF],
            )
            # Scored at the last event of the copy: the latest moment the data describes.
            scored_at = con.execute("select max(event_time) from events").fetchall()[0][0]
            result = churn.score_churn(con, config.churn, config.random_state, as_of=scored_at)
            risk = result.churn_risk
            recency = _recency_baseline(con, result, config, scored_at)
            bgnbd = churn.bgnbd_churn_probability(
                con, scored_at, risk["customer_id"], timedelta(days=JUDGE_DAYS)
            )
            bought = {
                r[0]
                for r in con.execute(
                    "select distinct customer_id from full_log.events "
                    "where touchpoint = 'purchase' and event_time > ? and event_time <= ?",
                    [scored_at, scored_at + timedelta(days=JUDGE_DAYS)],
                ).fetchall()
            }
    y = (~risk["customer_id"].isin(bought)).to_numpy(int)
    print(f"online_retail: scored at {scored_at:%Y-%m-%d %H:%M} UTC, judged on {JUDGE_DAYS} days")
    print(f"definition: {result.definition.note}")
    print(
        f"training cutoffs: {len(result.cutoffs)} "
        f"({result.cutoffs[0]:%Y-%m-%d} .. {result.cutoffs[-1]:%Y-%m-%d})"
    )
    print(f"customers scored: {len(y):,}; no purchase in the {JUDGE_DAYS} days: {y.sum():,}")
    rows = [
        {"model": "churn_model", **holdout_scores(y, risk["risk_score"].to_numpy(float))},
        {"model": "recency_baseline", **holdout_scores(y, recency)},
        {"model": "bgnbd_baseline", **holdout_scores(y, bgnbd)},
    ]
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(pd.DataFrame(rows).to_string(index=False))
        print("\nthe run's own forward holdout (churn_model_metrics):")
        columns = ["model", "roc_auc", "pr_auc", "precision_at_top10pct", "brier", "n_holdout"]
        print(result.metrics[columns].to_string(index=False))


def _recency_baseline(con, result: churn.ChurnResult, config, scored_at) -> np.ndarray:
    """Logistic regression on recency, fitted on the run's training cutoffs, at the cutoff."""
    touchpoints = top_values(con, "touchpoint", result.cutoffs[-1], MAX_TOUCHPOINTS)
    channels = top_values(con, "channel", result.cutoffs[-1], MAX_CHANNELS)
    states: dict = {}
    frames = [
        training_frame(
            con,
            result.definition,
            c,
            (touchpoints, channels),
            config.timezone,
            states,
            config.churn,
            config.random_state,
            None,
        )
        for c in result.cutoffs
    ]
    train = pd.concat(frames, ignore_index=True)
    model = churn.make_recency_baseline().fit(train[["recency_days"]], train["churned"])
    now = customer_features(con, scored_at, touchpoints, channels, config.timezone)
    now = now.set_index("customer_id").reindex(result.churn_risk["customer_id"])
    return model.predict_proba(now[["recency_days"]])[:, 1]


if __name__ == "__main__":
    main()

"""Churn scores against what really happened next, on the shared real logs, beside the baselines.

    python benchmarks/churn_real_logs.py [--datasets DIR]

(default DIR: ../shared/datasets beside the repository.) For each case the whole log is loaded
with its example config into a temporary DuckDB file; cjm then sees only a copy of the events up to
the cutoff (nothing after it can leak), scores every customer seen by then for the case's horizon,
and is judged on the rest of the log: 1 = no purchase (online_retail) or no event at all (the
ticket logs) in the horizon after the last event before the cutoff. Baselines on the same
customers: days since the last event (recency, as a score) and BG/NBD's P(no active day in the
horizon) fitted on all history before the cutoff. Also printed: the run's own choice of scorer, its
forward-holdout ROC AUC, whether tiers were given, and its warnings.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from cjm import churn, steps
from cjm.config import load_config
from cjm.db import connect, sql_literal

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
# (name, data file, config, cutoff, horizon days, touchpoint that counts as activity or None)
CASES = [
    ("online_retail", "online_retail/online_retail.parquet", "online_retail.yaml",
     datetime(2011, 9, 9, 23, 59, 59, tzinfo=UTC), 90, "purchase"),
    ("online_retail", "online_retail/online_retail.parquet", "online_retail.yaml",
     datetime(2011, 6, 9, 23, 59, 59, tzinfo=UTC), 180, "purchase"),
    ("helpdesk", "helpdesk/helpdesk.csv", "helpdesk.yaml",
     datetime(2012, 12, 31, 23, 59, 59, tzinfo=UTC), 30, None),
    ("bpic2013_incidents", "bpic2013_incidents/bpic2013_incidents.parquet",
     "bpic2013_incidents.yaml", datetime(2012, 5, 1, tzinfo=UTC), 14, None),
]  # fmt: skip


def judge(name, data: Path, config_file: str, cutoff, horizon: int, activity) -> dict:
    """One case: build, score at the cutoff, compare with the following horizon."""
    config = load_config(REPO / "examples" / config_file)
    config = config.model_copy(
        update={"churn": config.churn.model_copy(update={"horizon_days": horizon})}
    )
    with tempfile.TemporaryDirectory() as tmp:
        full = Path(tmp) / "full.duckdb"
        steps.load_events(full, [data.resolve()], config)
        steps.build_journeys(full, config)
        with connect() as con:
            con.execute(f"attach {sql_literal(str(full))} as full_log (read_only)")
            con.execute(
                "create table events as select * from full_log.events where event_time <= ?",
                [cutoff],
            )
            at = con.execute("select max(event_time) from events").fetchall()[0][0]
            seen = con.execute("select count(distinct customer_id) from events").fetchall()[0][0]
            result = churn.score_churn(
                con, config.churn, config.random_state, as_of=at, timezone=config.timezone
            )
            risk = result.churn_risk
            later = con.execute(
                "select distinct customer_id from full_log.events where event_time > ? and "
                "event_time <= ? and (? is null or touchpoint = ?)",
                [at, at + timedelta(days=horizon), activity, activity],
            ).fetchall()
            recency = (
                con.execute(
                    "select customer_id, epoch(? - max(event_time)) / 86400 as days from events "
                    "group by customer_id",
                    [at],
                )
                .df()
                .set_index("customer_id")["days"]
            )
            bgnbd = churn.bgnbd_churn_probability(
                con, at, risk["customer_id"], timedelta(days=horizon)
            )
    y = (~risk["customer_id"].isin({r[0] for r in later})).to_numpy(int)
    none = risk["reasons"].str.startswith("no single behaviour stands out")
    card = result.model_card
    own = result.metrics.set_index("model")["roc_auc"].get(card.get("score_source"), np.nan)
    return {
        "log": name,
        "cutoff": f"{cutoff:%Y-%m-%d}",
        "horizon": horizon,
        "seen": seen,
        "scored": len(risk),
        "quiet": int(y.sum()),
        "cjm_auc": roc_auc_score(y, risk["risk_score"]),
        "bgnbd_auc": roc_auc_score(y, bgnbd),
        "recency_auc": roc_auc_score(y, recency.reindex(risk["customer_id"]).to_numpy()),
        "source": card.get("score_source"),
        "holdout_auc": own,
        "tiers": ", ".join(f"{k} {v}" for k, v in risk["risk_tier"].value_counts().items()),
        "no_reason": float(none.mean()),
        # among the riskiest half: the customers a retention team would call
        "no_reason_risky": float(none[risk["risk_score"] >= risk["risk_score"].median()].mean()),
        "warnings": card.get("warnings") or [],
    }


def main(argv: list[str] | None = None) -> None:
    """Run every case and print one row each, then the warnings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    args = parser.parse_args(argv)
    rows = [judge(c[0], args.datasets / c[1], *c[2:]) for c in CASES]
    head = "log                 cutoff     h   seen scored  quiet  cjm  bgnbd recency source"
    print(head + "            holdout no-reason (riskiest half) tiers")
    for r in rows:
        print(
            f"{r['log']:<19} {r['cutoff']} {r['horizon']:>3} {r['seen']:>6} {r['scored']:>6} "
            f"{r['quiet']:>6} {r['cjm_auc']:.3f} {r['bgnbd_auc']:.3f} {r['recency_auc']:.3f}  "
            f"{r['source']:<17} {r['holdout_auc']:.3f}   {r['no_reason']:>5.1%} "
            f"({r['no_reason_risky']:>5.1%})      {r['tiers']}"
        )
    for r in rows:
        for w in r["warnings"]:
            print(f"{r['log']} {r['cutoff']}: {w}")


if __name__ == "__main__":
    main()

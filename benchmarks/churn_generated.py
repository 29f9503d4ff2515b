"""Churn scores against planted truth on generated logs of three shapes, on seeds never tuned on.

    python benchmarks/churn_generated.py [--customers 3000] [--seeds 101 102 103 104 105]

The generators here are independent of `cjm sample` and were written once, not adjusted to the
model's results. Each simulates every customer from arrival to `log_days + horizon` days and writes
only the events up to the log end; the truth is whether a customer shows any activity in the
horizon after it. Shapes:
- subscription: customers arrive all year, use the service at a personal weekly rate, and stop for
  good after a personal lifetime; before stopping their activity fades over 2-8 weeks and leans
  towards support and complaint touchpoints.
- purchase: the BG/NBD story (Poisson purchases at a gamma-distributed rate, dropping out after any
  purchase with a beta-distributed chance), dates only, one touchpoint: the baseline's home turf.
- breaks: customers alternate active spells and breaks of weeks, and some stop for good after a
  fade: a break must not read as leaving.
Printed per shape and seed: coverage of the truly active customers (alive at the log end), ROC AUC
of cjm's published scores, of BG/NBD and of recency on the same customers, and of a model trained
on the true labels (gradient boosting on recency, frequency, tenure and the last two months'
activity, 5-fold cross-validated): what simple features can reach when the labels are known. The
last two AUCs are among the customers cjm calls active (the save list), where lapsed customers do
not make the ranking easy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from cjm import churn, steps
from cjm.config import parse_config
from cjm.db import connect, sql_literal

START = datetime(2025, 1, 1, tzinfo=UTC)
LOG_DAYS, HORIZON = 365, 30
TOUCHPOINTS = np.array(["login", "browse", "search", "purchase", "support_chat", "complaint"])
USUAL = np.array([0.35, 0.3, 0.15, 0.12, 0.06, 0.02])
FADING = np.array([0.3, 0.2, 0.1, 0.05, 0.2, 0.15])


def _poisson_times(rng, start: float, end: float, rate_per_day: float) -> np.ndarray:
    n = rng.poisson(max(end - start, 0) * rate_per_day)
    return np.sort(rng.uniform(start, end, n))


def subscription(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Weekly users who stop for good after a fade."""
    rows = []
    for c in range(n):
        arrive = rng.uniform(0, LOG_DAYS - 14)
        rate = rng.gamma(2.0, 1.5) / 7
        stop = arrive + rng.exponential(240)
        fade = rng.uniform(14, 56)
        times = _poisson_times(rng, arrive, min(stop, LOG_DAYS + HORIZON), rate)
        to_stop = stop - times
        keep = rng.random(len(times)) < np.clip(to_stop / fade, 0.1, 1)
        times, to_stop = times[keep], to_stop[keep]
        fading = to_stop < fade
        p = np.where(fading[:, None], FADING, USUAL)
        cum = p.cumsum(axis=1)
        tp = TOUCHPOINTS[(rng.random(len(times))[:, None] > cum).sum(axis=1).clip(0, 5)]
        rows.append(pd.DataFrame({"customer_id": f"s{c}", "day": times, "touchpoint": tp}))
    return pd.concat(rows, ignore_index=True)


def purchase(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """BG/NBD: purchases at rate lambda ~ Gamma(0.6, 1/12 per day), dropout p ~ Beta(1, 4)."""
    rows = []
    for c in range(n):
        t = rng.uniform(0, LOG_DAYS - 14)
        lam, p = rng.gamma(0.6, 1 / 12), rng.beta(1.0, 4.0)
        times = [t]
        while rng.random() >= p:
            t += rng.exponential(1 / lam)
            if t > LOG_DAYS + HORIZON:
                break
            times.append(t)
        days = np.floor(np.array(times))  # dates only
        rows.append(pd.DataFrame({"customer_id": f"p{c}", "day": days, "touchpoint": "purchase"}))
    return pd.concat(rows, ignore_index=True)


def breaks(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Active spells and breaks of weeks; a third stop for good after a fade."""
    rows = []
    for c in range(n):
        t = rng.uniform(0, LOG_DAYS - 14)
        rate = rng.gamma(2.0, 2.0) / 7
        stop = t + rng.exponential(300) if rng.random() < 0.35 else np.inf
        fade = rng.uniform(14, 42)
        times = []
        while t < min(stop, LOG_DAYS + HORIZON):
            spell = rng.exponential(50)
            times.append(_poisson_times(rng, t, min(t + spell, stop, LOG_DAYS + HORIZON), rate))
            t += spell + rng.uniform(10, 45)  # a break of 10 to 45 days
        times = np.concatenate(times) if times else np.array([])
        if np.isfinite(stop):
            times = times[rng.random(len(times)) < np.clip((stop - times) / fade, 0.1, 1)]
        tp = TOUCHPOINTS[rng.choice(6, len(times), p=USUAL)]
        rows.append(pd.DataFrame({"customer_id": f"b{c}", "day": times, "touchpoint": tp}))
    return pd.concat(rows, ignore_index=True)


SHAPES = {"subscription": subscription, "purchase": purchase, "breaks": breaks}


def _simple_features(events: pd.DataFrame) -> pd.DataFrame:
    g = events.groupby("customer_id")["day"]
    last, first, n = g.max(), g.min(), g.size()
    recent = events[events["day"] > LOG_DAYS - 30].groupby("customer_id").size()
    before = events[events["day"].between(LOG_DAYS - 60, LOG_DAYS - 30)].groupby("customer_id")
    return pd.DataFrame(
        {
            "recency": LOG_DAYS - last,
            "frequency": n,
            "tenure": LOG_DAYS - first,
            "last30": recent.reindex(last.index, fill_value=0),
            "prev30": before.size().reindex(last.index, fill_value=0),
        }
    )


def run(shape: str, seed: int, customers: int) -> dict:
    """Generate, publish with cjm (default config, horizon 30), judge against the truth."""
    rng = np.random.default_rng(seed)
    everything = SHAPES[shape](rng, customers)
    seen = everything[everything["day"] <= LOG_DAYS]
    future = everything[(everything["day"] > LOG_DAYS) & (everything["day"] <= LOG_DAYS + HORIZON)]
    quiet = ~seen["customer_id"].drop_duplicates().isin(set(future["customer_id"]))
    truth = pd.Series(quiet.to_numpy(), index=seen["customer_id"].drop_duplicates().to_numpy())
    events = seen.assign(event_time=[START + timedelta(days=float(d)) for d in seen["day"]]).drop(
        columns="day"
    )
    config = parse_config({"churn": {"horizon_days": HORIZON}})
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.parquet"
        events.to_parquet(path, index=False)
        build = Path(tmp) / "build.duckdb"
        steps.load_events(build, [path], config)
        steps.build_journeys(build, config)
        with connect() as con:
            con.execute(f"attach {sql_literal(str(build))} as b (read_only)")
            con.execute("create table events as select * from b.events")
            result = churn.score_churn(con, config.churn, 0)
            risk = result.churn_risk.set_index("customer_id")
            bgnbd = churn.bgnbd_churn_probability(
                con,
                con.execute("select max(event_time) from events").fetchone()[0],
                pd.Series(truth.index),
                timedelta(days=HORIZON),
            )
    seconds = time.perf_counter() - started
    y = truth.to_numpy(int)
    alive = truth.index[~truth.to_numpy()]
    feats = _simple_features(seen).reindex(truth.index)
    oracle = cross_val_predict(
        HistGradientBoostingClassifier(random_state=0), feats, y, cv=5, method="predict_proba"
    )[:, 1]
    card = result.model_card
    # The save list: customers cjm calls active, where ranking is harder than lapsed vs active.
    active = (risk["customer_state"] == "active").reindex(truth.index).fillna(False).to_numpy()
    both = active & (y.min() < 1)
    active_auc = (
        roc_auc_score(y[active], risk["risk_score"].reindex(truth.index)[active])
        if both.any() and 0 < y[active].sum() < active.sum()
        else float("nan")
    )
    oracle_active = (
        roc_auc_score(y[active], oracle[active]) if active_auc == active_auc else float("nan")
    )
    return {
        "active_cjm": active_auc,
        "active_true": oracle_active,
        "shape": shape,
        "seed": seed,
        "customers": len(truth),
        "quiet": int(y.sum()),
        "coverage": float(risk.index.isin(alive).sum() / len(alive)),
        "cjm": roc_auc_score(y, risk["risk_score"].reindex(truth.index)),
        "bgnbd": roc_auc_score(y, bgnbd),
        "recency": roc_auc_score(y, feats["recency"]),
        "true_labels": roc_auc_score(y, oracle),
        "source": card.get("score_source"),
        "tiers": "yes" if card.get("trusted") else "none",
        "threshold": result.definition.inactivity_days,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    """Every shape and seed, one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    args = parser.parse_args(argv)
    print(
        "shape         seed customers quiet coverage   cjm  bgnbd recency true-labels "
        "source            tiers threshold active: cjm true-labels seconds"
    )
    for shape in args.shapes:
        for seed in args.seeds:
            r = run(shape, seed, args.customers)
            print(
                f"{r['shape']:<13} {r['seed']:>4} {r['customers']:>9} {r['quiet']:>5} "
                f"{r['coverage']:>8.1%} {r['cjm']:.3f} {r['bgnbd']:.3f}   {r['recency']:.3f}"
                f"       {r['true_labels']:.3f} {r['source']:<17} {r['tiers']:<5} "
                f"{r['threshold']:>9}        {r['active_cjm']:.3f}       {r['active_true']:.3f}"
                f" {r['seconds']:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

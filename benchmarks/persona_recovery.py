"""Persona recovery: logs with planted behavioural groups, and how well personas find them again.

A small generator writes an events table in which every customer belongs to one planted group.
A group has its own favourite touchpoints and channel and its own rhythm (days between sessions,
events per session, minutes between events, hour of day); with probability `noise` an event's
touchpoint and channel are drawn uniformly instead. Shapes vary the number of groups, their
sizes, the noise, and whether some groups differ only in rhythm. cjm's customer_features and
fit_personas (automatic k) run on each log; the baseline is plain k-means on standardised
touchpoint and channel shares with the planted k given. Printed per shape and seed: automatic k
against planted, the adjusted Rand index (ARI) of cjm's personas, of cjm's pipeline with k given
(separates the choice of k from the features and scaling) and of the baseline.

Run: python benchmarks/bench_personas.py --recovery [--seeds 11 12 13] [--customers 2000]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

TOUCHPOINTS = tuple(f"step_{i:02d}" for i in range(18))
CHANNELS = ("web", "mobile_app", "email", "store", "call_center", "partner")


@dataclass(frozen=True)
class Shape:
    """One kind of planted structure."""

    name: str
    groups: int
    sizes: tuple[float, ...] | None  # shares of customers; None: equal
    noise: float  # chance an event ignores its group's favourites
    # Groups that copy group 0's touchpoints and channel and differ from it only in rhythm.
    rhythm_only: int = 0


SHAPES = (
    Shape("4 equal groups, noise 0.4", 4, None, 0.4),
    Shape("4 equal groups, noise 0.6", 4, None, 0.6),
    Shape("3 groups 60/30/10%, noise 0.5", 3, (0.6, 0.3, 0.1), 0.5),
    Shape("6 equal groups, noise 0.5", 6, None, 0.5),
    Shape("5 groups, 1 differing in rhythm only, noise 0.4", 5, None, 0.4, rhythm_only=1),
)


def planted_log(shape: Shape, customers: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """(events with the columns customer_features reads, planted group by customer_id)."""
    rng = np.random.default_rng(seed)
    k = shape.groups
    shares = np.full(k, 1 / k) if shape.sizes is None else np.asarray(shape.sizes)
    group = rng.choice(k, size=customers, p=shares / shares.sum())
    favourites = [rng.choice(len(TOUCHPOINTS), size=3, replace=False) for _ in range(k)]
    channel = rng.permutation(len(CHANNELS))[: min(k, len(CHANNELS))]
    channel = np.resize(channel, k)
    gap_days = rng.uniform(1, 20, k)  # mean days between sessions
    per_session = rng.uniform(1.5, 5, k)  # mean events per session
    step_minutes = rng.uniform(0.5, 15, k)  # mean minutes between events of a session
    hour = rng.integers(6, 22, k)
    for g in range(k - shape.rhythm_only, k):  # the rhythm-only groups copy group 0's mix
        favourites[g], channel[g] = favourites[0], channel[0]
        gap_days[g] = gap_days[0] * 6 if gap_days[0] < 3 else gap_days[0] / 6
        per_session[g] = per_session[0] * 3 if per_session[0] < 4 else per_session[0] / 3

    rows: dict[str, list] = {c: [] for c in ("customer_id", "event_time", "touchpoint", "channel")}
    rows |= {"session_id": [], "event_index": []}
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for c, g in enumerate(group):
        cid = f"c{c:06d}"
        sessions = 1 + rng.poisson(2)
        at = start + pd.Timedelta(days=float(rng.uniform(0, 30)))
        index = 0
        for s in range(sessions):
            at += pd.Timedelta(days=float(rng.exponential(gap_days[g]))) if s else pd.Timedelta(0)
            day = at.normalize() + pd.Timedelta(hours=int(hour[g]) + float(rng.normal(0, 1)))
            t = day
            for _ in range(1 + rng.poisson(per_session[g] - 1)):
                noisy = rng.random() < shape.noise
                tp = rng.integers(len(TOUCHPOINTS)) if noisy else rng.choice(favourites[g])
                ch = rng.integers(len(CHANNELS)) if rng.random() < shape.noise else channel[g]
                index += 1
                rows["customer_id"].append(cid)
                rows["event_time"].append(t)
                rows["touchpoint"].append(TOUCHPOINTS[tp])
                rows["channel"].append(CHANNELS[ch])
                rows["session_id"].append(f"{cid}-{s}")
                rows["event_index"].append(index)
                t += pd.Timedelta(minutes=float(rng.exponential(step_minutes[g])))
            at = t
    events = pd.DataFrame(rows)
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    events["stage"] = "consideration"
    events["revenue"] = np.nan
    events["sentiment"] = np.nan
    events["is_conversion"] = False
    truth = pd.Series(group, index=[f"c{c:06d}" for c in range(customers)], name="group")
    return events, truth


def recovery_row(shape: Shape, customers: int, seed: int) -> dict:
    """Automatic k and the three ARIs for one planted log."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from cjm.config_sections import PersonaSettings
    from cjm.db import connect, write_table
    from cjm.personas.features import CHANNEL_PREFIX, TOUCHPOINT_PREFIX, customer_features
    from cjm.personas.fitting import fit_personas

    events, truth = planted_log(shape, customers, seed)
    with connect() as con:
        write_table(con, "events", events)
        features = customer_features(con)
    features = features.sort_values("customer_id", ignore_index=True)
    planted = truth.loc[features["customer_id"]].to_numpy()
    with threadpool_limits(1):
        auto = fit_personas(features, PersonaSettings(), random_state=0)
        given = fit_personas(features, PersonaSettings(k=shape.groups), random_state=0)
        shares = features[
            [c for c in features.columns if c.startswith((TOUCHPOINT_PREFIX, CHANNEL_PREFIX))]
        ].fillna(0.0)
        baseline = KMeans(shape.groups, n_init=10, random_state=0).fit_predict(
            StandardScaler().fit_transform(shares)
        )

    def ari(result) -> float:
        labels = result.customer_personas.set_index("customer_id").loc[features["customer_id"]]
        return float(adjusted_rand_score(planted, labels["persona_id"]))

    return {
        "shape": shape.name,
        "seed": seed,
        "customers": len(features),
        "events": len(events),
        "planted_k": shape.groups,
        "auto_k": auto.k,
        "ari_cjm": round(ari(auto), 3),
        "ari_cjm_k_given": round(ari(given), 3),
        "ari_kmeans_shares": round(float(adjusted_rand_score(planted, baseline)), 3),
    }


def recovery_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with a summary line."""
    lines = [
        "| shape | seed | customers | planted k | automatic k | ARI cjm | ARI cjm, k given "
        "| ARI k-means on shares, k given |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['seed']} | {r['customers']:,} | {r['planted_k']} | "
            f"{r['auto_k']} | {r['ari_cjm']:.3f} | {r['ari_cjm_k_given']:.3f} | "
            f"{r['ari_kmeans_shares']:.3f} |"
        )
    found = sum(r["auto_k"] == r["planted_k"] for r in rows)
    lines += [
        "",
        f"Automatic k = planted k in {found} of {len(rows)} logs; median ARI cjm "
        f"{np.median([r['ari_cjm'] for r in rows]):.3f}, cjm with k given "
        f"{np.median([r['ari_cjm_k_given'] for r in rows]):.3f}, k-means on shares "
        f"{np.median([r['ari_kmeans_shares'] for r in rows]):.3f}.",
    ]
    return "\n".join(lines)

"""Persona recovery: logs with planted behavioural groups, and how well personas find them again.

A small generator writes an events table in which every customer belongs to one planted group.
A group has its own favourite touchpoints and channel and its own rhythm (days between sessions,
events per session, minutes between events, hour of day); with probability `noise` an event's
touchpoint and channel are drawn uniformly instead. Shapes vary the number of groups, their
sizes, the noise, and whether some groups differ only in rhythm. cjm's customer_features and
fit_personas (automatic k) run on each log; the baseline is plain k-means on standardised
touchpoint and channel shares with the planted k given. Printed per shape and seed: automatic k
against planted, the adjusted Rand index (ARI) of cjm's personas, of cjm's pipeline with k given
(separates the choice of k from the features and scaling) and of the baseline, and beside them
the ceiling: the ARI of the Bayes classifier that knows every group's true parameters
(oracle_groups), with and without the hour of day (which cjm's clustering features see only as
night and weekend shares).

Run: python benchmarks/bench_personas.py --recovery [--seeds 11 12 13] [--customers 2000]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln

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


@dataclass(frozen=True)
class Planted:
    """The drawn parameters of every group (what the oracle knows)."""

    shares: np.ndarray  # share of customers per group
    favourites: list[np.ndarray]  # three touchpoint indices per group
    channel: np.ndarray  # favourite channel index per group
    gap_days: np.ndarray  # mean days between sessions
    per_session: np.ndarray  # mean events per session
    step_minutes: np.ndarray  # mean minutes between events of a session
    hour: np.ndarray  # hour of day a session starts (plus normal noise, sd 1 hour)
    noise: float


def planted_groups(shape: Shape, rng: np.random.Generator, shares: np.ndarray) -> Planted:
    """Draw each group's favourites and rhythm."""
    k = shape.groups
    favourites = [rng.choice(len(TOUCHPOINTS), size=3, replace=False) for _ in range(k)]
    channel = rng.permutation(len(CHANNELS))[: min(k, len(CHANNELS))]
    channel = np.resize(channel, k)
    gap_days = rng.uniform(1, 20, k)
    per_session = rng.uniform(1.5, 5, k)
    step_minutes = rng.uniform(0.5, 15, k)
    hour = rng.integers(6, 22, k)
    for g in range(k - shape.rhythm_only, k):  # the rhythm-only groups copy group 0's mix
        favourites[g], channel[g] = favourites[0], channel[0]
        gap_days[g] = gap_days[0] * 6 if gap_days[0] < 3 else gap_days[0] / 6
        per_session[g] = per_session[0] * 3 if per_session[0] < 4 else per_session[0] / 3
    return Planted(
        shares, favourites, channel, gap_days, per_session, step_minutes, hour, shape.noise
    )


def planted_log(shape: Shape, customers: int, seed: int) -> tuple[pd.DataFrame, pd.Series, Planted]:
    """(events with the columns customer_features reads, planted group by customer_id, groups)."""
    rng = np.random.default_rng(seed)
    k = shape.groups
    shares = np.full(k, 1 / k) if shape.sizes is None else np.asarray(shape.sizes)
    shares = shares / shares.sum()
    group = rng.choice(k, size=customers, p=shares)  # drawn first: the logs of earlier tables
    p = planted_groups(shape, rng, shares)
    rows: dict[str, list] = {c: [] for c in ("customer_id", "event_time", "touchpoint", "channel")}
    rows |= {"session_id": [], "event_index": []}
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for c, g in enumerate(group):
        cid = f"c{c:06d}"
        sessions = 1 + rng.poisson(2)
        at = start + pd.Timedelta(days=float(rng.uniform(0, 30)))
        index = 0
        for s in range(sessions):
            at += pd.Timedelta(days=float(rng.exponential(p.gap_days[g]))) if s else pd.Timedelta(0)
            day = at.normalize() + pd.Timedelta(hours=int(p.hour[g]) + float(rng.normal(0, 1)))
            t = day
            for _ in range(1 + rng.poisson(p.per_session[g] - 1)):
                noisy = rng.random() < p.noise
                tp = rng.integers(len(TOUCHPOINTS)) if noisy else rng.choice(p.favourites[g])
                ch = rng.integers(len(CHANNELS)) if rng.random() < p.noise else p.channel[g]
                index += 1
                rows["customer_id"].append(cid)
                rows["event_time"].append(t)
                rows["touchpoint"].append(TOUCHPOINTS[tp])
                rows["channel"].append(CHANNELS[ch])
                rows["session_id"].append(f"{cid}-{s}")
                rows["event_index"].append(index)
                t += pd.Timedelta(minutes=float(rng.exponential(p.step_minutes[g])))
            at = t
    events = pd.DataFrame(rows)
    events["event_id"] = [f"e{i}" for i in range(len(events))]
    events["stage"] = "consideration"
    events["revenue"] = np.nan
    events["sentiment"] = np.nan
    events["is_conversion"] = False
    truth = pd.Series(group, index=[f"c{c:06d}" for c in range(customers)], name="group")
    return events, truth, p


def oracle_groups(events: pd.DataFrame, p: Planted, hour: bool = True) -> pd.Series:
    """Each customer's most probable planted group given the true parameters (Bayes classifier).

    The log-likelihood of every customer's events under each group: touchpoints and channels
    (favourite or noise), events per session (1 + Poisson), minutes between events (exponential),
    session start hour (normal, sd 1) and the day of each later session given the previous one's
    last event (exponential days, floored to the day; the minutes after a session's last event
    are ignored). Its ARI is the ceiling no clustering of these logs can beat except by chance.
    """
    tp = events["touchpoint"].map({t: i for i, t in enumerate(TOUCHPOINTS)}).to_numpy()
    ch = events["channel"].map({c: i for i, c in enumerate(CHANNELS)}).to_numpy()
    t = events["event_time"]
    sess = (
        events.groupby("session_id", sort=False)
        .agg(
            customer_id=("customer_id", "first"),
            first=("event_time", "min"),
            last=("event_time", "max"),
            n=("event_time", "size"),
        )
        .sort_values(["customer_id", "first"])
    )
    steps = t.groupby(events["session_id"]).diff().dt.total_seconds().to_numpy() / 60
    step_customer = events["customer_id"].to_numpy()[~np.isnan(steps)]
    steps = steps[~np.isnan(steps)]
    start_hour = (sess["first"] - sess["first"].dt.normalize()).dt.total_seconds() / 3600
    prev_last = sess.groupby("customer_id")["last"].shift()
    later = prev_last.notna().to_numpy()
    epoch = pd.Timestamp("2026-01-01", tz="UTC")
    tau = ((prev_last[later] - epoch).dt.total_seconds() / 86400).to_numpy()
    day = ((sess["first"][later].dt.normalize() - epoch).dt.total_seconds() / 86400).to_numpy()
    customers = pd.Index(sorted(events["customer_id"].unique()))
    scores = []
    for g in range(len(p.shares)):
        fav = np.isin(np.arange(len(TOUCHPOINTS)), p.favourites[g])
        p_tp = p.noise / len(TOUCHPOINTS) + (1 - p.noise) * fav / 3
        p_ch = p.noise / len(CHANNELS) + (1 - p.noise) * (np.arange(len(CHANNELS)) == p.channel[g])
        per_event = np.log(p_tp[tp]) + np.log(p_ch[ch])
        lam = p.per_session[g] - 1
        per_session = (sess["n"] - 1) * np.log(lam) - lam - gammaln(sess["n"].to_numpy())
        if hour:
            per_session -= 0.5 * (start_hour - p.hour[g]) ** 2
        mu = p.step_minutes[g]
        per_step = -np.log(mu) - steps / mu
        m = p.gap_days[g]
        upper = np.exp(-(day + 1 - tau) / m)
        lower = np.where(day > np.floor(tau), np.exp(-(day - tau) / m), 1.0)
        per_gap = np.log(np.maximum(lower - upper, 1e-300))
        total = (
            pd.Series(per_event)
            .groupby(events["customer_id"].to_numpy())
            .sum()
            .add(
                pd.Series(per_session.to_numpy()).groupby(sess["customer_id"].to_numpy()).sum(),
                fill_value=0,
            )
            .add(pd.Series(per_step).groupby(step_customer).sum(), fill_value=0)
            .add(
                pd.Series(per_gap).groupby(sess["customer_id"][later].to_numpy()).sum(),
                fill_value=0,
            )
        )
        scores.append(total.reindex(customers).fillna(0).to_numpy() + np.log(p.shares[g]))
    return pd.Series(np.argmax(np.column_stack(scores), axis=1), index=customers, name="oracle")


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

    events, truth, groups = planted_log(shape, customers, seed)
    with connect() as con:
        write_table(con, "events", events)
        features = customer_features(con)
    features = features.sort_values("customer_id", ignore_index=True)
    planted = truth.loc[features["customer_id"]].to_numpy()
    oracle = oracle_groups(events, groups).loc[features["customer_id"]].to_numpy()
    oracle_no_hour = oracle_groups(events, groups, hour=False).loc[features["customer_id"]]
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
        "ari_oracle": round(float(adjusted_rand_score(planted, oracle)), 3),
        "ari_oracle_no_hour": round(float(adjusted_rand_score(planted, oracle_no_hour)), 3),
    }


def recovery_table(rows: list[dict]) -> str:
    """The rows as a Markdown table, with a summary line."""
    lines = [
        "| shape | seed | customers | planted k | automatic k | ARI cjm | ARI cjm, k given "
        "| ARI k-means on shares, k given | ARI oracle | ARI oracle without hour |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['seed']} | {r['customers']:,} | {r['planted_k']} | "
            f"{r['auto_k']} | {r['ari_cjm']:.3f} | {r['ari_cjm_k_given']:.3f} | "
            f"{r['ari_kmeans_shares']:.3f} | {r['ari_oracle']:.3f} | "
            f"{r['ari_oracle_no_hour']:.3f} |"
        )
    found = sum(r["auto_k"] == r["planted_k"] for r in rows)
    lines += [
        "",
        f"Automatic k = planted k in {found} of {len(rows)} logs; median ARI cjm "
        f"{np.median([r['ari_cjm'] for r in rows]):.3f}, cjm with k given "
        f"{np.median([r['ari_cjm_k_given'] for r in rows]):.3f}, k-means on shares "
        f"{np.median([r['ari_kmeans_shares'] for r in rows]):.3f}, oracle "
        f"{np.median([r['ari_oracle'] for r in rows]):.3f} (without hour "
        f"{np.median([r['ari_oracle_no_hour'] for r in rows]):.3f}).",
    ]
    return "\n".join(lines)

"""Session planning: the day, channel, local start and device of every session."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.arrays import group_cumsum
from cjm.sample.customer_types import CUSTOMER_TYPES, FADE_DAYS
from cjm.sample.touchpoints import (
    CH,
    DEVICE_CHANNELS,
    HOUR_WEIGHTS,
    PRECURSOR_CHANNELS,
    SESSION_CHANNELS,
    TP,
)
from cjm.sample.window import DAY_S, SAMPLE_TIMEZONE, Window

# Session kinds
REGULAR, ANONYMOUS, PLANTED = 0, 1, 2


def plan_sessions(cust: pd.DataFrame, window: Window, rng: np.random.Generator) -> pd.DataFrame:
    """Day, channel and UTC start of every session, sorted by customer and start."""
    parts = [
        *_regular_sessions(cust, window, rng),
        *_anonymous_sessions(cust, rng),
        _precursor_sessions(cust, window, rng),
    ]
    s = pd.concat(parts, ignore_index=True)
    s = s[(s["day"] < window.days)].reset_index(drop=True)
    s["channel"] = _session_channels(s, cust, rng)
    s["start_s"] = _local_starts(s, window, rng)
    s = s.sort_values(["cust", "start_s", "kind"], kind="stable").reset_index(drop=True)
    s["device_id"] = _device_flags(s, cust, rng)
    return s


def _regular_sessions(
    cust: pd.DataFrame, window: Window, rng: np.random.Generator
) -> list[pd.DataFrame]:
    """Sessions of signed-up customers, and the signup session of each new one."""
    reg_cust, reg_day = _poisson_days(cust, window, rng)
    reg_cust, reg_day = _fade_before_churn(cust, reg_cust, reg_day, rng)
    first_day = cust["first_day"].to_numpy()
    signup = np.flatnonzero(cust["is_new"].to_numpy() & ~cust["visitor"].to_numpy())
    return [
        _session_part(reg_cust, reg_day, REGULAR),
        _session_part(signup, first_day[signup], REGULAR, link=TP["signup"]),
    ]


def _poisson_days(
    cust: pd.DataFrame, window: Window, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Customer and day of regular sessions: a Poisson process per customer between signup and
    the last quiet day."""
    type_idx = cust["type_idx"].to_numpy()
    is_new = cust["is_new"].to_numpy()
    first_day = cust["first_day"].to_numpy()
    precursor = cust["precursor"].to_numpy()
    known = np.flatnonzero(~cust["visitor"].to_numpy())

    lo = np.where(is_new, first_day + 1, 0)[known]
    hi = np.full(len(known), window.days)
    ch = cust["is_churner"].to_numpy()[known]
    last = np.where(
        precursor[known] >= 0,
        cust["precursor_day"].to_numpy()[known],
        cust["churn_day"].to_numpy()[known],
    )
    hi = np.where(ch, np.minimum(hi, last), hi)
    span = np.maximum(hi - lo, 0)
    gap = np.array([t.mean_gap_days for t in CUSTOMER_TYPES])[type_idx[known]]
    count = rng.poisson(span / gap)
    # Existing customers are active in the log at least once.
    count = np.where(~is_new[known] & (span > 0), np.maximum(count, 1), count)
    reg_cust = np.repeat(known, count)
    reg_day = np.repeat(lo, count) + (rng.random(count.sum()) * np.repeat(span, count)).astype(int)
    return reg_cust, reg_day


def _fade_before_churn(
    cust: pd.DataFrame, reg_cust: np.ndarray, reg_day: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Fewer and fewer sessions over the weeks before churn, in customer and day order."""
    churn_day = cust["churn_day"].to_numpy()
    order = np.lexsort((reg_day, reg_cust))
    reg_cust, reg_day = reg_cust[order], reg_day[order]
    # The earliest session is kept so nobody vanishes.
    is_first = np.r_[True, reg_cust[1:] != reg_cust[:-1]]
    to_churn = churn_day[reg_cust] - reg_day
    keep_p = np.where(
        cust["is_churner"].to_numpy()[reg_cust], np.clip(to_churn / FADE_DAYS, 0, 1) ** 2, 1.0
    )
    keep = is_first | (rng.random(len(reg_day)) < keep_p)
    return reg_cust[keep], reg_day[keep]


def _anonymous_sessions(cust: pd.DataFrame, rng: np.random.Generator) -> list[pd.DataFrame]:
    """Anonymous browsing: before a new customer signs up, and visitors who never do."""
    visitor = cust["visitor"].to_numpy()
    first_day = cust["first_day"].to_numpy()
    pre = np.flatnonzero(cust["is_new"].to_numpy() & cust["has_anon"].to_numpy() & ~visitor)
    n_pre = rng.choice([1, 2, 3], size=len(pre), p=[0.45, 0.35, 0.2])
    pre_cust = np.repeat(pre, n_pre)
    pre_day = np.repeat(first_day[pre], n_pre) - group_cumsum(
        rng.integers(1, 6, len(pre_cust)), pre_cust
    )
    vis = np.flatnonzero(visitor)
    n_vis = rng.choice([1, 2, 3], size=len(vis), p=[0.5, 0.3, 0.2])
    vis_cust = np.repeat(vis, n_vis)
    vis_day = (
        np.repeat(first_day[vis], n_vis)
        + group_cumsum(rng.integers(1, 6, len(vis_cust)), vis_cust)
        - 1
    )
    return [
        _session_part(pre_cust, pre_day, ANONYMOUS),
        _session_part(vis_cust, vis_day, ANONYMOUS),
    ]


def _precursor_sessions(
    cust: pd.DataFrame, window: Window, rng: np.random.Generator
) -> pd.DataFrame:
    """Churn precursors: the last session before churn (or, rarely, anywhere for non-churners)."""
    precursor = cust["precursor"].to_numpy()
    first_day = cust["first_day"].to_numpy()
    planted = np.flatnonzero(precursor >= 0)
    noise_lo = np.where(cust["is_new"].to_numpy(), first_day + 1, 0)[planted]
    noise_day = noise_lo + (rng.random(len(planted)) * (window.days - noise_lo)).astype(int)
    p_day = np.where(
        cust["is_churner"].to_numpy()[planted],
        cust["precursor_day"].to_numpy()[planted],
        noise_day,
    )
    return _session_part(planted, p_day, PLANTED, precursor=precursor[planted])


def _session_part(
    cust: np.ndarray,
    day: np.ndarray,
    kind: int,
    link: int = -1,
    precursor: np.ndarray | None = None,
) -> pd.DataFrame:
    """Sessions of one kind as rows of the session table."""
    return pd.DataFrame(
        {
            "cust": cust.astype(np.int64),
            "day": day.astype(np.int64),
            "kind": kind,
            "link": link,
            "precursor": -1 if precursor is None else precursor,
        }
    )


def _session_channels(s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Channel of every session, drawn from its customer type's mix."""
    type_idx = cust["type_idx"].to_numpy()[s["cust"].to_numpy()]
    probs = np.array(
        [[t.session_channels.get(c, 0.0) for c in SESSION_CHANNELS] for t in CUSTOMER_TYPES]
    )
    # Anonymous browsing and signups of device users happen on a device (web or app).
    on_device = (s["kind"].to_numpy() == ANONYMOUS) | (
        (s["link"].to_numpy() >= 0) & cust["has_anon"].to_numpy()[s["cust"].to_numpy()]
    )
    device_probs = probs.copy()
    device_probs[:, 2:] = 0
    device_probs[device_probs.sum(axis=1) == 0, 0] = 1
    device_probs /= device_probs.sum(axis=1, keepdims=True)
    p = np.where(on_device[:, None], device_probs[type_idx], probs[type_idx])
    channel = (rng.random(len(s))[:, None] > np.cumsum(p, axis=1)[:, :-1]).sum(axis=1)
    prec = s["precursor"].to_numpy()
    is_planted = s["kind"].to_numpy() == PLANTED
    planted_channel = np.array([CH[c] for c in PRECURSOR_CHANNELS])
    return np.where(is_planted, planted_channel[np.maximum(prec, 0)], channel)


def _local_starts(s: pd.DataFrame, window: Window, rng: np.random.Generator) -> np.ndarray:
    """UTC start (epoch seconds) of sessions at a channel-typical local time of their day."""
    channel = s["channel"].to_numpy()
    seconds = np.zeros(len(s), dtype=np.int64)
    for i, name in enumerate(SESSION_CHANNELS):
        mask = channel == i
        w = np.asarray(HOUR_WEIGHTS[name], dtype=float)
        hours = rng.choice(24, size=mask.sum(), p=w / w.sum())
        seconds[mask] = hours * 3600 + rng.integers(0, 3600, mask.sum())
    day0 = np.datetime64(window.start, "s")
    naive = (
        day0 + s["day"].to_numpy() * np.timedelta64(DAY_S, "s") + seconds.astype("timedelta64[s]")
    )
    local = pd.DatetimeIndex(naive).tz_localize(
        SAMPLE_TIMEZONE, ambiguous=np.zeros(len(s), dtype=bool), nonexistent="shift_forward"
    )
    return _to_epoch(local)


def _to_epoch(index: pd.DatetimeIndex) -> np.ndarray:
    """Epoch seconds of a timezone-aware index."""
    naive_utc = index.tz_convert("UTC").tz_localize(None).to_numpy()
    return naive_utc.astype("datetime64[s]").astype(np.int64)


def _device_flags(s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Mark sessions that carry the device id; existing customers log in on their first one."""
    c = s["cust"].to_numpy()
    kind = s["kind"].to_numpy()
    on_device = np.isin(s["channel"].to_numpy(), DEVICE_CHANNELS) & cust["has_anon"].to_numpy()[c]
    flag = (kind == ANONYMOUS) | (s["link"].to_numpy() >= 0)
    flag |= on_device & (kind != ANONYMOUS) & (rng.random(len(s)) < 0.7)
    existing = ~cust["is_new"].to_numpy()[c] & on_device & (kind == REGULAR)
    first_login = existing & ~pd.Series(existing).groupby(c).cumsum().gt(1).to_numpy()
    s.loc[first_login, "link"] = TP["login"]
    return flag | first_login

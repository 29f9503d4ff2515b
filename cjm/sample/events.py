"""Events: the instant of every touchpoint, then its ids, channel, revenue, sentiment, device
and page."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.arrays import group_cumsum, unique_hex
from cjm.sample.customer_types import CUSTOMER_TYPES, FADE_DAYS
from cjm.sample.sessions import ANONYMOUS
from cjm.sample.touchpoints import (
    CH,
    CHANNELS,
    CONVERSION_TOUCHPOINTS,
    DELIGHT_POINTS,
    DEVICE_CHANNELS,
    FIXED_CHANNEL,
    PAGES,
    SENTIMENT_BASE,
    TOUCHPOINTS,
    TP,
)
from cjm.sample.window import DAY_S, Window

MIN_SESSION_GAP_S = 2 * 3600
MAX_STEP_S = 600


def time_events(
    s: pd.DataFrame,
    cust: pd.DataFrame,
    window: Window,
    ev_session: np.ndarray,
    ev_step: np.ndarray,
    ev_tp: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Event instants: seconds to minutes apart in a session, sessions at least hours apart."""
    order = np.lexsort((ev_step, ev_session))
    ev_session, ev_tp = ev_session[order], ev_tp[order]
    c = s["cust"].to_numpy()
    type_idx = cust["type_idx"].to_numpy()[c[ev_session]]
    step_min = np.array([t.step_seconds[0] for t in CUSTOMER_TYPES])[type_idx]
    step_mean = np.array([t.step_seconds[1] for t in CUSTOMER_TYPES])[type_idx]
    # Calls take longer between recorded steps than clicks.
    slow = np.where(s["channel"].to_numpy()[ev_session] == CH["call_center"], 2.0, 1.0)
    gap = np.minimum(step_min + rng.exponential(step_mean * slow), MAX_STEP_S).astype(np.int64)
    first = np.r_[True, ev_session[1:] != ev_session[:-1]]
    gap[first] = 0
    offset = group_cumsum(gap, ev_session)
    duration = np.zeros(len(s), dtype=np.int64)
    np.maximum.at(duration, ev_session, offset)

    # Push overlapping sessions of a customer apart, keeping their order: start'[i] is the
    # running max of (start - room needed before i), plus that room.
    need = duration + MIN_SESSION_GAP_S
    room = group_cumsum(need, c) - need
    big = np.int64(10**11)
    shifted = np.maximum.accumulate(s["start_s"].to_numpy() - room + c * big) - c * big + room
    s = s.assign(start_s=shifted, duration_s=duration)

    churn_s = cust["churn_s"].to_numpy()[c]
    keep_session = (shifted < window.end_s) & (shifted + duration < churn_s)
    t = shifted[ev_session] + offset
    keep = keep_session[ev_session] & (t >= window.start_s) & (t < window.end_s)
    events = pd.DataFrame({"session": ev_session[keep], "time_s": t[keep], "tp": ev_tp[keep]})
    return events, s


def decorate(
    events: pd.DataFrame, s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Ids, channel, revenue, sentiment, device and page of every event; time-ordered."""
    sess = events["session"].to_numpy()
    t = events["time_s"].to_numpy()
    c = s["cust"].to_numpy()[sess]
    s_channel = s["channel"].to_numpy()[sess]
    type_idx = cust["type_idx"].to_numpy()[c]

    walked = events["tp"].to_numpy()
    fixed = np.array([CH.get(FIXED_CHANNEL.get(name, ""), -1) for name in TOUCHPOINTS])
    channel = np.where(fixed[walked] >= 0, fixed[walked], s_channel)
    tp = _first_order_is_a_purchase(walked, c, cust)
    # Drawn in this order from rng, so that a seed keeps giving the same bytes.
    revenue = _revenue(tp, type_idx, rng)
    sentiment = _sentiment(tp, t, c, type_idx, cust, rng)
    page = _pages(tp, channel, rng)
    frame = pd.DataFrame(
        {
            "event_id": None,
            **_customer_ids(sess, c, s, cust),
            "event_time": pd.to_datetime(t, unit="s", utc=True),
            "touchpoint": np.array(TOUCHPOINTS)[tp],
            "channel": np.array(CHANNELS)[channel],
            "revenue": revenue,
            "sentiment": sentiment,
            "device": _devices(s_channel, c, cust),
            "page": page,
            "true_customer_id": cust["customer_id"].to_numpy()[c],
            "true_session": sess,
            "time_s": t,
        }
    )
    frame = frame.sort_values(["time_s", "true_customer_id", "true_session"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["event_id"] = np.char.add("ev", unique_hex(rng, len(frame), 10))
    return frame


def _customer_ids(
    sess: np.ndarray, c: np.ndarray, s: pd.DataFrame, cust: pd.DataFrame
) -> dict[str, np.ndarray]:
    """customer_id once signed up, anonymous_id in the sessions that carry the device id."""
    known = (s["kind"].to_numpy()[sess] != ANONYMOUS) & ~cust["visitor"].to_numpy()[c]
    return {
        "customer_id": np.where(known, cust["customer_id"].to_numpy()[c], None),
        "anonymous_id": np.where(
            s["device_id"].to_numpy()[sess], cust["anonymous_id"].to_numpy()[c], None
        ),
    }


def _first_order_is_a_purchase(tp: np.ndarray, c: np.ndarray, cust: pd.DataFrame) -> np.ndarray:
    """The touchpoints with a new customer's first order made a purchase, not a reorder."""
    # Events are in journey order here.
    conversions = np.flatnonzero(np.isin(tp, [TP[name] for name in CONVERSION_TOUCHPOINTS]))
    _, first = np.unique(c[conversions], return_index=True)
    first = conversions[first]
    tp = tp.copy()
    tp[first[cust["is_new"].to_numpy()[c[first]] & (tp[first] == TP["reorder"])]] = TP["purchase"]
    return tp


def _revenue(tp: np.ndarray, type_idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Amounts of purchases and reorders around their type's medians; NaN elsewhere."""
    revenue = np.full(len(tp), np.nan)
    for i, name in enumerate(CONVERSION_TOUCHPOINTS):
        mask = tp == TP[name]
        median = np.array([ct.revenue[i] for ct in CUSTOMER_TYPES])[type_idx[mask]]
        revenue[mask] = np.round(median * rng.lognormal(0.0, 0.45, mask.sum()), 2)
    return revenue


def _sentiment(
    tp: np.ndarray,
    t: np.ndarray,
    c: np.ndarray,
    type_idx: np.ndarray,
    cust: pd.DataFrame,
    rng: np.random.Generator,
) -> np.ndarray:
    """Sentiment of the touchpoints that carry one, in -1..1; NaN elsewhere."""
    base = np.array([SENTIMENT_BASE.get(name, np.nan) for name in TOUCHPOINTS])[tp]
    shift = np.array([ct.sentiment_shift for ct in CUSTOMER_TYPES])[type_idx]
    # Mood sours in the weeks before churning.
    near_churn = t >= cust["churn_s"].to_numpy()[c] - FADE_DAYS * DAY_S
    is_delight = np.isin(tp, [TP[p] for p in DELIGHT_POINTS])
    sentiment = base + np.where(is_delight, 0.0, shift) - 0.3 * near_churn
    return np.round(np.clip(sentiment + rng.normal(0, 0.15, len(tp)), -1, 1), 2)


def _devices(s_channel: np.ndarray, c: np.ndarray, cust: pd.DataFrame) -> np.ndarray:
    """The customer's desktop or phone on the web, their phone in the app, the till in store."""
    return np.select(
        [s_channel == CH["web"], s_channel == CH["mobile_app"], s_channel == CH["store"]],
        [cust["web_device"].to_numpy()[c], cust["app_device"].to_numpy()[c], "pos"],
        "phone",
    )


def _pages(tp: np.ndarray, channel: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The page of web and app events (product pages with a product number); None elsewhere."""
    page = np.array([PAGES.get(name) for name in TOUCHPOINTS], dtype=object)[tp]
    sku = rng.integers(1000, 10000, len(tp))
    # Product pages end in "/" in PAGES and get a product number.
    page = np.array(
        [
            p + str(k) if p is not None and p.endswith("/") else p
            for p, k in zip(page, sku.tolist(), strict=True)
        ],
        dtype=object,
    )
    return np.where(np.isin(channel, DEVICE_CHANNELS), page, None)

"""Synthetic customer-interaction event log with planted structure, and its ground truth.

The log is simulated customer by customer (types, churn, sessions, touchpoint chains) and written
as three event files in different formats plus a truth folder, so every analytics module can be
tested against structure that is known to be in the events.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SAMPLE_TIMEZONE = "Europe/Amsterdam"
# Fixed (not seed dependent) so a seed always gives the same bytes; with the default 90 days the
# log crosses the March daylight-saving change of SAMPLE_TIMEZONE.
LOG_END = date(2026, 4, 30)

OUT_COLUMNS = (
    "event_id",
    "customer_id",
    "anonymous_id",
    "event_time",
    "touchpoint",
    "channel",
    "revenue",
    "sentiment",
    "device",
    "page",
)
CSV_FILE = "events_web.csv"
JSONL_FILE = "events_app.jsonl"
PARQUET_FILE = "events_store.parquet"
# Sorted by name, which is the order the ingestion reads them: a duplicate always comes after its
# original in this order, so "first occurrence wins" gives exactly the planted counts.
EVENT_FILES = (JSONL_FILE, PARQUET_FILE, CSV_FILE)
FILE_SHARES = (0.28, 0.36, 0.36)

TOUCHPOINT_STAGES = {
    "ad_click": "awareness",
    "social_post_view": "awareness",
    "email_open": "awareness",
    "promo_email_open": "awareness",
    "search": "consideration",
    "product_view": "consideration",
    "compare": "consideration",
    "review_read": "consideration",
    "coupon_view": "consideration",
    "signup": "consideration",
    "add_to_cart": "purchase",
    "checkout": "purchase",
    "purchase": "purchase",
    "payment_error": "purchase",
    "login": "retention",
    "app_open": "retention",
    "reorder": "retention",
    "support_chat": "retention",
    "ticket": "retention",
    "complaint": "retention",
    "refund_request": "retention",
    "loyalty_reward": "retention",
    "review_posted": "advocacy",
    "referral": "advocacy",
    "unsubscribe": "exit",
    "cancel_subscription": "exit",
    "cancel_page": "exit",
}
TOUCHPOINTS = tuple(TOUCHPOINT_STAGES)
TP = {name: i for i, name in enumerate(TOUCHPOINTS)}
N_TP = len(TOUCHPOINTS)
END = N_TP  # the "session ends" state of the touchpoint chain

CONVERSION_TOUCHPOINTS = ("purchase", "reorder")
PAIN_POINTS = ("payment_error",)
DELIGHT_POINTS = ("loyalty_reward",)
CHURN_PRECURSORS = (
    ("complaint", "refund_request", "cancel_page"),
    ("support_chat", "support_chat", "unsubscribe"),
    ("ticket", "complaint", "cancel_subscription"),
)
CHURN_PRECURSORS_IDX = [[TP[tp] for tp in seq] for seq in CHURN_PRECURSORS]
# Where each precursor sequence happens (the exit touchpoints still get their own channel).
PRECURSOR_CHANNELS = ("web", "call_center", "web")

SESSION_CHANNELS = ("web", "mobile_app", "store", "call_center")
CHANNELS = (*SESSION_CHANNELS, "email", "social")
CH = {name: i for i, name in enumerate(CHANNELS)}
DEVICE_CHANNELS = (CH["web"], CH["mobile_app"])
# These touchpoints happen in their own channel whatever channel the session is in.
FIXED_CHANNEL = {
    "email_open": "email",
    "promo_email_open": "email",
    "unsubscribe": "email",
    "social_post_view": "social",
    "cancel_page": "web",
    "cancel_subscription": "web",
}
# Touchpoints possible in a store visit or a call; web and app allow (nearly) everything.
CHANNEL_TOUCHPOINTS = {
    "store": {
        "product_view",
        "add_to_cart",
        "checkout",
        "purchase",
        "payment_error",
        "loyalty_reward",
        "complaint",
        "refund_request",
    },
    "call_center": {"support_chat", "ticket", "complaint", "refund_request", "cancel_subscription"},
}
# Before signing up a visitor can browse but not buy or get service.
ANONYMOUS_TOUCHPOINTS = {
    "ad_click",
    "social_post_view",
    "email_open",
    "promo_email_open",
    "search",
    "product_view",
    "compare",
    "review_read",
    "coupon_view",
    "add_to_cart",
}

# Shared funnel grammar: from -> {to: weight}. Customer types re-weight the destinations, so the
# stage order is common to all types while the touchpoint mix differs.
GRAMMAR: dict[str, dict[str, float]] = {
    "ad_click": {"product_view": 5, "search": 2, "coupon_view": 1, "END": 1},
    "social_post_view": {"product_view": 3, "ad_click": 1, "END": 3},
    "email_open": {"product_view": 4, "search": 1, "loyalty_reward": 1, "END": 3},
    "promo_email_open": {"coupon_view": 5, "product_view": 3, "unsubscribe": 0.02, "END": 2},
    "search": {"product_view": 6, "search": 1, "compare": 1, "END": 1},
    "product_view": {
        "product_view": 3,
        "compare": 1.5,
        "review_read": 1.5,
        "add_to_cart": 2,
        "search": 1,
        "coupon_view": 0.5,
        "END": 2,
    },
    "compare": {"product_view": 3, "review_read": 2, "compare": 1, "add_to_cart": 1, "END": 1.5},
    "review_read": {
        "product_view": 2,
        "compare": 1,
        "add_to_cart": 1.5,
        "review_read": 1,
        "END": 1.5,
    },
    "coupon_view": {"product_view": 3, "add_to_cart": 3, "coupon_view": 1, "END": 1},
    "add_to_cart": {"checkout": 5, "product_view": 1, "END": 1.5},
    "checkout": {"purchase": 8, "END": 1},
    "purchase": {"END": 4, "review_posted": 0.5, "referral": 0.3, "product_view": 0.5},
    "payment_error": {"END": 9, "checkout": 1},
    "app_open": {
        "product_view": 3,
        "reorder": 3,
        "search": 1,
        "loyalty_reward": 0.5,
        "support_chat": 0.3,
        "END": 1.5,
    },
    "reorder": {"END": 4, "review_posted": 0.3, "referral": 0.2},
    "support_chat": {"support_chat": 1.5, "ticket": 2, "complaint": 0.7, "END": 3},
    "ticket": {"support_chat": 1, "complaint": 0.5, "END": 3},
    "complaint": {"refund_request": 0.3, "ticket": 1, "support_chat": 1, "END": 3},
    "refund_request": {"support_chat": 1, "END": 3},
    "loyalty_reward": {"purchase": 4, "reorder": 4, "add_to_cart": 1, "END": 0.3},
    "review_posted": {"referral": 1, "END": 3},
    "referral": {"END": 1},
}
# The mechanics of the checkout are the same for everyone; types only decide who gets there.
UNWEIGHTED_ROWS = {"add_to_cart", "checkout", "payment_error"}
ENTRY_PROSPECT = {
    "ad_click": 3,
    "social_post_view": 2,
    "email_open": 1,
    "promo_email_open": 2,
    "search": 2,
    "product_view": 1,
    "support_chat": 0.3,  # pre-sales questions
}
ENTRY_CUSTOMER = {
    "email_open": 1,
    "promo_email_open": 1.5,
    "search": 1.5,
    "product_view": 1,
    "app_open": 3,
    "support_chat": 1,
    "ticket": 0.5,
    "complaint": 0.2,
    "loyalty_reward": 0.4,
    "review_posted": 0.3,
    "referral": 0.2,
}
# Customers on their way out contact support more: in the weeks before churning, a growing share
# of their sessions start from these entries (at most UNHAPPY_MAX_SHARE, on the last day).
ENTRY_UNHAPPY = {
    "support_chat": 3,
    "ticket": 2,
    "complaint": 1.5,
    "refund_request": 0.5,
    "product_view": 0.5,
    "app_open": 0.5,
}
UNHAPPY_MAX_SHARE = 0.6
MAX_SESSION_EVENTS = 14

# Local hour-of-day profile of session starts per session channel.
HOUR_WEIGHTS = {
    # hours 0-11, then 12-23
    "web": [2, 1, 0.5, 0.5, 0.5, 1, 3, 6, 9, 10, 10, 10]
    + [11, 10, 10, 10, 10, 11, 13, 16, 18, 16, 11, 5],
    "mobile_app": [3, 1.5, 0.5, 0.5, 0.5, 2, 6, 14, 16, 9, 8, 9]
    + [14, 12, 8, 8, 10, 14, 16, 18, 20, 20, 16, 8],
    "store": [0] * 9 + [6, 8, 10, 11, 10, 8, 8, 10, 11, 9] + [0] * 5,
    "call_center": [0] * 8 + [8, 10, 10, 9, 7, 8, 9, 8, 7, 6] + [0] * 6,
}

SENTIMENT_BASE = {
    "support_chat": 0.1,
    "ticket": -0.25,
    "complaint": -0.7,
    "refund_request": -0.5,
    "payment_error": -0.75,
    "loyalty_reward": 0.75,
    "review_posted": 0.45,
}
PAGES = {
    "ad_click": "/landing",
    "search": "/search",
    "product_view": "/products/",
    "compare": "/compare",
    "review_read": "/reviews/",
    "coupon_view": "/coupons",
    "signup": "/signup",
    "login": "/login",
    "add_to_cart": "/cart",
    "checkout": "/checkout",
    "purchase": "/checkout/confirmation",
    "payment_error": "/checkout/payment",
    "app_open": "/home",
    "reorder": "/orders/reorder",
    "support_chat": "/help/chat",
    "ticket": "/help/ticket",
    "complaint": "/help/complaint",
    "refund_request": "/orders/refund",
    "loyalty_reward": "/rewards",
    "review_posted": "/reviews/new/",
    "referral": "/refer",
    "unsubscribe": "/email/unsubscribe",
    "cancel_subscription": "/account/subscription/cancel",
    "cancel_page": "/account/cancel",
}

NEW_CUSTOMER_SHARE = 0.4
VISITOR_SHARE = 0.06  # anonymous visitors who never sign up, relative to known customers
PAYMENT_TROUBLE_SHARE = 0.12
PAYMENT_ERROR_RATE = (0.005, 0.8)  # chance a purchase attempt fails: other customers, troubled
PRECURSOR_SHARE = 0.85  # churners that show a precursor sequence before leaving
NOISE_PRECURSOR_SHARE = 0.03  # non-churners that show one anyway
# Churners disengage over weeks, not days: sessions thin out (and support contacts and bad moods
# rise) over the FADE_DAYS before the churn date, so churn within a month is foreseeable from the
# behaviour before it, as with real customers. Churners have at least MIN_CHURN_TENURE_DAYS.
FADE_DAYS = 56
MIN_CHURN_TENURE_DAYS = 21
MIN_SESSION_GAP_S = 2 * 3600
MAX_STEP_S = 600
DAY_S = 86_400


@dataclass(frozen=True)
class CustomerType:
    """Behavioural parameters of one planted customer type."""

    name: str
    description: str
    share: float
    churn_rate: float
    session_channels: dict[str, float]
    mean_gap_days: float
    end_weight: float  # weight of "session ends" after each event: higher means shorter sessions
    step_seconds: tuple[float, float]  # minimum and mean extra seconds between events
    revenue: tuple[float, float]  # median purchase and reorder amounts
    sentiment_shift: float
    precursor_weights: tuple[float, float, float]
    affinity: dict[str, float]  # touchpoint -> multiplier of the grammar weights (default 1)
    web_mobile_share: float = 0.3  # web sessions from a phone browser rather than a desktop


CUSTOMER_TYPES = (
    CustomerType(
        name="mobile_regular",
        description="Frequent short sessions in the mobile app: opens the app and reorders.",
        share=0.24,
        churn_rate=0.22,
        session_channels={"mobile_app": 0.9, "web": 0.08, "store": 0.02},
        mean_gap_days=4.3,
        end_weight=2.2,
        step_seconds=(3, 15),
        revenue=(32.0, 24.0),
        sentiment_shift=0.05,
        precursor_weights=(0.3, 0.3, 0.4),
        affinity={
            "app_open": 8,
            "reorder": 6,
            "product_view": 1.2,
            "search": 0.5,
            "compare": 0.1,
            "review_read": 0.1,
            "coupon_view": 0.2,
            "promo_email_open": 0.2,
            "email_open": 0.5,
            "social_post_view": 1.5,
            "support_chat": 0.2,
            "ticket": 0.2,
            "complaint": 0.1,
            "review_posted": 0.2,
            "referral": 0.2,
        },
        web_mobile_share=0.7,
    ),
    CustomerType(
        name="bargain_hunter",
        description="Reacts to promotion emails and coupons, buys when there is a discount.",
        share=0.2,
        churn_rate=0.27,
        session_channels={"web": 0.75, "mobile_app": 0.2, "store": 0.05},
        mean_gap_days=8.0,
        end_weight=2.6,
        step_seconds=(5, 35),
        revenue=(26.0, 18.0),
        sentiment_shift=0.0,
        precursor_weights=(0.2, 0.6, 0.2),
        affinity={
            "promo_email_open": 10,
            "coupon_view": 7,
            "product_view": 1.5,
            "email_open": 0.8,
            "ad_click": 0.8,
            "social_post_view": 0.3,
            "search": 0.4,
            "compare": 0.3,
            "review_read": 0.2,
            "app_open": 0.3,
            "reorder": 0.3,
            "purchase": 1.2,
            "support_chat": 0.2,
            "ticket": 0.2,
            "complaint": 0.2,
            "review_posted": 0.2,
            "referral": 0.4,
        },
    ),
    CustomerType(
        name="researcher",
        description="Long web sessions searching, comparing and reading reviews; rarely buys.",
        share=0.2,
        churn_rate=0.27,
        session_channels={"web": 0.92, "mobile_app": 0.06, "store": 0.02},
        mean_gap_days=10.0,
        end_weight=3.0,
        step_seconds=(10, 80),
        revenue=(140.0, 60.0),
        sentiment_shift=0.0,
        precursor_weights=(0.4, 0.3, 0.3),
        affinity={
            "search": 5,
            "product_view": 1.2,
            "compare": 6,
            "review_read": 6,
            "ad_click": 0.4,
            "social_post_view": 0.3,
            "email_open": 0.3,
            "promo_email_open": 0.1,
            "coupon_view": 0.1,
            "add_to_cart": 0.25,
            "purchase": 0.5,
            "reorder": 0.1,
            "app_open": 0.1,
            "loyalty_reward": 0.2,
            "support_chat": 0.15,
            "ticket": 0.1,
            "complaint": 0.05,
            "review_posted": 0.2,
            "referral": 0.05,
        },
    ),
    CustomerType(
        name="support_heavy",
        description="Calls and chats with support, files tickets and complaints; negative mood.",
        share=0.16,
        churn_rate=0.5,
        session_channels={"call_center": 0.6, "web": 0.32, "mobile_app": 0.08},
        mean_gap_days=6.5,
        end_weight=1.6,
        step_seconds=(20, 90),
        revenue=(55.0, 40.0),
        sentiment_shift=-0.35,
        precursor_weights=(0.35, 0.35, 0.3),
        affinity={
            "support_chat": 6,
            "ticket": 4,
            "complaint": 3,
            "refund_request": 2,
            "product_view": 0.8,
            "search": 0.4,
            "compare": 0.2,
            "review_read": 0.3,
            "coupon_view": 0.2,
            "promo_email_open": 0.2,
            "email_open": 0.8,
            "app_open": 0.3,
            "reorder": 0.3,
            "loyalty_reward": 0.2,
            "review_posted": 0.3,
            "referral": 0.02,
        },
    ),
    CustomerType(
        name="loyal_advocate",
        description="Buys in store and online, collects rewards, posts reviews and refers friends.",
        share=0.2,
        churn_rate=0.08,
        session_channels={"store": 0.55, "web": 0.4, "mobile_app": 0.05},
        mean_gap_days=7.0,
        end_weight=1.0,
        step_seconds=(5, 40),
        revenue=(85.0, 50.0),
        sentiment_shift=0.25,
        precursor_weights=(0.4, 0.2, 0.4),
        affinity={
            "purchase": 4,
            "review_posted": 8,
            "referral": 6,
            "loyalty_reward": 4,
            "product_view": 0.5,
            "add_to_cart": 1.5,
            "email_open": 1.2,
            "search": 0.3,
            "compare": 0.2,
            "review_read": 0.3,
            "coupon_view": 0.2,
            "promo_email_open": 0.2,
            "ad_click": 0.4,
            "social_post_view": 0.4,
            "app_open": 0.2,
            "reorder": 0.8,
            "support_chat": 0.15,
            "ticket": 0.1,
            "complaint": 0.05,
        },
    ),
)
TYPE_NAMES = tuple(t.name for t in CUSTOMER_TYPES)

# Session kinds
REGULAR, ANONYMOUS, PLANTED = 0, 1, 2


@dataclass(frozen=True)
class SampleSummary:
    """What generate_sample wrote."""

    out_dir: Path
    files: list[Path]  # the event files written
    customers: int
    events: int  # clean events written (before messy rows were added)
    messy_rows: dict[str, dict[str, int]]  # per file name: {"duplicate": n, "rejected": n}
    log_start: datetime  # UTC
    log_end: datetime  # UTC, last day of the log


@dataclass(frozen=True)
class SimulatedLog:
    """Clean simulated events (UTC, time-ordered) and the per-customer ground truth."""

    events: pd.DataFrame
    customers: pd.DataFrame
    log_start: datetime
    log_end: datetime
    horizon_end: datetime


@dataclass(frozen=True)
class _Window:
    start: date
    days: int
    horizon_days: int

    @property
    def start_s(self) -> int:
        return _epoch(self.start)

    @property
    def end_s(self) -> int:
        """First second after the log."""
        return self.start_s + self.days * DAY_S


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------


def simulate_events(
    customers: int = 1000, seed: int = 7, days: int = 90, horizon_days: int = 60
) -> SimulatedLog:
    """Simulate the clean event log and its ground truth (no files, no messy rows)."""
    if customers < 1 or days < 1 or horizon_days < 0:
        raise ValueError("customers and days must be at least 1, horizon_days at least 0")
    rng = np.random.default_rng(seed)
    window = _Window(LOG_END - timedelta(days=days - 1), days, horizon_days)
    cust = _draw_customers(customers, window, rng)
    sessions = _plan_sessions(cust, window, rng)
    ev_session, ev_step, ev_tp = _fill_sessions(sessions, cust, rng)
    events, sessions = _time_events(sessions, cust, window, ev_session, ev_step, ev_tp, rng)
    events = _decorate(events, sessions, cust, rng)
    truth = _customer_truth(cust, events)
    log_start = datetime(window.start.year, window.start.month, window.start.day, tzinfo=UTC)
    return SimulatedLog(
        events=events,
        customers=truth,
        log_start=log_start,
        log_end=log_start + timedelta(days=days - 1),
        horizon_end=log_start + timedelta(days=days - 1 + horizon_days),
    )


def _draw_customers(customers: int, window: _Window, rng: np.random.Generator) -> pd.DataFrame:
    n = customers + round(customers * VISITOR_SHARE)
    visitor = np.arange(n) >= customers
    type_idx = rng.choice(len(CUSTOMER_TYPES), size=n, p=[t.share for t in CUSTOMER_TYPES])
    is_new = visitor | (rng.random(n) < NEW_CUSTOMER_SHARE)
    has_anon = visitor | (rng.random(n) < np.where(is_new, 0.85, 0.6))
    # New customers sign up (visitors first visit) early enough to show some behaviour.
    first_day = np.where(is_new, rng.integers(0, max(1, window.days - 14), n), 0)
    trouble = ~visitor & (rng.random(n) < PAYMENT_TROUBLE_SHARE)

    churn_rate = np.array([t.churn_rate for t in CUSTOMER_TYPES])[type_idx]
    # A broken checkout drives customers away: the pain point shows up in churn too.
    churn_rate = np.minimum(churn_rate * np.where(trouble, 2.5, 1.0), 0.95)
    lo = np.where(is_new, first_day, 0) + MIN_CHURN_TENURE_DAYS
    hi = window.days + window.horizon_days
    is_churner = ~visitor & (rng.random(n) < churn_rate) & (lo < hi)
    churn_day = np.where(is_churner, rng.integers(lo, np.maximum(lo + 1, hi)), -1)

    weights = np.array([t.precursor_weights for t in CUSTOMER_TYPES])[type_idx]
    pick = (rng.random(n)[:, None] > np.cumsum(weights, axis=1)).sum(axis=1)
    shows = np.where(
        is_churner, rng.random(n) < PRECURSOR_SHARE, rng.random(n) < NOISE_PRECURSOR_SHARE
    )
    precursor = np.where(shows & ~visitor, pick, -1)
    precursor_day = np.where(is_churner, churn_day - rng.integers(1, 11, n), -1)

    anon_ids = _unique_hex(rng, n, 12)
    web_mobile = np.array([t.web_mobile_share for t in CUSTOMER_TYPES])[type_idx]
    return pd.DataFrame(
        {
            "customer_id": [
                f"anon:a{h}" if v else f"C{i + 1:06d}"
                for i, (v, h) in enumerate(zip(visitor, anon_ids, strict=True))
            ],
            "anonymous_id": np.where(has_anon, np.char.add("a", anon_ids), None),
            "type_idx": type_idx,
            "visitor": visitor,
            "is_new": is_new,
            "has_anon": has_anon,
            "first_day": first_day,
            "trouble": trouble,
            "is_churner": is_churner,
            "churn_day": churn_day,
            "churn_s": np.where(
                is_churner, window.start_s + churn_day * DAY_S, np.iinfo(np.int64).max
            ),
            "precursor": precursor,
            "precursor_day": precursor_day,
            "web_device": np.where(rng.random(n) < web_mobile, "mobile_web", "desktop"),
            "app_device": np.where(rng.random(n) < 0.55, "ios", "android"),
        }
    )


def _unique_hex(rng: np.random.Generator, n: int, digits: int) -> np.ndarray:
    values = rng.choice(16**digits, size=n, replace=False)
    return np.array([f"{v:0{digits}x}" for v in values])


def _plan_sessions(cust: pd.DataFrame, window: _Window, rng: np.random.Generator) -> pd.DataFrame:
    """Day, channel and UTC start of every session, sorted by customer and start."""
    type_idx = cust["type_idx"].to_numpy()
    visitor = cust["visitor"].to_numpy()
    is_new = cust["is_new"].to_numpy()
    has_anon = cust["has_anon"].to_numpy()
    first_day = cust["first_day"].to_numpy()
    is_churner = cust["is_churner"].to_numpy()
    churn_day = cust["churn_day"].to_numpy()
    precursor = cust["precursor"].to_numpy()
    precursor_day = cust["precursor_day"].to_numpy()
    known = np.flatnonzero(~visitor)

    # Regular sessions: a Poisson process per customer between signup and the last quiet day.
    lo = np.where(is_new, first_day + 1, 0)[known]
    hi = np.full(len(known), window.days)
    ch = is_churner[known]
    last = np.where(precursor[known] >= 0, precursor_day[known], churn_day[known])
    hi = np.where(ch, np.minimum(hi, last), hi)
    span = np.maximum(hi - lo, 0)
    gap = np.array([t.mean_gap_days for t in CUSTOMER_TYPES])[type_idx[known]]
    count = rng.poisson(span / gap)
    # Existing customers are active in the log at least once.
    count = np.where(~is_new[known] & (span > 0), np.maximum(count, 1), count)
    reg_cust = np.repeat(known, count)
    reg_day = np.repeat(lo, count) + (rng.random(count.sum()) * np.repeat(span, count)).astype(int)
    # Activity fades over the weeks before churn; the earliest session is kept so nobody vanishes.
    order = np.lexsort((reg_day, reg_cust))
    reg_cust, reg_day = reg_cust[order], reg_day[order]
    is_first = np.r_[True, reg_cust[1:] != reg_cust[:-1]]
    to_churn = churn_day[reg_cust] - reg_day
    keep_p = np.where(is_churner[reg_cust], np.clip(to_churn / FADE_DAYS, 0, 1) ** 2, 1.0)
    keep = is_first | (rng.random(len(reg_day)) < keep_p)
    reg_cust, reg_day = reg_cust[keep], reg_day[keep]

    parts = [_session_part(reg_cust, reg_day, REGULAR)]
    signup = np.flatnonzero(is_new & ~visitor)
    parts.append(_session_part(signup, first_day[signup], REGULAR, link=TP["signup"]))

    # Anonymous browsing: before a new customer signs up, and visitors who never do.
    pre = np.flatnonzero(is_new & has_anon & ~visitor)
    n_pre = rng.choice([1, 2, 3], size=len(pre), p=[0.45, 0.35, 0.2])
    pre_cust = np.repeat(pre, n_pre)
    pre_day = np.repeat(first_day[pre], n_pre) - _group_cumsum(
        rng.integers(1, 6, len(pre_cust)), pre_cust
    )
    parts.append(_session_part(pre_cust, pre_day, ANONYMOUS))
    vis = np.flatnonzero(visitor)
    n_vis = rng.choice([1, 2, 3], size=len(vis), p=[0.5, 0.3, 0.2])
    vis_cust = np.repeat(vis, n_vis)
    vis_day = (
        np.repeat(first_day[vis], n_vis)
        + _group_cumsum(rng.integers(1, 6, len(vis_cust)), vis_cust)
        - 1
    )
    parts.append(_session_part(vis_cust, vis_day, ANONYMOUS))

    # Churn precursors: the last session before churn (or, rarely, anywhere for non-churners).
    planted = np.flatnonzero(precursor >= 0)
    noise_lo = np.where(is_new, first_day + 1, 0)[planted]
    noise_day = noise_lo + (rng.random(len(planted)) * (window.days - noise_lo)).astype(int)
    p_day = np.where(is_churner[planted], precursor_day[planted], noise_day)
    parts.append(_session_part(planted, p_day, PLANTED, precursor=precursor[planted]))

    s = pd.concat(parts, ignore_index=True)
    s = s[(s["day"] < window.days)].reset_index(drop=True)
    s["channel"] = _session_channels(s, cust, rng)
    s["start_s"] = _local_starts(s, window, rng)
    s = s.sort_values(["cust", "start_s", "kind"], kind="stable").reset_index(drop=True)
    s["device_id"] = _device_flags(s, cust, rng)
    return s


def _session_part(
    cust: np.ndarray,
    day: np.ndarray,
    kind: int,
    link: int = -1,
    precursor: np.ndarray | None = None,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cust": cust.astype(np.int64),
            "day": day.astype(np.int64),
            "kind": kind,
            "link": link,
            "precursor": -1 if precursor is None else precursor,
        }
    )


def _group_cumsum(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each new value of the (sorted) groups."""
    total = np.cumsum(values)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    base = np.maximum.accumulate(np.where(starts, np.arange(len(values)), 0))
    return total - total[base] + values[base]


def _session_channels(s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
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


def _local_starts(s: pd.DataFrame, window: _Window, rng: np.random.Generator) -> np.ndarray:
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


def _transition_tables() -> tuple[np.ndarray, np.ndarray]:
    """Cumulative transition and entry probabilities per type and session channel (and phase)."""
    n_types, n_chan = len(CUSTOMER_TYPES), len(SESSION_CHANNELS)
    base = np.zeros((N_TP, N_TP + 1))
    for src, row in GRAMMAR.items():
        for dst, w in row.items():
            base[TP[src], END if dst == "END" else TP[dst]] = w
    allowed = np.ones((n_chan, N_TP + 1), dtype=bool)
    allowed[SESSION_CHANNELS.index("web"), TP["app_open"]] = False
    for name, tps in CHANNEL_TOUCHPOINTS.items():
        allowed[SESSION_CHANNELS.index(name), :N_TP] = [tp in tps for tp in TOUCHPOINTS]
    unweighted = np.array([tp in UNWEIGHTED_ROWS for tp in TOUCHPOINTS])
    anonymous = np.array([tp in ANONYMOUS_TOUCHPOINTS for tp in TOUCHPOINTS])
    prospect = np.array([ENTRY_PROSPECT.get(tp, 0.0) for tp in TOUCHPOINTS])
    customer = np.array([ENTRY_CUSTOMER.get(tp, 0.0) for tp in TOUCHPOINTS])
    unhappy = np.array([ENTRY_UNHAPPY.get(tp, 0.0) for tp in TOUCHPOINTS])
    entry_base = np.stack([prospect * anonymous, prospect, customer, unhappy])

    trans = np.zeros((n_types, n_chan, N_TP, N_TP + 1))
    entry = np.zeros((n_types, len(entry_base), n_chan, N_TP))
    for t, ctype in enumerate(CUSTOMER_TYPES):
        aff = np.array([ctype.affinity.get(tp, 1.0) for tp in TOUCHPOINTS] + [ctype.end_weight])
        weighted = np.where(unweighted[:, None], base, base * aff)
        for c in range(n_chan):
            w = weighted * allowed[c]
            # Rows without a way on (or not in the grammar) end the session.
            w[w[:, :N_TP].sum(axis=1) == 0, END] = 1.0
            w[:, END] = np.maximum(w[:, END], 1e-3)
            trans[t, c] = w / w.sum(axis=1, keepdims=True)
            for phase in range(len(entry_base)):
                e = entry_base[phase] * aff[:N_TP] * allowed[c, :N_TP]
                if e.sum() == 0:
                    e = aff[:N_TP] * allowed[c, :N_TP]
                entry[t, phase, c] = e / e.sum()
    return np.cumsum(trans, axis=-1), np.cumsum(entry, axis=-1)


def _sample_cumulative(cum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.minimum((rng.random(len(cum))[:, None] > cum).sum(axis=1), cum.shape[1] - 1)


def _fill_sessions(
    s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Touchpoints of every session as (session row, step, touchpoint) arrays."""
    cum_trans, cum_entry = _transition_tables()
    kind = s["kind"].to_numpy()
    rows = np.flatnonzero(kind != PLANTED)
    c = s["cust"].to_numpy()[rows]
    ch = s["channel"].to_numpy()[rows]
    t_idx = cust["type_idx"].to_numpy()[c]
    anon = kind[rows] == ANONYMOUS
    # Browsing anonymously, signing up, then coming back as a customer (retention entries).
    phase = np.where(anon, 0, np.where(s["link"].to_numpy()[rows] == TP["signup"], 1, 2))
    # Churners' sessions in the fade window start from a support entry more and more often.
    to_churn = cust["churn_day"].to_numpy()[c] - s["day"].to_numpy()[rows]
    closeness = np.where(
        cust["is_churner"].to_numpy()[c], np.clip(1 - to_churn / FADE_DAYS, 0, 1), 0.0
    )
    unhappy = (phase == 2) & (rng.random(len(rows)) < UNHAPPY_MAX_SHARE * closeness)
    phase = np.where(unhappy, 3, phase)
    error_rate = np.where(cust["trouble"].to_numpy(), PAYMENT_ERROR_RATE[1], PAYMENT_ERROR_RATE[0])
    error_rate = error_rate[c]
    anon_ok = np.zeros(N_TP + 1, dtype=bool)
    anon_ok[[TP[tp] for tp in ANONYMOUS_TOUCHPOINTS]] = True
    anon_ok[END] = True

    state = _sample_cumulative(cum_entry[t_idx, phase, ch], rng)
    alive = np.ones(len(rows), dtype=bool)
    steps = np.full((len(rows), MAX_SESSION_EVENTS), -1)
    for step in range(MAX_SESSION_EVENTS):
        steps[alive, step] = state[alive]
        nxt = _sample_cumulative(cum_trans[t_idx, ch, state], rng)
        # The planted pain point: some purchase attempts fail, more often for some customers.
        fail = (nxt == TP["purchase"]) & (state == TP["checkout"])
        nxt = np.where(fail & (rng.random(len(rows)) < error_rate), TP["payment_error"], nxt)
        nxt = np.where(anon & ~anon_ok[nxt], END, nxt)
        alive &= nxt != END
        if not alive.any():
            break
        state = np.where(alive, nxt, state)
    r, st = np.nonzero(steps >= 0)
    out_session, out_step, out_tp = [rows[r]], [st], [steps[r, st]]

    planted = np.flatnonzero(kind == PLANTED)
    seqs = np.array(CHURN_PRECURSORS_IDX)[s["precursor"].to_numpy()[planted]]
    out_session.append(np.repeat(planted, seqs.shape[1]))
    out_step.append(np.tile(np.arange(seqs.shape[1]), len(planted)))
    out_tp.append(seqs.ravel())

    linked = np.flatnonzero(s["link"].to_numpy() >= 0)
    out_session.append(linked)
    out_step.append(np.full(len(linked), -1))
    out_tp.append(s["link"].to_numpy()[linked])
    return np.concatenate(out_session), np.concatenate(out_step), np.concatenate(out_tp)


def _time_events(
    s: pd.DataFrame,
    cust: pd.DataFrame,
    window: _Window,
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
    offset = _group_cumsum(gap, ev_session)
    duration = np.zeros(len(s), dtype=np.int64)
    np.maximum.at(duration, ev_session, offset)

    # Push overlapping sessions of a customer apart, keeping their order: start'[i] is the
    # running max of (start - room needed before i), plus that room.
    need = duration + MIN_SESSION_GAP_S
    room = _group_cumsum(need, c) - need
    big = np.int64(10**11)
    shifted = np.maximum.accumulate(s["start_s"].to_numpy() - room + c * big) - c * big + room
    s = s.assign(start_s=shifted, duration_s=duration)

    churn_s = cust["churn_s"].to_numpy()[c]
    keep_session = (shifted < window.end_s) & (shifted + duration < churn_s)
    t = shifted[ev_session] + offset
    keep = keep_session[ev_session] & (t >= window.start_s) & (t < window.end_s)
    events = pd.DataFrame({"session": ev_session[keep], "time_s": t[keep], "tp": ev_tp[keep]})
    return events, s


def _decorate(
    events: pd.DataFrame, s: pd.DataFrame, cust: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Ids, channel, revenue, sentiment, device and page of every event; time-ordered."""
    sess = events["session"].to_numpy()
    tp = events["tp"].to_numpy()
    t = events["time_s"].to_numpy()
    c = s["cust"].to_numpy()[sess]
    kind = s["kind"].to_numpy()[sess]
    s_channel = s["channel"].to_numpy()[sess]
    type_idx = cust["type_idx"].to_numpy()[c]
    n = len(events)

    fixed = np.array([CH.get(FIXED_CHANNEL.get(name, ""), -1) for name in TOUCHPOINTS])
    channel = np.where(fixed[tp] >= 0, fixed[tp], s_channel)
    known = (kind != ANONYMOUS) & ~cust["visitor"].to_numpy()[c]
    customer_id = np.where(known, cust["customer_id"].to_numpy()[c], None)
    anonymous_id = np.where(
        s["device_id"].to_numpy()[sess], cust["anonymous_id"].to_numpy()[c], None
    )

    # Events are in journey order here; a new customer's first order cannot be a reorder.
    conversions = np.flatnonzero(np.isin(tp, [TP[name] for name in CONVERSION_TOUCHPOINTS]))
    _, first = np.unique(c[conversions], return_index=True)
    first = conversions[first]
    tp = tp.copy()
    tp[first[cust["is_new"].to_numpy()[c[first]] & (tp[first] == TP["reorder"])]] = TP["purchase"]

    revenue = np.full(n, np.nan)
    for i, name in enumerate(CONVERSION_TOUCHPOINTS):
        mask = tp == TP[name]
        median = np.array([ct.revenue[i] for ct in CUSTOMER_TYPES])[type_idx[mask]]
        revenue[mask] = np.round(median * rng.lognormal(0.0, 0.45, mask.sum()), 2)

    base = np.array([SENTIMENT_BASE.get(name, np.nan) for name in TOUCHPOINTS])[tp]
    shift = np.array([ct.sentiment_shift for ct in CUSTOMER_TYPES])[type_idx]
    # Mood sours in the weeks before churning.
    near_churn = t >= cust["churn_s"].to_numpy()[c] - FADE_DAYS * DAY_S
    is_delight = np.isin(tp, [TP[p] for p in DELIGHT_POINTS])
    sentiment = base + np.where(is_delight, 0.0, shift) - 0.3 * near_churn
    sentiment = np.round(np.clip(sentiment + rng.normal(0, 0.15, n), -1, 1), 2)

    device = np.select(
        [s_channel == CH["web"], s_channel == CH["mobile_app"], s_channel == CH["store"]],
        [cust["web_device"].to_numpy()[c], cust["app_device"].to_numpy()[c], "pos"],
        "phone",
    )
    page = np.array([PAGES.get(name) for name in TOUCHPOINTS], dtype=object)[tp]
    sku = rng.integers(1000, 10000, n)
    # Product pages end in "/" in PAGES and get a product number.
    page = np.array(
        [
            p + str(k) if p is not None and p.endswith("/") else p
            for p, k in zip(page, sku.tolist(), strict=True)
        ],
        dtype=object,
    )
    page = np.where(np.isin(channel, DEVICE_CHANNELS), page, None)

    frame = pd.DataFrame(
        {
            "event_id": None,
            "customer_id": customer_id,
            "anonymous_id": anonymous_id,
            "event_time": pd.to_datetime(t, unit="s", utc=True),
            "touchpoint": np.array(TOUCHPOINTS)[tp],
            "channel": np.array(CHANNELS)[channel],
            "revenue": revenue,
            "sentiment": sentiment,
            "device": device,
            "page": page,
            "true_customer_id": cust["customer_id"].to_numpy()[c],
            "true_session": sess,
            "time_s": t,
        }
    )
    frame = frame.sort_values(["time_s", "true_customer_id", "true_session"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["event_id"] = np.char.add("ev", _unique_hex(rng, n, 10))
    return frame


def _customer_truth(cust: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    grouped = events.groupby("true_customer_id", sort=False)
    counts = grouped.size()
    sessions = grouped["true_session"].nunique()
    linked_anon = (
        events.dropna(subset=["anonymous_id"]).groupby("true_customer_id")["anonymous_id"].first()
    )
    ids = cust["customer_id"]
    return pd.DataFrame(
        {
            "customer_id": ids,
            "anonymous_id": ids.map(linked_anon).astype(object).where(lambda x: x.notna(), None),
            "customer_type": np.array(TYPE_NAMES)[cust["type_idx"].to_numpy()],
            "is_churner": cust["is_churner"].to_numpy(),
            "churn_date": [
                pd.Timestamp(s, unit="s", tz="UTC").date().isoformat() if ch else None
                for s, ch in zip(cust["churn_s"], cust["is_churner"], strict=True)
            ],
            "signed_up": ~cust["visitor"].to_numpy(),
            "events": ids.map(counts).fillna(0).astype(np.int64).to_numpy(),
            "sessions": ids.map(sessions).fillna(0).astype(np.int64).to_numpy(),
        }
    )


# --------------------------------------------------------------------------------------------
# Writing the files
# --------------------------------------------------------------------------------------------

# event_time representations in the text files: share of each
TIME_FORMATS = {"utc_z": 0.35, "offset": 0.2, "naive_local": 0.25, "epoch_s": 0.1, "epoch_ms": 0.1}
OFFSET_MINUTES = (120, 60, -300, 540, 330, -480, 600)
SHUFFLED_SHARE = 0.1  # rows moved to a random place in their file
DUPLICATE_RATE = 0.006
CROSS_FILE_DUPLICATES = 0.3
REJECT_RATE = 0.0018  # per kind of broken field
BAD_TIMES = ("not a date", "2026-13-45T25:00:00", "2026-02-30T10:00:00Z")
BAD_SENTIMENTS = (4.5, -3.0, 7.0, 1.5)
REJECT_KINDS = {
    CSV_FILE: (
        "bad_time",
        "missing_ids",
        "blank_touchpoint",
        "bad_revenue",
        "bad_sentiment",
        "broken_line",
    ),
    JSONL_FILE: (
        "bad_time",
        "missing_ids",
        "blank_touchpoint",
        "bad_revenue",
        "bad_sentiment",
        "invalid_json",
    ),
    # A typed file cannot hold a text timestamp or text revenue; a null time is its broken time.
    PARQUET_FILE: ("missing_time", "missing_ids", "blank_touchpoint", "bad_sentiment"),
}
RAW_KINDS = ("broken_line", "invalid_json")


def generate_sample(
    out_dir: Path,
    customers: int = 1000,
    seed: int = 7,
    days: int = 90,
    horizon_days: int = 60,
    messy: bool = True,
) -> SampleSummary:
    """Write a synthetic event log (three files), its config and its ground truth to out_dir."""
    out_dir = Path(out_dir)
    log = simulate_events(customers, seed, days, horizon_days)
    rng = np.random.default_rng([seed, 1])
    events = log.events
    file_idx = rng.choice(len(EVENT_FILES), size=len(events), p=FILE_SHARES)
    used_ids = set(events["event_id"])

    (out_dir / "events").mkdir(parents=True, exist_ok=True)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    files, planted = [], {}
    for i, name in enumerate(EVENT_FILES):
        rows, kinds = _file_rows(events, file_idx, i, messy, used_ids, rng)
        path = out_dir / "events" / name
        {CSV_FILE: _write_csv, JSONL_FILE: _write_jsonl, PARQUET_FILE: _write_parquet}[name](
            rows, path
        )
        files.append(path)
        planted[name] = kinds
    messy_rows = {
        name: {"duplicate": k.get("duplicate", 0), "rejected": _rejected(k)}
        for name, k in planted.items()
    }
    _write_lines(
        out_dir / "cjm.yaml",
        [
            "# Configuration of the sample log; every other setting keeps its default.",
            f"timezone: {SAMPLE_TIMEZONE}",
            "# Paths from a first look at a product to the next purchase, and the checkout funnel.",
            "paths:",
            "  between: [[product_view, purchase]]",
            "funnels:",
            "  checkout: [product_view, add_to_cart, checkout, purchase]",
        ],
    )
    _write_truth(out_dir / "truth", log, seed, planted, np.bincount(file_idx, minlength=3))
    return SampleSummary(
        out_dir=out_dir,
        files=files,
        customers=customers,
        events=len(events),
        messy_rows=messy_rows,
        log_start=log.log_start,
        log_end=log.log_end,
    )


def _rejected(kinds: dict[str, int]) -> int:
    return sum(n for kind, n in kinds.items() if kind != "duplicate")


def _file_rows(
    events: pd.DataFrame,
    file_idx: np.ndarray,
    i: int,
    messy: bool,
    used_ids: set[str],
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Rows of one file in written order (clean, duplicated and broken), and the planted counts."""
    name = EVENT_FILES[i]
    text = name != PARQUET_FILE
    own = events[file_idx == i]
    n = len(own)
    rows = _rows(own, text, rng)
    rows["_key"] = _partial_order(n, rng)
    if not messy or n == 0:
        return rows.sort_values("_key", kind="stable").reset_index(drop=True), {}

    parts, kinds = [rows], {}
    n_dup = max(2, round(DUPLICATE_RATE * n))
    earlier = events[file_idx < i]
    n_cross = min(round(CROSS_FILE_DUPLICATES * n_dup), len(earlier))
    pick = rng.choice(n, min(n, n_dup - n_cross), replace=False)
    dup = rows.iloc[pick].copy()
    # After its original, so that keeping the first occurrence keeps the original.
    key = rows["_key"].to_numpy()[pick]
    dup["_key"] = key + 0.5 + rng.random(len(pick)) * (n - key - 0.5)
    cross = _rows(earlier.iloc[rng.choice(len(earlier), n_cross, replace=False)], text, rng)
    cross["_key"] = rng.random(n_cross) * n
    parts += [dup, cross]
    kinds["duplicate"] = len(dup) + len(cross)

    for kind in REJECT_KINDS[name]:
        count = (3 if n >= 5000 else 2) if kind in RAW_KINDS else max(1, round(REJECT_RATE * n))
        bad = _corrupt(kind, rows, count, used_ids, rng)
        bad["_key"] = rng.random(len(bad)) * n
        parts.append(bad)
        kinds[kind] = len(bad)
    out = pd.concat(parts, ignore_index=True).sort_values("_key", kind="stable")
    return out.reset_index(drop=True), kinds


def _rows(frame: pd.DataFrame, text: bool, rng: np.random.Generator) -> pd.DataFrame:
    """The written columns as Python objects (None for missing); times formatted for text files."""
    data = {}
    for col in OUT_COLUMNS:
        if col == "event_time":
            times = frame["time_s"].to_numpy()
            values = _format_times(times, rng) if text else times.tolist()
        else:
            values = frame[col].to_numpy(dtype=object, copy=True)
            values[frame[col].isna().to_numpy()] = None
            values = values.tolist()
        data[col] = pd.Series(values, dtype=object)
    data["_raw"] = pd.Series([None] * len(frame), dtype=object)
    return pd.DataFrame(data)


def _partial_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """Row positions: time order, except a share of rows moved anywhere in the file."""
    noisy = np.arange(n, dtype=float)
    moved = rng.random(n) < SHUFFLED_SHARE
    noisy[moved] = rng.random(moved.sum()) * n
    position = np.empty(n, dtype=float)
    position[np.argsort(noisy, kind="stable")] = np.arange(n)
    return position


def _format_times(seconds: np.ndarray, rng: np.random.Generator) -> list[str | int]:
    """Each instant in one of the accepted representations, chosen at random."""
    n = len(seconds)
    code = rng.choice(len(TIME_FORMATS), size=n, p=list(TIME_FORMATS.values()))
    utc = seconds.astype("datetime64[s]")
    out = np.empty(n, dtype=object)

    naive = np.flatnonzero(code == 2)
    local = pd.DatetimeIndex(utc[naive]).tz_localize("UTC").tz_convert(SAMPLE_TIMEZONE)
    wall = local.tz_localize(None)
    # A wall-clock time in the autumn repeated hour names two instants: write those in UTC.
    back = wall.tz_localize(SAMPLE_TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    ambiguous = np.asarray(back.isna())
    code[naive[ambiguous]] = 0
    naive = naive[~ambiguous]
    wall_s = wall.to_numpy()[~ambiguous].astype("datetime64[s]")
    out[naive] = [text.replace("T", " ") for text in np.datetime_as_string(wall_s)]

    z = code == 0
    out[z] = [text + "Z" for text in np.datetime_as_string(utc[z])]
    off = np.flatnonzero(code == 1)
    minutes = rng.choice(OFFSET_MINUTES, size=len(off))
    shifted = utc[off] + (minutes * 60).astype("timedelta64[s]")
    out[off] = [
        text + _offset_text(m)
        for text, m in zip(np.datetime_as_string(shifted), minutes.tolist(), strict=True)
    ]
    out[code == 3] = seconds[code == 3].tolist()
    out[code == 4] = (seconds[code == 4] * 1000).tolist()
    return [v if isinstance(v, int) else str(v) for v in out]


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fresh_ids(count: int, used: set[str], rng: np.random.Generator) -> list[str]:
    """Event ids never used before, so a broken row is never also a duplicate."""
    fresh: list[str] = []
    while len(fresh) < count:
        candidate = f"ev{rng.integers(0, 16**10):010x}"
        if candidate not in used:
            used.add(candidate)
            fresh.append(candidate)
    return fresh


def _corrupt(
    kind: str, rows: pd.DataFrame, count: int, used: set[str], rng: np.random.Generator
) -> pd.DataFrame:
    """`count` copies of clean rows, each with a new event id and exactly one defect."""
    pool = np.arange(len(rows))
    if kind == "bad_revenue":
        pool = (
            np.flatnonzero(rows["revenue"].notna().to_numpy())
            if rows["revenue"].notna().any()
            else pool
        )
    if kind == "bad_sentiment":
        has = rows["sentiment"].notna().to_numpy()
        pool = np.flatnonzero(has) if has.any() else pool
    bad = rows.iloc[rng.choice(pool, count, replace=count > len(pool))].copy()
    bad = bad.reset_index(drop=True)
    bad["event_id"] = _objects(_fresh_ids(count, used, rng))
    alternate = np.arange(count) % 2 == 0
    if kind == "bad_time":
        bad["event_time"] = _objects([str(v) for v in rng.choice(BAD_TIMES, count)])
    elif kind == "missing_time":
        bad["event_time"] = None
    elif kind == "missing_ids":
        bad["customer_id"] = _objects(np.where(alternate, "", None))
        bad["anonymous_id"] = _objects(np.where(alternate, None, ""))
    elif kind == "blank_touchpoint":
        bad["touchpoint"] = _objects(np.where(alternate, "", "   "))
    elif kind == "bad_revenue":
        amounts = [v if v is not None else 12.5 for v in bad["revenue"]]
        bad["revenue"] = _objects([f"{v:.2f}".replace(".", ",") + " EUR" for v in amounts])
    elif kind == "bad_sentiment":
        bad["sentiment"] = _objects([float(v) for v in rng.choice(BAD_SENTIMENTS, count)])
    elif kind == "broken_line":
        # An unquoted comma inside a value, or a trailing extra field: too many fields either way.
        lines = _csv_lines(bad)
        bad["_raw"] = _objects(
            [
                line.replace(",/", ",/search?q=red,shoes&x=/", 1)
                if a and ",/" in line
                else line + ",?"
                for line, a in zip(lines, alternate, strict=True)
            ]
        )
    elif kind == "invalid_json":
        lines = [_json_line(r) for r in bad[list(OUT_COLUMNS)].itertuples(index=False)]
        bad["_raw"] = _objects(
            [
                line[: len(line) // 2] if a else line.replace('"', "'")
                for line, a in zip(lines, alternate, strict=True)
            ]
        )
    else:
        raise ValueError(f"unknown defect {kind!r}")
    return bad


def _objects(values: list | np.ndarray) -> pd.Series:
    """An object column, so that None stays None (pandas would turn a str column's None to NaN)."""
    return pd.Series(list(values), dtype=object)


def _csv_lines(rows: pd.DataFrame) -> list[str]:
    text = pd.DataFrame({c: rows[c].map(_csv_cell) for c in OUT_COLUMNS}).to_csv(
        index=False, header=False, lineterminator="\n"
    )
    return text.splitlines()


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _json_line(values: tuple) -> str:
    record = {c: v for c, v in zip(OUT_COLUMNS, values, strict=True) if v is not None}
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def _write_csv(rows: pd.DataFrame, path: Path) -> None:
    raw = rows["_raw"].notna().to_numpy()
    lines = np.empty(len(rows), dtype=object)
    lines[~raw] = _csv_lines(rows[~raw])
    lines[raw] = rows.loc[raw, "_raw"].to_numpy()
    _write_lines(path, [",".join(OUT_COLUMNS), *lines])


def _write_jsonl(rows: pd.DataFrame, path: Path) -> None:
    lines = [
        raw if raw is not None else _json_line(values)
        for raw, values in zip(
            rows["_raw"], rows[list(OUT_COLUMNS)].itertuples(index=False), strict=True
        )
    ]
    _write_lines(path, lines)


def _write_lines(path: Path, lines: list[str]) -> None:
    # "\n" on every platform, so the committed sample is byte-identical wherever it is rebuilt.
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{line}\n" for line in lines)


PARQUET_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("anonymous_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("touchpoint", pa.string()),
        ("channel", pa.string()),
        ("revenue", pa.float64()),
        ("sentiment", pa.float64()),
        ("device", pa.string()),
        ("page", pa.string()),
    ]
)


def _write_parquet(rows: pd.DataFrame, path: Path) -> None:
    columns = {}
    for field in PARQUET_SCHEMA:
        values = rows[field.name].tolist()
        if field.name == "event_time":
            micros = pa.array([None if v is None else v * 1_000_000 for v in values], pa.int64())
            columns[field.name] = micros.cast(field.type)
        else:
            columns[field.name] = pa.array(values, field.type)
    pq.write_table(pa.table(columns, schema=PARQUET_SCHEMA), path, compression="zstd")


def _write_truth(
    truth_dir: Path,
    log: SimulatedLog,
    seed: int,
    planted: dict[str, dict[str, int]],
    per_file: np.ndarray,
) -> None:
    log.customers.to_csv(truth_dir / "customers.csv", index=False, lineterminator="\n")
    events = log.events.merge(
        log.customers[["customer_id", "customer_type"]],
        left_on="true_customer_id",
        right_on="customer_id",
        suffixes=("", "_truth"),
    )
    types = {}
    for ctype in CUSTOMER_TYPES:
        of_type = events[events["customer_type"] == ctype.name]
        members = log.customers[log.customers["customer_type"] == ctype.name]
        types[ctype.name] = {
            "description": ctype.description,
            "customers": int(members["signed_up"].sum()),
            "churn_rate": round(float(members.loc[members["signed_up"], "is_churner"].mean()), 4),
            "channels": _shares(of_type["channel"], 6),
            "top_touchpoints": _shares(of_type["touchpoint"], 5),
            "mean_days_between_sessions": ctype.mean_gap_days,
        }
    truth = {
        "seed": seed,
        "customers": int(log.customers["signed_up"].sum()),
        "anonymous_visitors": int((~log.customers["signed_up"]).sum()),
        "churners": int(log.customers["is_churner"].sum()),
        "log_start": log.log_start.date().isoformat(),
        "log_end": log.log_end.date().isoformat(),
        "horizon_end": log.horizon_end.date().isoformat(),
        "timezone": SAMPLE_TIMEZONE,
        "session_gap_minutes": 30,
        "events": len(log.events),
        "sessions": int(log.events["true_session"].nunique()),
        "events_per_file": {name: int(n) for name, n in zip(EVENT_FILES, per_file, strict=True)},
        "customer_types": types,
        "stages": TOUCHPOINT_STAGES,
        "conversion_touchpoints": list(CONVERSION_TOUCHPOINTS),
        "pain_points": list(PAIN_POINTS),
        "delight_points": list(DELIGHT_POINTS),
        "churn_precursors": [list(seq) for seq in CHURN_PRECURSORS],
        "messy_rows": {
            name: {
                "duplicate": kinds.get("duplicate", 0),
                "rejected": _rejected(kinds),
                "rejected_by_kind": {k: n for k, n in kinds.items() if k != "duplicate"},
            }
            for name, kinds in planted.items()
        },
    }
    _write_lines(truth_dir / "truth.json", [json.dumps(truth, indent=2)])


def _shares(values: pd.Series, top: int) -> dict[str, float]:
    shares = values.value_counts(normalize=True).head(top)
    return {str(k): round(float(v), 4) for k, v in shares.items()}


def main(argv: list[str] | None = None) -> None:
    """Regenerate a sample from the command line (the bundled one: --out data/sample)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--horizon-days", type=int, default=60)
    args = parser.parse_args(argv)
    summary = generate_sample(args.out, args.customers, args.seed, args.days, args.horizon_days)
    print(f"{summary.events} events for {summary.customers} customers in {summary.out_dir}")


if __name__ == "__main__":
    main()

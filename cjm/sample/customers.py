"""The simulated population: who each customer is, and the ground truth kept per customer."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cjm.sample.arrays import unique_hex
from cjm.sample.customer_types import (
    CUSTOMER_TYPES,
    MIN_CHURN_TENURE_DAYS,
    NEW_CUSTOMER_SHARE,
    NOISE_PRECURSOR_SHARE,
    PAYMENT_TROUBLE_SHARE,
    PRECURSOR_SHARE,
    TYPE_NAMES,
    VISITOR_SHARE,
)
from cjm.sample.window import DAY_S, Window


def draw_customers(customers: int, window: Window, rng: np.random.Generator) -> pd.DataFrame:
    """Type, signup, churn, precursor and devices of every customer and visitor."""
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

    anon_ids = unique_hex(rng, n, 12)
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


def customer_truth(cust: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The ground truth per customer: type, churn, linked device id and counts."""
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

"""The planted customer types and the population they make up: shares, churn and its fading."""

from __future__ import annotations

from dataclasses import dataclass

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

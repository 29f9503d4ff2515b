"""The simulated shop: touchpoints and their stages, channels, the funnel grammar, entries,
hours, sentiment and pages, common to every customer type."""

from __future__ import annotations

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

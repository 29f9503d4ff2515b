"""Generate N synthetic, clean customer-journey events as Parquet, fast and in bounded memory.

Usage: python benchmarks/generate_events.py 10000000 benchmarks/data/events_10000000.parquet
       [--shape burst|live]

Two shapes, with the same columns and touchpoints:
- burst (the default, the shape of every figure before the live one): customers are about N/25,
  with a skewed (geometric) number of events each, starting anywhere in a year. Events of a
  customer come in sessions: seconds to a few minutes apart within a session, hours to days
  between sessions (always more than 30 minutes). A customer's events span days to weeks, so at
  the end of the log almost every customer has lapsed.
- live: a business that keeps running. Customers arrive all through the year and stay for a
  personal lifetime (exponential, mean LIVE_LIFETIME_DAYS), visiting at a personal rate (about
  every two weeks on average); those whose lifetime ends inside the log fade before they stop (the
  gaps of their last sessions grow up to LIVE_FADE_STRETCH times). About a third of the customers
  are still active at the log's end; about N/25 customers too.
Within a session events are seconds to minutes apart in both. Rows are written in row groups of
about 1M; the rows of one row group are shuffled, so a file is not sorted by customer or by time.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 1_000_000
MEAN_EVENTS_PER_CUSTOMER = 25
MEAN_EVENTS_PER_SESSION = 4
WITHIN_SESSION_MEAN_SECONDS = 45.0
WITHIN_SESSION_MAX_SECONDS = 25 * 60.0
BETWEEN_SESSIONS_MIN_SECONDS = 45 * 60.0
BETWEEN_SESSIONS_MEAN_SECONDS = 3 * 86_400.0
START = np.datetime64("2024-01-01T00:00:00", "us")
START_SPREAD_SECONDS = 365 * 86_400.0
# live shape: mean lifetime (a third of the customers who arrived in the year are still there at
# its end: mean/365 * (1 - exp(-365/mean)) = 0.33), sessions per day (gamma: shape, mean), and the
# fade of those who stop: the last LIVE_FADE_SHARE of their sessions have gaps growing up to
# LIVE_FADE_STRETCH times the usual.
LIVE_LIFETIME_DAYS = 130.0
LIVE_SESSION_RATE_SHAPE, LIVE_SESSION_RATE_MEAN = 2.0, 1 / 14
LIVE_FADE_SHARE, LIVE_FADE_STRETCH = 0.4, 4.0
SHAPES = ("burst", "live")

TOUCHPOINTS = (
    "page_visit",
    "product_view",
    "search",
    "ad_click",
    "email_open",
    "landing_page",
    "add_to_cart",
    "pricing_page",
    "app_open",
    "login",
    "checkout",
    "purchase",
    "support_ticket",
    "review_post",
    "unsubscribe",
)
CHANNELS = ("web", "mobile_app", "email", "social", "paid_search")
CHANNEL_WEIGHTS = (0.45, 0.25, 0.15, 0.10, 0.05)
PURCHASE = TOUCHPOINTS.index("purchase")
REVENUE_SHARE_OTHER = 0.002
SENTIMENT_SHARE = 0.05

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("customer_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("touchpoint", pa.string()),
        ("channel", pa.string()),
        ("revenue", pa.float64()),
        ("sentiment", pa.float64()),
    ]
)

# Two hex digits per byte value, as the uint16 holding those two ASCII characters in memory order.
_HEX_PAIRS = np.frombuffer(
    b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16
).copy()


def touchpoint_weights() -> np.ndarray:
    """Zipf-like skew over the touchpoints, in TOUCHPOINTS order."""
    weights = 1.0 / np.arange(1, len(TOUCHPOINTS) + 1) ** 1.1
    return weights / weights.sum()


def fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An Arrow string array from an (n, width) matrix of ASCII codes, without Python objects."""
    n, width = chars.shape
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def uuid_strings(rng: np.random.Generator, n: int) -> pa.StringArray:
    """n random UUID-shaped strings (36 characters)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16)
    hex_digits = _HEX_PAIRS[raw].view(np.uint8).reshape(n, 32)
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, dest in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        chars[:, dest : dest + stop - start] = hex_digits[:, start:stop]
    return fixed_width_strings(chars)


def prefixed_ids(prefix: str, numbers: np.ndarray, digits: int = 8) -> pa.StringArray:
    """Strings like 'cust_00000042' from non-negative integers below 10**digits."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    chars = np.empty((len(numbers), len(head) + digits), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = numbers.astype(np.int64)
    for col in range(len(head) + digits - 1, len(head) - 1, -1):
        chars[:, col] = ord("0") + rest % 10
        rest //= 10
    return fixed_width_strings(chars)


def events_per_customer(rng: np.random.Generator, n_events: int) -> np.ndarray:
    """Skewed per-customer event counts that add up to exactly n_events."""
    guess = int(n_events / MEAN_EVENTS_PER_CUSTOMER * 1.2) + 16
    counts = rng.geometric(1.0 / MEAN_EVENTS_PER_CUSTOMER, size=guess)
    while counts.sum() < n_events:
        counts = np.concatenate([counts, rng.geometric(1.0 / MEAN_EVENTS_PER_CUSTOMER, guess)])
    total = np.cumsum(counts)
    last = int(np.searchsorted(total, n_events))
    counts = counts[: last + 1].copy()
    counts[-1] -= int(total[last] - n_events)
    return counts


def event_times(rng: np.random.Generator, counts: np.ndarray) -> np.ndarray:
    """Event times (datetime64[us]) per customer, in sessions separated by inactivity gaps."""
    n = int(counts.sum())
    first = np.zeros(n, dtype=bool)
    first[np.concatenate([[0], np.cumsum(counts)[:-1]])] = True
    new_session = rng.random(n) < 1.0 / MEAN_EVENTS_PER_SESSION
    within = np.minimum(
        rng.exponential(WITHIN_SESSION_MEAN_SECONDS, n) + 1.0, WITHIN_SESSION_MAX_SECONDS
    )
    between = BETWEEN_SESSIONS_MIN_SECONDS + rng.exponential(BETWEEN_SESSIONS_MEAN_SECONDS, n)
    gaps = np.where(new_session, between, within)
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], counts)
    starts = rng.uniform(0.0, START_SPREAD_SECONDS, size=len(counts))
    seconds = elapsed + np.repeat(starts, counts)
    return START + (seconds * 1e6).astype("timedelta64[us]")


def live_customers(rng: np.random.Generator, n_events: int) -> tuple[np.ndarray, ...]:
    """Live shape: per customer (event count, arrival day, last day seen in the log, whether
    their lifetime ends inside the log), the counts adding up to exactly n_events."""
    span = START_SPREAD_SECONDS / 86_400.0
    mean_events = 4 * LIVE_SESSION_RATE_MEAN * LIVE_LIFETIME_DAYS * 0.7
    guess = int(n_events / mean_events * 1.3) + 16
    parts = []
    while not parts or sum(int(p[0].sum()) for p in parts) < n_events:
        arrive = rng.uniform(0.0, span, guess)
        stop = arrive + rng.exponential(LIVE_LIFETIME_DAYS, guess)
        rate = rng.gamma(
            LIVE_SESSION_RATE_SHAPE, LIVE_SESSION_RATE_MEAN / LIVE_SESSION_RATE_SHAPE, guess
        )
        last = np.minimum(stop, span)
        counts = 1 + rng.poisson(MEAN_EVENTS_PER_SESSION * rate * (last - arrive))
        parts.append((counts, arrive, last, stop <= span))
    counts, arrive, last, stops = (np.concatenate(c) for c in zip(*parts, strict=True))
    total = np.cumsum(counts)
    keep = int(np.searchsorted(total, n_events)) + 1
    counts = counts[:keep].copy()
    counts[-1] -= int(total[keep - 1] - n_events)
    return counts, arrive[:keep], last[:keep], stops[:keep]


def live_event_times(rng: np.random.Generator, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """Live shape: per-customer event counts and event times (datetime64[us]), grouped by
    customer. Each customer's session gaps are drawn, stretched in a churner's fade, then scaled
    so their sessions fill the time from arrival to the last day seen."""
    counts, arrive, last, stops = live_customers(rng, n_events)
    n = int(counts.sum())
    bounds = np.concatenate([[0], np.cumsum(counts)[:-1]])
    customer = np.repeat(np.arange(len(counts)), counts)
    new_session = rng.random(n) < 1.0 / MEAN_EVENTS_PER_SESSION
    new_session[bounds] = False
    session = np.cumsum(new_session)
    session -= np.repeat(session[bounds], counts)
    sessions = np.bincount(customer, weights=new_session, minlength=len(counts))
    position = session / np.maximum(np.repeat(sessions, counts), 1.0)
    fade = np.clip((position - (1 - LIVE_FADE_SHARE)) / LIVE_FADE_SHARE, 0.0, 1.0)
    stretch = 1.0 + (LIVE_FADE_STRETCH - 1.0) * fade * np.repeat(stops, counts)
    raw = np.where(new_session, rng.exponential(1.0, n) * stretch, 0.0)
    # A customer still there at the end has one more gap to come, after their last session.
    tail = np.where(stops, 0.0, rng.exponential(1.0, len(counts)))
    scale = (last - arrive) * 86_400.0 / (np.bincount(customer, weights=raw) + tail + 1e-9)
    between = np.maximum(raw * np.repeat(scale, counts), BETWEEN_SESSIONS_MIN_SECONDS)
    within = np.minimum(
        rng.exponential(WITHIN_SESSION_MEAN_SECONDS, n) + 1.0, WITHIN_SESSION_MAX_SECONDS
    )
    gaps = np.where(new_session, between, within)
    gaps[bounds] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[bounds], counts)
    seconds = elapsed + np.repeat(arrive * 86_400.0, counts)
    return counts, START + (seconds * 1e6).astype("timedelta64[us]")


def make_batch(
    rng: np.random.Generator, n_events: int, first_customer: int, shape: str = "burst"
) -> tuple[pa.Table, int]:
    """One row group of n_events for customers numbered from first_customer, and their count."""
    if shape == "live":
        counts, times = live_event_times(rng, n_events)
    else:
        counts = events_per_customer(rng, n_events)
        times = event_times(rng, counts)
    customer = np.repeat(np.arange(first_customer, first_customer + len(counts)), counts)
    touch = rng.choice(len(TOUCHPOINTS), size=n_events, p=touchpoint_weights())
    channel = rng.choice(len(CHANNELS), size=n_events, p=CHANNEL_WEIGHTS)
    has_revenue = (touch == PURCHASE) | (rng.random(n_events) < REVENUE_SHARE_OTHER)
    revenue = np.round(rng.lognormal(3.5, 0.8, n_events), 2)
    has_sentiment = rng.random(n_events) < SENTIMENT_SHARE
    sentiment = np.round(rng.uniform(-1.0, 1.0, n_events), 3)
    order = rng.permutation(n_events)
    table = pa.table(
        {
            "event_id": uuid_strings(rng, n_events),
            "customer_id": prefixed_ids("cust_", customer[order]),
            "event_time": pa.array(times[order], type=pa.timestamp("us", tz="UTC")),
            "touchpoint": pa.array(TOUCHPOINTS).take(pa.array(touch[order])),
            "channel": pa.array(CHANNELS).take(pa.array(channel[order])),
            "revenue": pa.array(revenue[order], mask=~has_revenue[order]),
            "sentiment": pa.array(sentiment[order], mask=~has_sentiment[order]),
        },
        schema=SCHEMA,
    )
    return table, len(counts)


def generate(
    n_events: int, path: Path, seed: int = 42, row_group: int = ROW_GROUP, shape: str = "burst"
) -> dict:
    """Write n_events of a shape (SHAPES) to one Parquet file, one row group at a time; return a
    short summary."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: expected one of {', '.join(SHAPES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    tmp = path.with_name(path.name + ".part")
    started = time.perf_counter()
    written = customers = 0
    # Arrow writes the previous row group (releasing the GIL) while numpy makes the next one.
    with (
        pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pending = None
        while written < n_events:
            size = min(row_group, n_events - written)
            batch, batch_customers = make_batch(rng, size, customers, shape)
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_table, batch, row_group_size=size)
            customers += batch_customers
            written += size
        if pending is not None:
            pending.result()
    tmp.replace(path)
    return {
        "events": written,
        "customers": customers,
        "seconds": round(time.perf_counter() - started, 2),
        "bytes": path.stat().st_size,
    }


def main() -> None:
    """Command line: number of events and output file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--row-group", type=int, default=ROW_GROUP)
    parser.add_argument("--shape", choices=SHAPES, default="burst")
    args = parser.parse_args()
    print(generate(args.events, args.out, args.seed, args.row_group, args.shape))


if __name__ == "__main__":
    main()

"""The clean simulated log: customers, sessions, chains and events, with the ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from cjm.sample.chains import fill_sessions
from cjm.sample.customers import customer_truth, draw_customers
from cjm.sample.events import decorate, time_events
from cjm.sample.sessions import plan_sessions
from cjm.sample.window import LOG_END, Window


@dataclass(frozen=True)
class SimulatedLog:
    """Clean simulated events (UTC, time-ordered) and the per-customer ground truth."""

    events: pd.DataFrame
    customers: pd.DataFrame
    log_start: datetime
    log_end: datetime
    horizon_end: datetime


def simulate_events(
    customers: int = 1000, seed: int = 7, days: int = 90, horizon_days: int = 60
) -> SimulatedLog:
    """Simulate the clean event log and its ground truth (no files, no messy rows)."""
    if customers < 1 or days < 1 or horizon_days < 0:
        raise ValueError("customers and days must be at least 1, horizon_days at least 0")
    rng = np.random.default_rng(seed)
    window = Window(LOG_END - timedelta(days=days - 1), days, horizon_days)
    cust = draw_customers(customers, window, rng)
    sessions = plan_sessions(cust, window, rng)
    ev_session, ev_step, ev_tp = fill_sessions(sessions, cust, rng)
    events, sessions = time_events(sessions, cust, window, ev_session, ev_step, ev_tp, rng)
    events = decorate(events, sessions, cust, rng)
    truth = customer_truth(cust, events)
    log_start = datetime(window.start.year, window.start.month, window.start.day, tzinfo=UTC)
    return SimulatedLog(
        events=events,
        customers=truth,
        log_start=log_start,
        log_end=log_start + timedelta(days=days - 1),
        horizon_end=log_start + timedelta(days=days - 1 + horizon_days),
    )

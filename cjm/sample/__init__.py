"""Synthetic customer-interaction event log with planted structure, and its ground truth.

The log is simulated customer by customer (types, churn, sessions, touchpoint chains) and written
as three event files in different formats plus a truth folder, so every analytics module can be
tested against structure that is known to be in the events.

Parts, in the order a sample is made: `window`, `customer_types` and `touchpoints` define the
world; `customers`, `sessions`, `chains` and `events` simulate it (`simulate` runs them in order);
`rows` and `messy` lay out each file's rows and plant duplicates and broken rows; `writers` and
`truth` write the files; `generate` is the entry point.
"""

from cjm.sample.events import MAX_STEP_S
from cjm.sample.generate import SampleSummary, generate_sample
from cjm.sample.simulate import SimulatedLog, simulate_events
from cjm.sample.touchpoints import CHURN_PRECURSORS, ENTRY_CUSTOMER, ENTRY_PROSPECT, GRAMMAR
from cjm.sample.writers import OUT_COLUMNS

__all__ = [
    "CHURN_PRECURSORS",
    "ENTRY_CUSTOMER",
    "ENTRY_PROSPECT",
    "GRAMMAR",
    "MAX_STEP_S",
    "OUT_COLUMNS",
    "SampleSummary",
    "SimulatedLog",
    "generate_sample",
    "simulate_events",
]

"""Guard rails: a run whose churn or personas collapse against the previously published run.

A handful of bad events can empty the churn list or fold every customer into one persona while
the run itself succeeds. Each rule below compares the new build with what the published file
holds and, when it trips, says so in one sentence; the flow publishes with the warnings on record,
or (strict) fails and publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cjm.churn_list import read_churn_card
from cjm.db import open_if_exists, table_exists

# The rules' thresholds (documented in docs/production.md, "Guard rails").
SCORED_DROP = 0.5  # customers scored fell below half of the previous run's
FLAGGED_MIN = 5  # the churn list counts as emptied when it had at least this many
CHURNED_RISE = 0.25  # share of customers churned rose by more than 25 percentage points
PERSONA_SHARE_MIN = 0.10  # a persona counts when it held at least 10% of the customers ...
PERSONA_DROP = 0.25  # ... and collapses below a quarter of its previous customers (or is gone)
MIN_CUSTOMERS = 20  # below this many customers before, counts move too much to judge

WARNING_PREFIX = "WARNING guard rail: "


def warnings_in(notes: list[str]) -> list[str]:
    """The guard-rail warnings among a run's notes, without their prefix."""
    return [n[len(WARNING_PREFIX) :] for n in notes if n.startswith(WARNING_PREFIX)]


class GuardRailError(RuntimeError):
    """A strict run tripped a guard rail: it fails and publishes nothing."""


@dataclass(frozen=True)
class Vitals:
    """The figures of one database that the rules compare."""

    customers: int = 0
    customers_scored: int = 0
    flagged: int = 0
    churned: int | None = None
    churn_model_trained: bool | None = None
    personas: dict[int, int] = field(default_factory=dict)


def _count(con: duckdb.DuckDBPyConnection, table: str, query: str) -> int | None:
    if not table_exists(con, table):
        return None
    return int(con.execute(query).fetchone()[0] or 0)


def read_vitals(con: duckdb.DuckDBPyConnection) -> Vitals:
    """Customers, scored and flagged customers, churned customers, model status and personas."""
    status = read_churn_card(con).get("status")
    trained = None if status is None else status == "trained"
    personas = {}
    if table_exists(con, "personas"):
        rows = con.execute("select persona_id, customer_count from personas").fetchall()
        personas = {int(p): int(n) for p, n in rows if p is not None}
    return Vitals(
        customers=_count(con, "journeys", "select count(*) from journeys") or 0,
        customers_scored=_count(con, "churn_risk", "select count(*) from churn_risk") or 0,
        flagged=_count(
            con, "churn_risk", "select count(*) from churn_risk where risk_tier = 'high'"
        )
        or 0,
        churned=_count(
            con,
            "customer_churn_state",
            "select count(*) from customer_churn_state where is_churned",
        ),
        churn_model_trained=trained,
        personas=personas,
    )


def read_published_vitals(db_path: Path) -> Vitals | None:
    """The vitals of the published file, or None when there is none (a first run)."""
    con = open_if_exists(db_path, unreadable_ok=True)
    if con is None:
        return None
    try:
        return read_vitals(con)
    finally:
        con.close()


def collapses(before: Vitals, now: Vitals) -> list[str]:
    """One sentence per rule the new figures trip against the previous run's; [] when none."""
    if before.customers < MIN_CUSTOMERS:
        return []
    found = []
    if before.customers_scored >= MIN_CUSTOMERS and (
        now.customers_scored < before.customers_scored * SCORED_DROP
    ):
        found.append(
            f"customers scored fell from {before.customers_scored:,} to "
            f"{now.customers_scored:,} (below half)"
        )
    if before.flagged >= FLAGGED_MIN and now.flagged == 0:
        found.append(f"the churn list is empty: no customer flagged high risk ({before.flagged:,})")
    if before.churn_model_trained and now.churn_model_trained is False:
        found.append("the churn model is no longer trained (see churn_model_card)")
    if before.churned is not None and now.churned is not None and now.customers:
        share_before = before.churned / before.customers
        share_now = now.churned / now.customers
        if share_now - share_before > CHURNED_RISE:
            found.append(
                f"churned customers rose from {before.churned:,} of {before.customers:,} "
                f"({share_before:.1%}) to {now.churned:,} of {now.customers:,} ({share_now:.1%})"
            )
    if len(before.personas) >= 2 and len(now.personas) <= 1:
        found.append(f"personas fell from {len(before.personas)} to {len(now.personas)}")
    else:
        total = sum(before.personas.values())
        for persona_id, count in sorted(before.personas.items()):
            after = now.personas.get(persona_id, 0)
            if count >= max(PERSONA_SHARE_MIN * total, MIN_CUSTOMERS) and (
                after < count * PERSONA_DROP
            ):
                found.append(
                    f"persona {persona_id} fell from {count:,} customers to {after:,} "
                    "(below a quarter)"
                )
    return found

"""A run given a customers file publishes its attributes, reconciliation and persona profiles."""

from __future__ import annotations

import duckdb
import pytest

from cjm.build.customers import TABLES
from cjm.config import load_config
from tests.cjm.build.test_catalog import check_declared_and_commented
from tests.conftest import SAMPLE_DIR

pytestmark = pytest.mark.slow  # a full flow on Prefect's test API

# Sample ids (C000001 ...) on two plans, one id no log has, and one id given twice.
LISTED = [f"C{n:06d}" for n in range(1, 201)]


def test_a_run_with_customers_publishes_its_tables(prefect_harness, tmp_path):
    from pipelines.journey_flow import journey_flow

    path = tmp_path / "customers.csv"
    lines = ["customer_id,plan", *(f"{c},{('pro', 'free')[n % 2]}" for n, c in enumerate(LISTED))]
    path.write_text("\n".join([*lines, "nobody,pro", "twice,pro", "twice,free"]) + "\n")
    config = load_config(SAMPLE_DIR / "cjm.yaml").model_copy(
        update={"customers": path, "segments": ("customers.plan",)}
    )
    db = tmp_path / "cjm.duckdb"
    summary = journey_flow(events=str(SAMPLE_DIR / "events"), db=str(db), config=config)
    assert set(TABLES) <= check_declared_and_commented(db)
    with duckdb.connect(str(db), read_only=True) as con:
        loads = con.execute(
            "select rows_read, rows_accepted, rows_matched, rows_unmatched, rows_rejected, "
            "rows_duplicate_id, is_reconciled from customer_attribute_loads"
        ).fetchall()
        with_events = {r[0] for r in con.execute("select customer_id from journeys").fetchall()}
        personas = con.execute("select count(*) from customer_personas").fetchone()[0]
        plan_shares = con.execute(
            "select persona_id, sum(share_in_persona), sum(customers) from persona_attributes "
            "where attribute = 'plan' group by 1"
        ).fetchall()
        segmented = con.execute(
            "select count(*) from customer_segments where segment_type = 'customers.plan'"
        ).fetchone()[0]
    matched = len(set(LISTED) & with_events)
    assert matched > 0
    assert loads == [(203, 201, matched, 201 - matched, 2, 2, True)]
    # every customer with a persona is profiled once per attribute, and in the plan segments
    assert sum(n for _, _, n in plan_shares) == personas == segmented
    assert all(abs(share - 1) < 1e-9 for _, share, _ in plan_shares)
    note = next(n for n in summary["notes"] if n.startswith("customer attributes"))
    assert f"{201 - matched:,} unmatched" in note and "2 rejected" in note
    # Nothing new to load: the published attributes are kept, and the run says so.
    again = journey_flow(events=str(SAMPLE_DIR / "events"), db=str(db), config=config)
    assert again["load_mode"] == "unchanged"
    assert any(n.startswith("no new events: customer attributes") for n in again["notes"])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select rows_read from customer_attribute_loads").fetchall() == [(203,)]

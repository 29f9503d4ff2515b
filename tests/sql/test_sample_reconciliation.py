"""The bundled sample's messy files: every row read is accepted, duplicate or rejected."""

from __future__ import annotations

import json

import pandas as pd

from cjm.config import load_config
from tests.conftest import SAMPLE_DIR, build
from tests.sql.test_keys_on_real_logs import assert_keys


def test_sample_counts_reconcile_per_file_with_the_planted_mess():
    con = build(SAMPLE_DIR / "events", load_config(SAMPLE_DIR / "cjm.yaml"))
    truth = json.loads((SAMPLE_DIR / "truth" / "truth.json").read_text())
    loads = con.execute(
        "select regexp_extract(source_file, '[^/]+$') as name, rows_read, rows_accepted, "
        "rows_duplicate, rows_rejected from file_loads order by name"
    ).df()
    assert len(loads) == 3
    for row in loads.itertuples():
        assert row.rows_read == row.rows_accepted + row.rows_duplicate + row.rows_rejected
        assert row.rows_duplicate == truth["messy_rows"][row.name]["duplicate"], row.name
        assert row.rows_rejected == truth["messy_rows"][row.name]["rejected"], row.name
    assert loads["rows_accepted"].sum() == truth["events"]
    rejected = con.execute("select count(*) from rejected_events").fetchall()[0][0]
    assert rejected == loads["rows_rejected"].sum()
    assert_keys(con)


def test_sample_journeys_match_the_simulated_customers():
    con = build(SAMPLE_DIR / "events", load_config(SAMPLE_DIR / "cjm.yaml"))
    customers = pd.read_csv(SAMPLE_DIR / "truth" / "customers.csv", dtype={"customer_id": str})
    journeys = con.execute(
        "select customer_id, is_anonymous, event_count, session_count from journeys"
    ).df()
    # stitching puts every anonymous pre-signup event into its customer's journey
    merged = customers.merge(journeys, on="customer_id", how="outer", validate="1:1")
    assert merged["event_count"].notna().all() and merged["events"].notna().all()
    assert (merged["event_count"] == merged["events"]).all()
    assert (merged["session_count"] == merged["sessions"]).all()
    assert (merged["is_anonymous"] == ~merged["signed_up"].astype(bool)).all()
    # every churner's events stop before its churn date
    last = con.execute("select customer_id, last_seen_at from journeys").df()
    churners = customers[customers["churn_date"].notna()].merge(last, on="customer_id")
    churn_at = pd.to_datetime(churners["churn_date"]).dt.tz_localize("UTC")
    assert (churners["last_seen_at"] < churn_at).all()

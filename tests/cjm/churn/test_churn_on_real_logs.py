"""The churn list on the shared real ticket and incident logs: every customer scored, and no tier
from scores that did not pass the gate, with the warning wherever the list is read."""

from __future__ import annotations

import csv
import json
from html import escape

import duckdb
import pytest

from cjm.churn_list import write_churn_list
from cjm.config import load_config
from cjm.report import write_report
from tests.conftest import REPO, dataset
from tests.published import publish_log

LOGS = {
    "helpdesk": ("helpdesk", "helpdesk.csv"),
    "bpic2013_incidents": ("bpic2013_incidents", "bpic2013_incidents.parquet"),
}


@pytest.fixture(scope="module", params=sorted(LOGS))
def published(request, tmp_path_factory):
    name = request.param
    events = dataset(*LOGS[name])
    config = load_config(REPO / "examples" / f"{name}.yaml")
    db = tmp_path_factory.mktemp(name) / "cjm.duckdb"
    return publish_log(events, db, config)


@pytest.mark.slow
def test_every_case_is_scored_and_no_tier_comes_from_untrusted_scores(published):
    con = duckdb.connect(str(published), read_only=True)
    identified = con.execute("select count(*) from journeys where not is_anonymous").fetchone()[0]
    risk = con.execute("select * from churn_risk").df()
    card = {k: json.loads(v) for k, v in con.execute("select * from churn_model_card").fetchall()}
    notes = json.loads(con.execute("select notes from pipeline_runs").fetchone()[0])
    con.close()
    assert len(risk) == identified and risk["customer_id"].is_unique
    assert set(risk["customer_state"]) <= {"active", "lapsed", "exited"}
    assert not card["trusted"] and set(risk["risk_tier"]) == {"none"}
    assert card["warnings"] and "no tiers are given" in card["warnings"][0]
    assert any(card["warnings"][0] in note for note in notes)
    # the card reports how many got no reason, in the log's words
    alone = risk["reasons"].str.startswith("no single behaviour stands out").mean()
    assert card["share_without_reason"] == pytest.approx(alone)
    assert card["customers_scored"] == len(risk)
    # exited cases say so first
    exited = risk.loc[risk["customer_state"] == "exited", "reasons"]
    assert len(exited) and exited.str.startswith("left through an exit touchpoint").all()


@pytest.mark.slow
def test_warning_travels_with_the_list_and_the_report(published, tmp_path):
    con = duckdb.connect(str(published), read_only=True)
    row = con.execute("select value from churn_model_card where item = 'warnings'").fetchone()
    con.close()
    warning = json.loads(row[0])[0]
    out = tmp_path / "list.csv"
    write_churn_list(published, out, top=5)
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and {r["warning"] for r in rows} == {warning}
    html = write_report(published, tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'data-role="churn-warning"' in html
    assert escape(warning, quote=True) in html
    # the state filter: the exited cases only
    write_churn_list(published, out, states=["exited"])
    with out.open(newline="", encoding="utf-8") as handle:
        states = {r["customer_state"] for r in csv.DictReader(handle)}
    assert states == {"exited"}


@pytest.mark.slow
def test_reasons_speak_of_the_logs_own_entity(published):
    con = duckdb.connect(str(published), read_only=True)
    reasons = con.execute("select reasons from churn_risk").df()["reasons"]
    con.close()
    assert not reasons.str.contains("customer").any()
    assert reasons.str.contains(r"typical (?:ticket|incident)").any()

"""The churn section's reads: the save list (active customers, riskiest first), tier and state
counts, the strongest patterns before churn, holdout metrics and the model card's status."""

from __future__ import annotations

import duckdb
import pandas as pd

from cjm.churn_list import read_churn_card
from cjm.report.tables import has_columns

TOP_AT_RISK = 20
TOP_PATTERNS = 12


def read_churn(con: duckdb.DuckDBPyConnection, columns: dict[str, set[str]]) -> dict:
    """Top at-risk customers, tier counts, significant churn patterns, model metrics, status."""
    churn: dict = {
        "at_risk": pd.DataFrame(),
        "tiers": {},
        "patterns": pd.DataFrame(),
        "metrics": pd.DataFrame(),
        "reason": None,
        "scored": 0,
        "warnings": [],
        "source": None,
        "states": {},
    }
    if has_columns(columns, "churn_risk", "customer_id", "risk_score", "risk_tier"):
        names = (
            "left join personas as p on r.persona_id = p.persona_id"
            if has_columns(columns, "personas", "persona_id", "name")
            and "persona_id" in columns["churn_risk"]
            else ""
        )
        persona = "p.name as persona" if names else "null as persona"
        # "At risk now" is the save list: active customers (lapsed ones are the win-back list).
        active = (
            "where r.customer_state = 'active'" if "customer_state" in columns["churn_risk"] else ""
        )
        churn["at_risk"] = con.execute(
            f"select r.*, {persona} from churn_risk as r {names} {active} "
            "order by r.risk_score desc, r.customer_id limit ?",
            [TOP_AT_RISK],
        ).df()
        if active:
            churn["states"] = dict(
                con.execute(
                    "select customer_state, count(*) from churn_risk group by all"
                ).fetchall()
            )
        churn["tiers"] = dict(
            con.execute("select risk_tier, count(*) from churn_risk group by all").fetchall()
        )
        churn["scored"] = sum(churn["tiers"].values())
    if has_columns(columns, "churn_patterns", "pattern", "lift"):
        churn["patterns"] = con.execute(
            "select * from churn_patterns order by lift desc, customer_count desc, pattern limit ?",
            [TOP_PATTERNS],
        ).df()
    if has_columns(columns, "churn_model_metrics", "model", "roc_auc"):
        churn["metrics"] = con.execute("select * from churn_model_metrics").df()
    if has_columns(columns, "churn_model_card", "item", "value"):
        card = read_churn_card(con)
        churn["reason"] = card["reason"] if isinstance(card.get("reason"), str) else None
        churn["warnings"] = list(card.get("warnings") or [])
        churn["source"] = card.get("score_source")
    return churn

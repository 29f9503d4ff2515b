"""What the churn section shows: the save list, tier and state counts, patterns before churn and
how the published scores compare with their baselines, formatted for the page template."""

from __future__ import annotations

import pandas as pd

from cjm.report.data import ReportData
from cjm.report.format import fmt_int, fmt_money, fmt_num, fmt_pct, fmt_time, missing

# How each scorer is named in the report (churn_risk.score_source -> words).
SCORE_SOURCES = {
    "churn_model": "the churn model",
    "model_bgnbd_blend": "the churn model blended with BG/NBD",
    "recency_baseline": "days since last activity",
    "bgnbd_baseline": "BG/NBD",
    "bgnbd_horizon": "BG/NBD extrapolated to the horizon",
}


def churn_view(data: ReportData) -> dict:
    """The churn section's values: save list, patterns, metrics, tiers, states and the scorer."""
    churn = data.churn
    metrics = _metric_views(churn["metrics"])
    source = churn.get("source")
    tiers = [
        {"tier": t, "count": fmt_int(churn["tiers"][t])}
        for t in ("high", "medium", "low", "none")
        if t in churn["tiers"]
    ]
    return {
        "at_risk": _at_risk_rows(churn["at_risk"], data.kpis["revenue"] is not None),
        "patterns": _pattern_rows(churn["patterns"]),
        "metrics": metrics,
        "tiers": tiers,
        "scored": fmt_int(churn["scored"]),
        "reason": churn["reason"],
        "warnings": churn.get("warnings") or [],
        "source": SCORE_SOURCES.get(source, source) if source else None,
        "chosen": metrics.get(source) if source else None,
        "baselines": [
            m for name, m in metrics.items() if m is not None and name not in (source, None)
        ],
        "states": [
            {"state": s, "count": fmt_int(n)} for s, n in sorted(churn.get("states", {}).items())
        ],
    }


def _at_risk_rows(at_risk: pd.DataFrame, has_revenue: bool) -> list[dict]:
    """The save list's rows, riskiest first (revenue only when the log carries it)."""
    return [
        {
            # position on the save list (churn_risk.rank counts lapsed customers too)
            "rank": fmt_int(i + 1),
            "customer_id": row["customer_id"],
            "score": fmt_pct(row["risk_score"]),
            "score_value": float(row["risk_score"]),
            "tier": row["risk_tier"],
            "persona": row.get("persona") if not missing(row.get("persona")) else "–",
            "last_seen": fmt_time(row.get("last_seen_at")),
            "revenue": fmt_money(row.get("revenue")) if has_revenue else None,
            "reasons": [r.strip() for r in str(row.get("reasons") or "").split(";") if r.strip()],
        }
        for i, (_, row) in enumerate(at_risk.iterrows())
    ]


def _pattern_rows(patterns: pd.DataFrame) -> list[dict]:
    """The touchpoint sequences seen before churn, with their lift and q-value."""
    return [
        {
            "steps": [s.strip() for s in str(row["pattern"]).split(">")],
            "customers": fmt_int(row.get("customer_count")),
            "churn_rate": fmt_pct(row.get("churn_rate")),
            "lift": fmt_num(row.get("lift"), 1),
            "q_value": f"{row['q_value']:.1e}" if not missing(row.get("q_value")) else "–",
        }
        for _, row in patterns.iterrows()
    ]


def _metric_views(frame: pd.DataFrame) -> dict[str, dict | None]:
    """Each scorer's holdout AUC (with its interval) and precision, by scorer name."""
    metrics: dict[str, dict | None] = {"churn_model": None, "recency_baseline": None}
    for _, row in frame.iterrows():
        if missing(row.get("roc_auc")):
            continue
        metrics[row["model"]] = {
            "name": SCORE_SOURCES.get(row["model"], row["model"]),
            "roc_auc": fmt_num(row.get("roc_auc")),
            "interval": f"{fmt_num(row.get('roc_auc_low'))}–{fmt_num(row.get('roc_auc_high'))}"
            if not missing(row.get("roc_auc_low"))
            else None,
            "precision": fmt_pct(row.get("precision_at_top10pct")),
        }
    return metrics

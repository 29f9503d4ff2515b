"""What the overview, typical paths, pain & delight and persona sections show: values formatted
for the page template, read from ReportData."""

from __future__ import annotations

import pandas as pd

from cjm.config_sections import EntityNoun
from cjm.report.data import ReportData
from cjm.report.format import fmt_delta, fmt_int, fmt_money, fmt_pct, fmt_time, missing

TOP_PATHS = 10


def kpi_cards(data: ReportData, noun: EntityNoun) -> list[dict]:
    """The overview's cards: counts, conversion, churn, revenue and high risk, with run deltas."""
    k, deltas = data.kpis, data.runs["deltas"]
    has_previous = data.runs["previous"] is not None

    def delta(key: str) -> str | None:
        if not has_previous:
            return None
        return fmt_delta(deltas.get(key)) if key in deltas else None

    cards = [
        {
            "label": noun.plural.capitalize(),
            "value": fmt_int(k["customers"]),
            "sub": delta("customers"),
        },
        {"label": "Events", "value": fmt_int(k["events"]), "sub": delta("events")},
        {"label": "Sessions", "value": fmt_int(k["sessions"]), "sub": delta("sessions")},
        {
            "label": "Converted",
            "value": fmt_pct(k["conversion_rate"], 1),
            "sub": "reached a conversion",
        },
        {
            "label": "Churned",
            "value": fmt_pct(k["churn_rate"], 1),
            "sub": "by the churn definition"
            if k["churn_rate"] is not None
            else "no churn state in this database",
        },
        {
            "label": "Revenue",
            "value": fmt_money(k["revenue"]),
            "sub": f"{fmt_money(k['revenue_per_customer'])} per {noun.singular}"
            if k["revenue"] is not None
            else "this log carries no revenue",
        },
        {
            "label": "High churn risk",
            "value": fmt_int(k["flagged"]),
            "sub": delta("flagged")
            or (
                f"{noun.plural} in the high tier" if k["flagged"] is not None else "no churn scores"
            ),
        },
    ]
    return cards


def run_summary(data: ReportData) -> dict | None:
    """The latest successful run and the one before it; None when the database has no runs."""
    latest = data.runs["latest"]
    if latest is None:
        return None
    previous = data.runs["previous"]
    return {
        "run_id": latest.get("run_id"),
        "finished_at": fmt_time(latest.get("finished_at")),
        "files": latest.get("input_file_count"),
        "rows_read": fmt_int(latest.get("rows_read")),
        "rows_rejected": fmt_int(latest.get("rows_rejected")),
        "previous": None
        if previous is None
        else {
            "run_id": previous.get("run_id"),
            "finished_at": fmt_time(previous.get("finished_at")),
        },
    }


def top_paths(paths: pd.DataFrame, customers: int) -> list[dict]:
    """The TOP_PATHS most common journey openings, with their share and conversion."""
    grouped = paths.groupby("path", as_index=False).agg(
        steps=("steps", "first"),
        customers=("customer_count", "sum"),
        converted=("converted_count", "sum"),
    )
    grouped = grouped.sort_values(["customers", "path"], ascending=[False, True]).head(TOP_PATHS)
    return [
        {
            "steps": list(row.steps),
            "customers": fmt_int(row.customers),
            "share": fmt_pct(row.customers / customers, 1) if customers else "–",
            "conversion": fmt_pct(row.converted / row.customers),
        }
        for row in grouped.itertuples()
    ]


def role_groups(insights: pd.DataFrame) -> list[dict]:
    """Pain points, moments of truth and points of delight, busiest first."""
    groups = []
    blurbs = {
        "pain_point": "Tied to failure, churn or negative sentiment: fix these first.",
        "moment_of_truth": "Removing them would lose the most conversions.",
        "point_of_delight": "Tied to success, retention or positive sentiment: grow these.",
    }
    titles = {
        "pain_point": "Pain points",
        "moment_of_truth": "Moments of truth",
        "point_of_delight": "Points of delight",
    }
    for role in ("pain_point", "moment_of_truth", "point_of_delight"):
        part = insights[insights["role"] == role] if "role" in insights else insights.iloc[0:0]
        groups.append(
            {
                "role": role,
                "title": titles[role],
                "blurb": blurbs[role],
                "members": [
                    {
                        "touchpoint": row["touchpoint"],
                        "reach": fmt_int(row["reach"]),
                        "reason": row.get("role_reason") or "",
                    }
                    for _, row in part.sort_values("reach", ascending=False).iterrows()
                ],
            }
        )
    return groups


def _split_list(value: object) -> list[str]:
    if missing(value) or not str(value).strip():
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def persona_cards(data: ReportData) -> list[dict]:
    """One card per persona: its description, rates, top touchpoints and typical path."""
    cards = []
    paths = data.paths
    for _, p in data.personas.iterrows():
        mine = paths[paths["persona_id"] == p["persona_id"]]
        typical, typical_share = [], None
        if not mine.empty:
            top = mine.sort_values(["customer_count", "path"], ascending=[False, True]).iloc[0]
            typical = list(top["steps"])
            typical_share = fmt_pct(top["customer_count"] / mine["customer_count"].sum())
        headline, _, detail = str(p.get("description") or "").partition(". ")
        cards.append(
            {
                "name": p.get("name"),
                "headline": headline.rstrip(".") + "." if headline else "",
                "detail": detail,
                "customers": fmt_int(p.get("customer_count")),
                "share": fmt_pct(p.get("share")),
                "conversion": fmt_pct(p.get("conversion_rate")),
                "churn": fmt_pct(p.get("churn_rate")),
                "revenue": fmt_money(p.get("revenue_per_customer"))
                if data.kpis["revenue"] is not None
                else None,
                "touchpoints": _split_list(p.get("top_touchpoints")),
                "channels": _split_list(p.get("top_channels")),
                "typical": typical,
                "typical_share": typical_share,
            }
        )
    return cards

"""The journey-map report as one self-contained HTML file (plotly.js inlined, no network)."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import jinja2
import pandas as pd
from plotly.offline import get_plotlyjs

from cjm.config import EMOTION_MIN_EVENTS
from cjm.config_sections import EntityNoun
from cjm.insights import roles_note
from cjm.query import open_published
from cjm.report import charts, trends
from cjm.report.data import FLOW_STEPS, ReportData, read_report_data

TEMPLATES = Path(__file__).with_name("templates")
SECTIONS = (
    ("kpis", "Overview"),
    ("trends", "KPIs over time"),
    ("funnel", "Stage funnel"),
    ("flow", "Journey flow"),
    ("graph", "Transition graph"),
    ("emotion", "Emotion curve"),
    ("moments", "Pain & delight"),
    ("owners", "Stakeholders"),
    ("personas", "Personas"),
    ("churn", "Churn"),
)
TOP_PATHS = 10


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every data value in the page is escaped unless marked safe here
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def fmt_int(value: object) -> str:
    """1234567 -> '1,234,567'; missing -> '–'."""
    return "–" if _missing(value) else f"{int(value):,}"


def fmt_pct(value: object, digits: int = 0) -> str:
    """0.1234 -> '12%'."""
    return "–" if _missing(value) else f"{float(value):.{digits}%}"


def fmt_num(value: object, digits: int = 2) -> str:
    """A plain number with fixed decimals."""
    return "–" if _missing(value) else f"{float(value):,.{digits}f}"


def fmt_money(value: object) -> str:
    """Revenue without a currency symbol (the log does not say which currency)."""
    if _missing(value):
        return "–"
    value = float(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"


def fmt_delta(value: int | None, noun: str = "") -> str | None:
    """+12 / −3 / no change; None when there is no previous run."""
    if value is None:
        return None
    if value == 0:
        return "no change since last run"
    sign = "+" if value > 0 else "−"
    return f"{sign}{abs(value):,}{noun} since last run"


def fmt_time(value: object) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC'."""
    if _missing(value):
        return "–"
    return pd.Timestamp(value).tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def _kpi_cards(data: ReportData, noun: EntityNoun) -> list[dict]:
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


def _run_summary(data: ReportData) -> dict | None:
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


def _top_paths(paths: pd.DataFrame, customers: int) -> list[dict]:
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


def _role_groups(insights: pd.DataFrame) -> list[dict]:
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
    if _missing(value) or not str(value).strip():
        return []
    return [part.strip() for part in str(value).split(",") if part.strip()]


def _persona_cards(data: ReportData) -> list[dict]:
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


# How each scorer is named in the report (churn_risk.score_source -> words).
SCORE_SOURCES = {
    "churn_model": "the churn model",
    "model_bgnbd_blend": "the churn model blended with BG/NBD",
    "recency_baseline": "days since last activity",
    "bgnbd_baseline": "BG/NBD",
    "bgnbd_horizon": "BG/NBD extrapolated to the horizon",
}


def _churn_view(data: ReportData) -> dict:
    churn = data.churn
    at_risk = [
        {
            # position on the save list (churn_risk.rank counts lapsed customers too)
            "rank": fmt_int(i + 1),
            "customer_id": row["customer_id"],
            "score": fmt_pct(row["risk_score"]),
            "score_value": float(row["risk_score"]),
            "tier": row["risk_tier"],
            "persona": row.get("persona") if not _missing(row.get("persona")) else "–",
            "last_seen": fmt_time(row.get("last_seen_at")),
            "revenue": fmt_money(row.get("revenue")) if data.kpis["revenue"] is not None else None,
            "reasons": [r.strip() for r in str(row.get("reasons") or "").split(";") if r.strip()],
        }
        for i, (_, row) in enumerate(churn["at_risk"].iterrows())
    ]
    patterns = [
        {
            "steps": [s.strip() for s in str(row["pattern"]).split(">")],
            "customers": fmt_int(row.get("customer_count")),
            "churn_rate": fmt_pct(row.get("churn_rate")),
            "lift": fmt_num(row.get("lift"), 1),
            "q_value": f"{row['q_value']:.1e}" if not _missing(row.get("q_value")) else "–",
        }
        for _, row in churn["patterns"].iterrows()
    ]
    metrics: dict[str, dict | None] = {"churn_model": None, "recency_baseline": None}
    for _, row in churn["metrics"].iterrows():
        if _missing(row.get("roc_auc")):
            continue
        metrics[row["model"]] = {
            "name": SCORE_SOURCES.get(row["model"], row["model"]),
            "roc_auc": fmt_num(row.get("roc_auc")),
            "interval": f"{fmt_num(row.get('roc_auc_low'))}–{fmt_num(row.get('roc_auc_high'))}"
            if not _missing(row.get("roc_auc_low"))
            else None,
            "precision": fmt_pct(row.get("precision_at_top10pct")),
        }
    source = churn.get("source")
    tiers = [
        {"tier": t, "count": fmt_int(churn["tiers"][t])}
        for t in ("high", "medium", "low", "none")
        if t in churn["tiers"]
    ]
    return {
        "at_risk": at_risk,
        "patterns": patterns,
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


def _shown(html: str | None = None, note: str | None = None, **extra: str) -> dict:
    """One section's figure HTML, or the sentence saying why the log cannot show it."""
    return {"html": html, "note": note, "shown": None, "total": None, **extra}


def _figures(data: ReportData, emotion_min_events: int, noun: str) -> dict:
    """Each section's figure, or why the log cannot show it."""
    out: dict[str, dict] = {}
    if data.funnel.empty:
        out["funnel"] = _shown(
            note="No touchpoint of this log is mapped to a journey stage "
            "(map them to stages under stages: in the config)."
        )
    else:
        fig = charts.funnel_figure(data.funnel, noun)
        out["funnel"] = _shown(charts.figure_html(fig, "fig-funnel"))
    order = data.touchpoint_order
    stages = dict(zip(order["touchpoint"], order["stage"], strict=True))
    if data.paths.empty or data.paths["steps"].map(len).max() < 2:
        out["flow"] = _shown(
            note="Every journey has a single touchpoint: there is no flow to show."
        )
    else:
        fig = charts.flow_figure(data.paths, stages, noun)
        out["flow"] = _shown(charts.figure_html(fig, "fig-flow"))
    if data.graph is None or data.graph.number_of_edges() == 0:
        out["graph"] = _shown(note="This database has no transitions.")
    else:
        fig, shown, total = charts.graph_figure(data.graph, data.insights, noun)
        out["graph"] = _shown(
            charts.figure_html(fig, "fig-graph"), shown=fmt_int(shown), total=fmt_int(total)
        )
    if not data.kpis["has_sentiment"]:
        out["emotion"] = _shown(
            note="This log carries no sentiment, so there is no emotion curve. Map a rating or "
            "score column onto sentiment in the config (sentiment_range) to get one."
        )
    else:
        fig = charts.emotion_figure(data.stage_sentiment, data.touchpoint_order, emotion_min_events)
        thin = charts.thin_emotion_points(
            data.stage_sentiment, data.touchpoint_order, emotion_min_events
        )
        note = (
            f"Hollow: fewer than {emotion_min_events} rated events, too few to read as the "
            f"emotion of that step: {', '.join(thin)}."
            if thin
            else None
        )
        out["emotion"] = _shown(charts.figure_html(fig, "fig-emotion"), note)
    lift = charts.lift_figure(data.insights, noun) if not data.insights.empty else None
    out["moments"] = (
        _shown(charts.figure_html(lift, "fig-lifts"))
        if lift is not None
        else _shown(note="No touchpoint has both a conversion and a churn lift to plot.")
    )
    if data.personas.empty:
        out["personas"] = _shown(note="No personas were trained for this database.")
    else:
        out["personas"] = _shown(
            charts.figure_html(charts.persona_figure(data.personas, noun), "fig-personas")
        )
    return out


def render_report(
    data: ReportData,
    source: str,
    entity: EntityNoun | None = None,
    emotion_min_events: int = EMOTION_MIN_EVENTS,
) -> str:
    """The report page as HTML text, speaking of `entity` (default customers)."""
    customers = data.kpis["customers"]
    noun = entity or EntityNoun()
    context = {
        "title": "Customer journey map",
        "source": source,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": _version(),
        "period": (fmt_time(data.kpis["first_seen_at"]), fmt_time(data.kpis["last_seen_at"])),
        "sections": SECTIONS,
        "notes": data.notes,
        "kpis": _kpi_cards(data, noun),
        "noun": {
            "one": noun.singular,
            "many": noun.plural,
            "One": noun.singular.capitalize(),
            "Many": noun.plural.capitalize(),
        },
        "emotion_min_events": emotion_min_events,
        "roles_note": roles_note(data.insights),
        "run": _run_summary(data),
        "kpi_raw": data.kpis,
        "flow_steps": FLOW_STEPS,
        "flow_top": charts.FLOW_TOP,
        "graph_max_edges": charts.GRAPH_MAX_EDGES,
        "graph_min_probability": fmt_pct(charts.GRAPH_MIN_PROBABILITY),
        "top_paths": _top_paths(data.paths, customers) if not data.paths.empty else [],
        "roles": _role_groups(data.insights),
        "has_insights": not data.insights.empty,
        "personas": _persona_cards(data),
        "churn": _churn_view(data),
        "trend": trends.trend_view(data.kpi_trend, noun.plural)
        if customers
        else trends.no_trend(data.notes["all"]),
        "owners": trends.owners_view(data.owners),
        "figures": _figures(data, emotion_min_events, noun.plural)
        if customers
        else {key: _shown(note=data.notes["all"]) for key, _ in SECTIONS},
        "plotly_js": get_plotlyjs(),
    }
    return _environment().get_template("report.html.j2").render(**context)


def _version() -> str:
    try:
        return metadata.version("cjm")
    except metadata.PackageNotFoundError:
        return "unknown"


def write_report(
    db_path: Path,
    out: Path,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: Path | None = None,
    entity: EntityNoun | None = None,
    emotion_min_events: int = EMOTION_MIN_EVENTS,
) -> Path:
    """Read the published database read-only and write the report to `out` atomically.

    `entity` is the noun the page speaks of; emotion-curve points on fewer than
    `emotion_min_events` rated events are drawn hollow and listed.
    threads, memory_limit and temp_directory are DuckDB's (default: DuckDB's own, which lets a
    report of 100M events take most of the machine's memory).
    """
    con = open_published(
        db_path, threads=threads, memory_limit=memory_limit, temp_directory=temp_directory
    )
    try:
        data = read_report_data(con)
    finally:
        con.close()
    page = render_report(data, db_path.name, entity, emotion_min_events)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, out)  # a browser refreshing the page never sees half a report
    return out

"""The journey-map report as one self-contained HTML file (plotly.js inlined, no network)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import jinja2
from plotly.offline import get_plotlyjs

from cjm.config import EMOTION_MIN_EVENTS
from cjm.config_sections import EntityNoun
from cjm.journeys.insights import roles_note
from cjm.query import open_published
from cjm.report import charts, emotion_chart, graph_chart, trends, views
from cjm.report.attributes_view import attributes_view
from cjm.report.churn_view import churn_view
from cjm.report.data import FLOW_STEPS, ReportData, read_report_data
from cjm.report.format import fmt_int, fmt_pct, fmt_time
from cjm.report.style import figure_html

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
    ("attributes", "Attributes"),
    ("churn", "Churn"),
)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every data value in the page is escaped unless marked safe here
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


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
        out["funnel"] = _shown(figure_html(fig, "fig-funnel"))
    order = data.touchpoint_order
    stages = dict(zip(order["touchpoint"], order["stage"], strict=True))
    if data.paths.empty or data.paths["steps"].map(len).max() < 2:
        out["flow"] = _shown(
            note="Every journey has a single touchpoint: there is no flow to show."
        )
    else:
        fig = charts.flow_figure(data.paths, stages, noun)
        out["flow"] = _shown(figure_html(fig, "fig-flow"))
    if data.graph is None or data.graph.number_of_edges() == 0:
        out["graph"] = _shown(note="This database has no transitions.")
    else:
        fig, shown, total = graph_chart.graph_figure(data.graph, data.insights, noun)
        out["graph"] = _shown(
            figure_html(fig, "fig-graph"), shown=fmt_int(shown), total=fmt_int(total)
        )
    if not data.kpis["has_sentiment"]:
        out["emotion"] = _shown(
            note="This log carries no sentiment, so there is no emotion curve. Map a rating or "
            "score column onto sentiment in the config (sentiment_range) to get one."
        )
    else:
        fig = emotion_chart.emotion_figure(
            data.stage_sentiment, data.touchpoint_order, emotion_min_events
        )
        thin = emotion_chart.thin_emotion_points(
            data.stage_sentiment, data.touchpoint_order, emotion_min_events
        )
        note = (
            f"Hollow: fewer than {emotion_min_events} rated events, too few to read as the "
            f"emotion of that step: {', '.join(thin)}."
            if thin
            else None
        )
        out["emotion"] = _shown(figure_html(fig, "fig-emotion"), note)
    lift = charts.lift_figure(data.insights, noun) if not data.insights.empty else None
    out["moments"] = (
        _shown(figure_html(lift, "fig-lifts"))
        if lift is not None
        else _shown(note="No touchpoint has both a conversion and a churn lift to plot.")
    )
    if data.personas.empty:
        out["personas"] = _shown(note="No personas were trained for this database.")
    else:
        out["personas"] = _shown(
            figure_html(charts.persona_figure(data.personas, noun), "fig-personas")
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
        "kpis": views.kpi_cards(data, noun),
        "noun": {
            "one": noun.singular,
            "many": noun.plural,
            "One": noun.singular.capitalize(),
            "Many": noun.plural.capitalize(),
        },
        "emotion_min_events": emotion_min_events,
        "roles_note": roles_note(data.insights),
        "run": views.run_summary(data),
        "kpi_raw": data.kpis,
        "flow_steps": FLOW_STEPS,
        "flow_top": charts.FLOW_TOP,
        "graph_max_edges": graph_chart.GRAPH_MAX_EDGES,
        "graph_min_probability": fmt_pct(graph_chart.GRAPH_MIN_PROBABILITY),
        "top_paths": views.top_paths(data.paths, customers) if not data.paths.empty else [],
        "roles": views.role_groups(data.insights),
        "has_insights": not data.insights.empty,
        "personas": views.persona_cards(data),
        "churn": churn_view(data),
        "attributes": attributes_view(data.persona_attributes, data.personas, noun.plural),
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

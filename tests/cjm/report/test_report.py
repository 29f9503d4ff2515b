"""The journey-map report: its data, its sections, escaping, and the `cjm report` command."""

from __future__ import annotations

import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from markupsafe import escape
from plotly.offline import get_plotlyjs

from cjm.cli.main import main
from cjm.config import parse_config
from cjm.config_sections import EntityNoun
from cjm.db import connect
from cjm.report import write_report
from cjm.report.charts import flow_links
from cjm.report.data import read_report_data
from cjm.report.render import SECTIONS
from cjm.steps import report_path_for
from tests.conftest import write_csv
from tests.published import publish_log

XSS = "<script>alert(1)</script>"
XSS_IMG = '<img src=x onerror="alert(2)">'
SECTION_IDS = [key for key, _ in SECTIONS]


def tiny_log(
    path: Path, customers: int, *, rich: bool = True, seed: int = 3, start_day: int = 0
) -> Path:
    """A small log whose touchpoint names include markup; `rich` adds channel/revenue/sentiment."""
    rng = random.Random(seed)
    touchpoints = ["ad_click", "product_view", XSS, "add_to_cart", "purchase", XSS_IMG, "ticket"]
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=start_day)
    rows = []
    for c in range(customers):
        at = start + timedelta(hours=rng.randint(0, 24 * 20))
        for _ in range(rng.randint(2, 9)):
            at += timedelta(minutes=rng.choice([2, 5, 90, 60 * 30]))
            touchpoint = rng.choice(touchpoints)
            row = {
                "customer_id": f"c{c:03d}",
                "event_time": at.isoformat(),
                "touchpoint": touchpoint,
            }
            if rich:
                row["channel"] = rng.choice(["web", "email", "store"])
                row["revenue"] = "25" if touchpoint == "purchase" else ""
                row["sentiment"] = f"{rng.uniform(-1, 1):.2f}" if touchpoint == XSS else ""
            rows.append(row)
    return write_csv(path, rows)


@pytest.fixture(scope="module")
def markup_db(tmp_path_factory) -> Path:
    """A published log whose touchpoints are named like HTML and script."""
    out = tmp_path_factory.mktemp("markup")
    events = tiny_log(out / "events.csv", 60)
    return publish_log(events, out / "cjm.duckdb", parse_config({}))


@pytest.fixture(scope="module")
def sample_report(published_sample, tmp_path_factory) -> str:
    """The report of the bundled sample, as HTML text."""
    out = tmp_path_factory.mktemp("report") / "sample.html"
    return write_report(published_sample, out).read_text(encoding="utf-8")


def test_sample_report_has_every_section_and_needs_no_network(sample_report, published_sample):
    html = sample_report
    for section in SECTION_IDS:
        assert f'<section class="panel" id="{section}"' in html, section
    # Self-contained: plotly.js inlined once (its own source names web sites in strings, which
    # it only opens on a click), and the page around it loads nothing from anywhere.
    assert html.count(get_plotlyjs()) == 1
    page = html.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    # trend, funnel, flow, graph, emotion, lifts, personas
    assert html.count("Plotly.newPlot(") == 7
    con = duckdb.connect(str(published_sample), read_only=True)
    customers = con.execute("select count(*) from journeys").fetchone()[0]
    personas = [r[0] for r in con.execute("select name from personas").fetchall()]
    riskiest = con.execute(
        "select customer_id from churn_risk where customer_state = 'active' order by rank limit 1"
    ).fetchone()
    pain = con.execute(
        "select touchpoint from touchpoint_insights where role = 'pain_point' order by reach desc"
    ).fetchone()
    con.close()
    assert f'<div class="value">{customers:,}</div>' in html
    for name in personas:
        assert name.replace("&", "&amp;") in html
    assert f"<td>{riskiest[0]}</td>" in html
    assert f'<span class="name">{pain[0]}</span>' in html
    assert "This log carries no" not in html  # the sample has sentiment, channel and revenue


def test_report_data_of_sample_matches_the_tables(published_sample):
    con = connect(published_sample, read_only=True)
    try:
        data = read_report_data(con)
        converted = con.execute("select avg(is_converted::int) from journeys").fetchone()[0]
        advocacy = con.execute(
            "select count(*) from journeys where furthest_stage = 'advocacy'"
        ).fetchone()[0]
        first_steps = con.execute(
            "select touchpoint, count(*) from events where event_index = 1 group by 1"
        ).fetchall()
    finally:
        con.close()
    assert data.kpis["conversion_rate"] == pytest.approx(converted)
    funnel = data.funnel.set_index("stage")["customer_count"]
    assert list(funnel.index) == ["awareness", "consideration", "purchase", "retention", "advocacy"]
    assert funnel.is_monotonic_decreasing and funnel["awareness"] == data.kpis["customers"]
    assert funnel["advocacy"] == advocacy
    # Every customer's journey opens once; the first step's counts are the first events'.
    assert data.paths["customer_count"].sum() == data.kpis["customers"]
    opened = data.paths.groupby(data.paths["steps"].map(lambda s: s[0]))["customer_count"].sum()
    assert opened.to_dict() == dict(first_steps)
    assert data.runs["previous"] is None and data.runs["deltas"] == {}


def test_flow_links_pool_rare_touchpoints_and_end_short_journeys(monkeypatch):
    monkeypatch.setattr("cjm.report.charts.FLOW_TOP", 1)
    paths = pd.DataFrame(
        {
            "steps": [["a", "b"], ["a", "c", "b"], ["d"], ["a", "b"]],
            "customer_count": [5, 2, 1, 3],
        }
    )
    paths["path"] = paths["steps"].map(" > ".join)
    links = flow_links(paths)
    tp, other, ended = "touchpoint", "other", "ended"
    assert links == {
        ((0, tp, "a"), (1, tp, "b")): 8,  # both a > b rows together
        ((1, tp, "b"), (2, ended, "")): 8,
        ((0, tp, "a"), (1, other, "")): 2,  # c is not step 2's busiest touchpoint
        ((1, other, ""), (2, tp, "b")): 2,
        ((2, tp, "b"), (3, ended, "")): 2,
        ((0, other, ""), (1, ended, "")): 1,  # d: a one-touchpoint journey that is not a's
    }


def test_touchpoint_names_are_escaped_everywhere(markup_db, tmp_path):
    html = write_report(markup_db, tmp_path / "r.html").read_text(encoding="utf-8")
    assert XSS not in html and XSS_IMG not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text in tables and cards
    # Figure data: Plotly writes < and / as \u003c and \u002f, so no label closes its script.
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    # plotly.js, the label placement, and one per figure
    assert len(scripts) == 2 + html.count("Plotly.newPlot(")
    assert not any("alert(1)" in s and "Plotly.newPlot(" not in s for s in scripts[1:])


def test_log_without_sentiment_channel_or_revenue_says_so(tmp_path):
    events = tiny_log(tmp_path / "events.csv", 40, rich=False)
    db = publish_log(events, tmp_path / "plain.duckdb", parse_config({}))
    html = write_report(db, tmp_path / "plain.html").read_text(encoding="utf-8")
    assert "This log carries no sentiment" in html
    assert "this log carries no revenue" in html
    con = duckdb.connect(str(db), read_only=True)
    has_personas = con.execute("select count(*) from personas").fetchone()[0] > 0
    con.close()
    if has_personas:
        assert "this log carries no channel" in html
    for section in SECTION_IDS:
        assert f'id="{section}"' in html


def test_report_shows_change_since_last_run(tmp_path):
    db = tmp_path / "cjm.duckdb"
    config = parse_config({})
    for day, customers in (("day1", 30), ("day2", 45)):
        (tmp_path / day).mkdir()
        tiny_log(tmp_path / day / "events.csv", customers, seed=len(day) + customers)
        publish_log(tmp_path / day, db, config)
    con = connect(db, read_only=True)
    try:
        data = read_report_data(con)
    finally:
        con.close()
    assert data.runs["deltas"]["customers"] == 15
    assert data.runs["latest"]["customers"] == 45
    html = write_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "+15 since last run" in html
    assert data.runs["previous"]["run_id"] in html


def test_database_without_events_still_gets_a_report(published_sample, tmp_path):
    db = tmp_path / "empty.duckdb"
    shutil.copyfile(published_sample, db)
    con = duckdb.connect(str(db))
    for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
        if table != "pipeline_runs":
            con.execute(f'delete from "{table}"')
    con.close()
    html = write_report(db, tmp_path / "empty.html").read_text(encoding="utf-8")
    assert html.count("nothing to map yet") >= 5
    assert "Plotly.newPlot(" not in html
    for section in SECTION_IDS:
        assert f'id="{section}"' in html


def test_cli_report_writes_the_page_and_reports_a_missing_database(published_sample, tmp_path):
    out = tmp_path / "site" / "map.html"
    assert main(["report", "--out", str(out), "--db", str(published_sample)]) == 0
    assert out.exists() and "Customer journey map" in out.read_text(encoding="utf-8")
    assert not list(out.parent.glob(".*partial"))
    assert main(["report", "--out", str(out), "--db", str(tmp_path / "none.duckdb")]) == 2


def test_report_path_sits_beside_the_database():
    assert report_path_for(Path("/data/warehouse/cjm.duckdb")) == Path(
        "/data/warehouse/cjm_report.html"
    )


def _spy_report_settings(monkeypatch) -> dict:
    """Record the DuckDB settings of the connection the report reads through."""
    from cjm.report import render

    seen = {}
    opened = render.open_published

    def spy(db_path, **settings):
        con = opened(db_path, **settings)
        row = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'), "
            "current_setting('temp_directory')"
        ).fetchone()
        seen.update(zip(("memory_limit", "threads", "temp_directory"), row, strict=True))
        return con

    monkeypatch.setattr(render, "open_published", spy)
    return seen


def test_run_report_reads_with_the_configured_duckdb_limits(markup_db, tmp_path, monkeypatch):
    from cjm import steps

    seen = _spy_report_settings(monkeypatch)
    db = tmp_path / "cjm.duckdb"
    shutil.copy(markup_db, db)
    config = parse_config(
        {
            "duckdb_memory_limit": "300MiB",
            "duckdb_threads": 1,
            "duckdb_temp_directory": str(tmp_path / "spill"),
        }
    )
    report = steps.write_report(db, config)
    assert report == report_path_for(db) and "<html" in report.read_text(encoding="utf-8")
    assert seen["threads"] == 1
    assert seen["temp_directory"] == str(tmp_path / "spill")
    assert seen["memory_limit"] in {"300.0 MiB", "314.5 MB"}


def test_cli_report_reads_with_the_limits_of_its_config(markup_db, tmp_path, monkeypatch):
    seen = _spy_report_settings(monkeypatch)
    config = tmp_path / "cjm.yaml"
    config.write_text(
        f"duckdb_memory_limit: 300MiB\nduckdb_threads: 1\n"
        f"duckdb_temp_directory: {tmp_path / 'spill'}\n",
        encoding="utf-8",
    )
    out = tmp_path / "map.html"
    args = ["report", "--out", str(out), "--db", str(markup_db), "--config", str(config)]
    assert main(args) == 0
    assert "<html" in out.read_text(encoding="utf-8")
    assert seen["threads"] == 1
    assert seen["temp_directory"] == str(tmp_path / "spill")
    assert seen["memory_limit"] in {"300.0 MiB", "314.5 MB"}


def _visible(html: str) -> str:
    """The page's text outside its scripts (figures and plotly.js)."""
    return re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)


def test_emotion_points_show_the_events_they_stand_on(published_sample, tmp_path):
    con = duckdb.connect(str(published_sample), read_only=True)
    purchase = con.execute(
        "select count(sentiment) from events where stage = 'purchase'"
    ).fetchone()[0]
    con.close()
    html = write_report(
        published_sample, tmp_path / "r.html", emotion_min_events=purchase + 1
    ).read_text(encoding="utf-8")
    note = re.search(r'<p class="empty-note" id="emotion-support">(.*?)</p>', html, flags=re.S)
    assert note and f"fewer than {purchase + 1} rated events" in note[1]
    assert f"Purchase stage ({purchase:,} events)" in note[1]
    figures = html.replace(get_plotlyjs(), "")
    assert f'"n={purchase:,}"' in figures and "circle-open" in figures  # labelled, drawn hollow
    enough = write_report(published_sample, tmp_path / "all.html", emotion_min_events=1)
    text = enough.read_text(encoding="utf-8")
    assert 'id="emotion-support"' not in text and "circle-open" not in text.replace(
        get_plotlyjs(), ""
    )


def test_report_speaks_of_the_configured_entity(published_sample, tmp_path):
    noun = EntityNoun(singular="case", plural="cases")
    page = write_report(published_sample, tmp_path / "r.html", entity=noun).read_text("utf-8")
    assert "cases reached this stage or a later one" in page  # the charts' hover texts
    assert "customers reached this stage" not in page
    html = _visible(page)
    assert '<div class="label">Cases</div>' in html or ">Cases<" in html
    assert "Behavioural groups of cases" in html and "across all cases" in html
    assert "Behavioural groups of customers" not in html
    assert not re.search(r"visitor|visits|browser", html, re.IGNORECASE)  # the page's own words


def test_report_says_when_roles_need_outcomes(published_sample, tmp_path):
    db = tmp_path / "no_outcomes.duckdb"
    shutil.copyfile(published_sample, db)
    con = duckdb.connect(str(db))
    con.execute(
        "update touchpoint_insights set role = 'neutral', "
        "role_reason = 'roles need outcomes: no outcome separates 10 or more customers'"
    )
    con.close()
    html = write_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    note = re.search(r'id="roles-need-outcomes">(.*?)</p>', html, flags=re.S)
    assert note and "roles need outcomes" in note[1]
    assert 'id="roles-need-outcomes"' not in write_report(
        published_sample, tmp_path / "s.html"
    ).read_text(encoding="utf-8")


def test_trend_section_shows_the_latest_whole_period_against_the_one_before(
    sample_report, published_sample
):
    con = duckdb.connect(str(published_sample), read_only=True)
    trend = con.execute(
        "select * from kpi_timeseries where scope = 'all' order by period_start"
    ).df()
    con.close()
    assert len(trend) >= 3 and trend["is_partial"].iloc[-1]  # the sample ends mid-week
    compared = trend[trend["previous_conversion_rate"].notna() & ~trend["is_partial"]].iloc[-1]
    change = re.search(r'id="trend-change">(.*?)</p>', sample_report, flags=re.S)[1]
    assert f"week from {compared['period_start']:%Y-%m-%d}: " in change
    assert f"{compared['conversion_rate']:.1%} (95% interval" in change
    points = compared["conversion_rate_change_high"] * 100
    assert f"to {'+' if points >= 0 else '−'}{abs(points):.1f} points" in change
    table = re.search(r'id="trend-table">(.*?)</table>', sample_report, flags=re.S)[1]
    assert table.count("<tr>") == 1 + min(len(trend), 8)  # header and the latest periods
    assert f"{trend['period_start'].iloc[-1]:%Y-%m-%d} (partial)" in table


def owners_db(published_sample: Path, tmp_path: Path) -> Path:
    """The sample with 'ticket' a pain point handled by three teams (one named like a script)."""
    db = tmp_path / "owners.duckdb"
    shutil.copyfile(published_sample, db)
    con = duckdb.connect(str(db))
    con.execute("update touchpoint_insights set role = 'pain_point' where touchpoint = 'ticket'")
    con.execute("delete from touchpoint_owners")
    rows = [  # touchpoint, resource, customers, churn lift, role
        ("ticket", XSS, 40, 2.5, "pain_point"),
        ("ticket", "Team B", 12, 0.8, "pain_point"),
        ("ticket", "Team tiny", 4, 9.0, "pain_point"),
        ("product_view", "Team C", 300, 1.0, "neutral"),
    ]
    for touchpoint, team, customers, lift, role in rows:
        con.execute(
            "insert into touchpoint_owners (touchpoint, resource, event_count, customer_count, "
            "churn_lift, touchpoint_role) values (?, ?, ?, ?, ?, ?)",
            [touchpoint, team, customers * 2, customers, lift, role],
        )
    con.close()
    return db


def test_stakeholders_section_names_the_teams_behind_pain_points(published_sample, tmp_path):
    db = owners_db(published_sample, tmp_path)
    html = write_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    section = re.search(r'id="owners".*?</section>', html, flags=re.S)[0]
    named = re.search(r'id="owners-named">(.*?)</p>', section, flags=re.S)[1]
    assert named == "Teams behind pain points: &lt;script&gt;alert(1)&lt;/script&gt;, Team B."
    assert "×2.50" in section and "×0.80" in section
    # too few customers to judge, and a neutral touchpoint's team: not named
    assert "Team tiny" not in section and "Team C" not in section
    assert XSS not in html


def test_stakeholders_section_says_why_it_is_empty(sample_report):
    section = re.search(r'id="owners".*?</section>', sample_report, flags=re.S)[0]
    assert "names no team or person behind its events" in section
    assert "columns: resource:" in section


def attributes_db(published_sample: Path, tmp_path: Path) -> Path:
    """The sample with a customers file: plan 'pro' and a script-like segment for the customers
    of the first persona, 'free' and 'retail' for the others, one region for everyone, and no
    row at all for the last customer."""
    from cjm.build.customers import build_customer_tables

    db = tmp_path / "attributes.duckdb"
    shutil.copyfile(published_sample, db)
    con = duckdb.connect(str(db))
    rows = con.execute(
        "select customer_id, persona_id from customer_personas order by customer_id"
    ).fetchall()
    first = min(persona for _, persona in rows)
    lines = ["customer_id,plan,region,segment"]
    for customer, persona in rows[:-1]:
        plan, segment = ("pro", XSS) if persona == first else ("free", "retail")
        lines.append(f"{customer},{plan},eu,{segment}")
    path = tmp_path / "customers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    build_customer_tables(con, path, "customer_id")
    con.close()
    return db


def test_attributes_section_shows_what_sets_each_persona_apart(published_sample, tmp_path):
    db = attributes_db(published_sample, tmp_path)
    con = duckdb.connect(str(db), read_only=True)
    first = con.execute(
        "select p.name, a.customers, a.share_in_persona, a.share_overall, a.lift "
        "from persona_attributes as a inner join personas as p on a.persona_id = p.persona_id "
        "where a.attribute = 'plan' and a.attribute_value = 'pro'"
    ).fetchall()
    con.close()
    html = write_report(db, tmp_path / "r.html").read_text(encoding="utf-8")
    section = re.search(r'id="attributes".*?</section>', html, flags=re.S)[0]
    assert "empty-note" not in section
    (name, customers, in_persona, overall, lift) = first[0]
    # the persona's rows follow its name: its plan and its segment, as text
    after_name = section.split(f">{escape(name)}</td>", 1)[1]
    rows = after_name.split('class="persona-name"')[0]
    assert (
        f'<td>plan</td><td>pro</td><td class="num">{customers:,}</td>'
        f'<td class="num">{in_persona:.0%}</td><td class="num">{overall:.0%}</td>'
        f'<td class="num">×{lift:.2f}</td>'
    ) in rows
    assert "<td>segment</td><td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in rows
    # one region for everyone sets no persona apart
    assert "<td>region</td>" not in section
    assert XSS not in html


def test_attributes_section_says_when_no_customer_file_was_given(sample_report):
    section = re.search(r'id="attributes".*?</section>', sample_report, flags=re.S)[0]
    assert "No customer file was given" in section
    assert "cjm run --customers FILE" in section

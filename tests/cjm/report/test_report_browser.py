"""The report in a real browser: headless Chromium renders every section with no console error.

The browser is Debian's chromium (`make test` installs it when missing). Without it these tests
skip on a developer's machine but FAIL under CI, so a green CI always means the page rendered.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import pytest

from cjm.config import load_config, parse_config
from cjm.report import write_report
from cjm.report.render import SECTIONS
from tests.cjm.report.test_report import XSS, attributes_db, owners_db, tiny_log
from tests.conftest import REPO, dataset
from tests.published import publish_log

pytestmark = pytest.mark.slow  # a headless browser (installed by make test, not make test-fast)

CHROMIUM = Path(os.environ.get("CJM_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps dialling Google services, which fail
# here as refused connections; a fresh profile per launch keeps runs independent.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLOTTED = {"trends", "funnel", "flow", "graph", "emotion", "moments", "personas"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}: CI must render the report (make test installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's headless Chromium driven by Playwright, or a skip (a failure under CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def open_report(context, path: Path) -> tuple[object, dict]:
    """Open the report from disk, recording console errors, dialogs and any network request."""
    page = context.new_page()
    seen: dict[str, list[str]] = {"errors": [], "dialogs": [], "requests": []}
    page.on(
        "console",
        lambda m: seen["errors"].append(m.text) if m.type in ("error", "assert") else None,
    )
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))

    def on_dialog(dialog) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    def route(r) -> None:
        if r.request.url != path.as_uri():
            seen["requests"].append(r.request.url)
            r.abort()
        else:
            r.continue_()

    page.route("**/*", route)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot').length === "
        "document.querySelectorAll('.plotly-graph-div').length"
    )
    return page, seen


def check_sections(page, plotted: set[str]) -> None:
    """Every section is there; plotted ones hold a drawn figure, the others say why not."""
    for key, _ in SECTIONS:
        section = page.locator(f"section#{key}")
        assert section.count() == 1, key
        assert section.is_visible(), key
        drawn = section.locator(".js-plotly-plot .main-svg").count()
        notes = section.locator(".empty-note").count()
        if key in plotted:
            assert drawn >= 1, f"{key}: no figure drawn"
        elif key == "attributes":
            tables = section.locator("table").count()
            assert tables + notes >= 1, f"{key}: neither a table nor a note"
        elif key not in ("kpis", "churn"):
            assert drawn + notes >= 1, f"{key}: neither a figure nor a note"


def test_sample_report_renders_in_chromium(browser, published_sample, tmp_path):
    report = write_report(published_sample, tmp_path / "sample_report.html")
    page, seen = open_report(browser, report)
    check_sections(page, PLOTTED)
    assert page.locator("#kpis .kpi").count() == 7
    assert page.locator("#flow .sankey-node").count() > 10
    assert page.locator("#churn tbody tr").count() >= 20  # patterns and at-risk customers
    assert page.locator("#personas article.persona").count() >= 2
    # KPIs over time: the change against the previous week with its interval, the latest weeks
    assert "95% interval of the change" in page.locator("#trend-change").inner_text()
    assert page.locator("#trend-table tbody tr").count() == 8
    assert page.locator("#trends .js-plotly-plot .scatterlayer .trace").count() == 2
    # no resource column in the sample: the stakeholders section says how to get one
    assert "columns: resource:" in page.locator("#owners .empty-note").inner_text()
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    shot = tmp_path / "report.png"
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    # Refresh the picture in the README and docs/report.md:
    # CJM_REPORT_SCREENSHOT=docs/report.png pytest -k chromium
    if os.environ.get("CJM_REPORT_SCREENSHOT"):
        shutil.copyfile(shot, REPO / os.environ["CJM_REPORT_SCREENSHOT"])
    page.close()


def test_markup_in_touchpoint_names_stays_text(browser, tmp_path):
    events = tiny_log(tmp_path / "events.csv", 60)
    db = publish_log(events, tmp_path / "cjm.duckdb", parse_config({}))
    page, seen = open_report(browser, write_report(db, tmp_path / "r.html"))
    check_sections(page, {"funnel", "flow", "graph"})
    assert seen["dialogs"] == [] and seen["errors"] == [] and seen["requests"] == []
    assert page.get_by_text(XSS, exact=True).count() >= 1  # shown literally, never run
    assert page.locator("#flow .sankey").get_by_text(XSS).count() >= 1
    page.close()


@pytest.mark.slow
def test_online_retail_report_renders_without_sentiment_or_channel(browser, tmp_path):
    events = dataset("online_retail", "online_retail.parquet")
    config = load_config(REPO / "examples" / "online_retail.yaml")
    db = publish_log(events, tmp_path / "online_retail.duckdb", config)
    page, seen = open_report(browser, write_report(db, tmp_path / "online_retail.html"))
    check_sections(page, {"funnel", "flow", "graph", "personas"})
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    assert "carries no sentiment" in page.locator("#emotion").inner_text()
    assert "carries no channel" in page.locator("#personas").inner_text()
    page.close()


@pytest.fixture(scope="module")
def published_helpdesk(tmp_path_factory) -> Path:
    """The helpdesk log (the shared real log with the most touchpoints) published once."""
    events = dataset("helpdesk", "helpdesk.csv")
    config = load_config(REPO / "examples" / "helpdesk.yaml")
    return publish_log(events, tmp_path_factory.mktemp("helpdesk") / "helpdesk.duckdb", config)


@pytest.mark.slow
def test_untrusted_churn_scores_show_their_warning_beside_the_figure(
    browser, published_helpdesk, tmp_path
):
    db = published_helpdesk
    page, seen = open_report(browser, write_report(db, tmp_path / "helpdesk.html"))
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    warning = page.locator("#churn [data-role=churn-warning]")
    assert warning.count() == 1 and warning.is_visible()
    assert "no tiers are given" in warning.inner_text()
    scores = page.locator("#churn [data-role=churn-scores]")
    assert "ROC AUC" in scores.inner_text() and " high" not in scores.inner_text()
    # the caution sits right under the figure it qualifies
    box, above = warning.bounding_box(), scores.bounding_box()
    assert 0 <= box["y"] - (above["y"] + above["height"]) < 40
    page.close()


def test_stakeholders_section_lists_the_teams_behind_pain_points(
    browser, published_sample, tmp_path
):
    report = write_report(owners_db(published_sample, tmp_path), tmp_path / "owners.html")
    page, seen = open_report(browser, report)
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    table = page.locator("#owners table.owners")
    assert table.count() == 1 and table.is_visible()
    assert table.locator("tbody tr").count() == 2  # the team with 4 tickets is left out
    assert page.locator("#owners-named").get_by_text(XSS).count() == 1  # text, never run
    page.close()


def test_attributes_section_shows_a_table_per_persona(browser, published_sample, tmp_path):
    report = write_report(attributes_db(published_sample, tmp_path), tmp_path / "attrs.html")
    page, seen = open_report(browser, report)
    check_sections(page, PLOTTED)
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    personas = page.locator("#personas article.persona").count()
    assert page.locator("#attributes td.persona-name").count() == personas
    assert page.locator("#attributes").get_by_text(XSS, exact=True).count() == 1  # text, not run
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        # the table fits the section: no column is cut off or scrolled away
        frame = page.locator("#attributes .scroll-x").bounding_box()
        table = page.locator("#attributes table.attributes").bounding_box()
        assert table["width"] <= frame["width"] + 1, width
    page.close()


def test_churn_section_tables_and_notes_do_not_overlap(browser, published_sample, tmp_path):
    report = write_report(published_sample, tmp_path / "sample_report.html")
    page, _ = open_report(browser, report)
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        patterns = page.locator("#churn .scroll-x").bounding_box()
        table = page.locator("#churn .scroll-x table").bounding_box()
        notes = page.locator("#churn h3", has_text="How to read it").bounding_box()
        # the patterns table stays inside its column, left of the notes beside it
        assert patterns["x"] + patterns["width"] <= notes["x"], width
        assert table["x"] >= patterns["x"] - 1, width
        # and the save list starts below both
        heading = page.locator("#churn h3", has_text="most at risk").bounding_box()
        assert heading["y"] >= patterns["y"] + patterns["height"], width
    page.close()


# The point labels of a figure drawn on screen: text, box, and the point they name (curve, index).
VISIBLE_LABELS = """(id) => {
  const out = [];
  document.getElementById(id).querySelectorAll('.scatterlayer .trace').forEach((trace) => {
    const curve = trace.__data__[0].trace.index;
    trace.querySelectorAll('.textpoint text').forEach((text) => {
      const box = text.getBoundingClientRect();
      out.push({
        text: text.textContent, curve: curve, point: text.parentNode.__data__.i,
        shown: getComputedStyle(text).visibility !== 'hidden' && box.width > 0,
        box: [box.left, box.top, box.right, box.bottom],
      });
    });
  });
  return out;
}"""


def _overlapping(labels: list[dict]) -> list[tuple[str, str]]:
    shown = [lab for lab in labels if lab["shown"]]
    pairs = []
    for i, a in enumerate(shown):
        for b in shown[i + 1 :]:
            (al, at, ar, ab), (bl, bt, br, bb) = a["box"], b["box"]
            if al < br and bl < ar and at < bb and bt < ab:
                pairs.append((a["text"], b["text"]))
    return pairs


def check_labels_apart(page, figure: str, width: int) -> None:
    """No two visible labels of the figure overlap; each hidden one is named by its hover."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # the labels are placed after each drawing (a resize redraws the figure); when they never
    # come apart the assertion below names the overlapping ones
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            f"(id) => ({VISIBLE_LABELS})(id).every((a, i, all) => all.slice(i + 1).every((b) =>"
            " !a.shown || !b.shown || a.box[2] <= b.box[0] || b.box[2] <= a.box[0]"
            " || a.box[3] <= b.box[1] || b.box[3] <= a.box[1]))",
            arg=figure,
            timeout=3000,
        )
    labels = page.evaluate(VISIBLE_LABELS, figure)
    assert len(labels) >= 5, (figure, width, labels)
    assert _overlapping(labels) == [], (figure, width)
    shown = [lab for lab in labels if lab["shown"]]
    assert len(shown) >= len(labels) / 2, (figure, width, [lab["text"] for lab in shown])
    for hidden in (lab for lab in labels if not lab["shown"]):
        page.evaluate(
            "([id, curve, point]) => Plotly.Fx.hover(document.getElementById(id),"
            " [{curveNumber: curve, pointNumber: point}])",
            [figure, hidden["curve"], hidden["point"]],
        )
        page.wait_for_function(
            "([id, name]) => document.getElementById(id).querySelector('.hoverlayer')"
            ".textContent.includes(name)",
            arg=[figure, hidden["text"]],
            timeout=3000,
        )


def check_report_labels(page) -> None:
    """At 1280 and 1920 px the graph's and lift chart's labels do not overlap."""
    for width in (1280, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        for figure in ("fig-graph", "fig-lifts"):
            check_labels_apart(page, figure, width)


def test_sample_graph_and_lift_labels_do_not_overlap(browser, published_sample, tmp_path):
    page, seen = open_report(browser, write_report(published_sample, tmp_path / "sample.html"))
    check_report_labels(page)
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    page.close()


@pytest.mark.slow
def test_helpdesk_graph_and_lift_labels_do_not_overlap(browser, published_helpdesk, tmp_path):
    page, seen = open_report(browser, write_report(published_helpdesk, tmp_path / "h.html"))
    check_report_labels(page)
    assert seen == {"errors": [], "dialogs": [], "requests": []}
    page.close()

"""The analyst notebooks run top to bottom on the published sample, draw every chart they
announce, and are committed clean."""

from __future__ import annotations

import base64
import math
import numbers
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
PLOTLY = "application/vnd.plotly.v1+json"
# A chart cell is tagged `chart:<name>`; the trace type each chart must draw.
CHART_TRACES = {
    "funnel": "funnel",
    "sankey": "sankey",
    "personas": "bar",
    "risk": "bar",
    "calibration": "scatter",
    "patterns": "bar",
}
CHARTS = {
    "journeys": {"funnel", "sankey"},
    "personas": {"personas"},
    "churn": {"risk", "calibration", "patterns"},
}


def chart_cells(notebook) -> dict[str, object]:
    """The notebook's chart cells by chart name (from their `chart:<name>` tag)."""
    cells = {}
    for cell in notebook.cells:
        for tag in cell.get("metadata", {}).get("tags", []):
            if tag.startswith("chart:"):
                cells[tag.removeprefix("chart:")] = cell
    return cells


def _array(value) -> list:
    """A figure's array as plotted: Plotly writes numeric arrays as base64 typed arrays."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value or [])


def _points(trace: dict) -> list[float]:
    """The plotted numbers of a trace (JSON): link values of a Sankey, else x and y."""
    if trace.get("type") == "sankey":
        values = _array(trace.get("link", {}).get("value"))
    else:
        values = _array(trace.get("x")) + _array(trace.get("y"))
    return [float(v) for v in values if isinstance(v, numbers.Real) and math.isfinite(v)]


def test_the_analyst_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} == {"journeys", "personas", "churn"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_draws_the_charts_of_its_story_with_the_report_functions(path: Path):
    cells = chart_cells(nbformat.read(path, as_version=4))
    assert set(cells) == CHARTS[path.stem]
    for name, cell in cells.items():
        # the report's chart functions, fed by SQL (no chart code of the notebook's own)
        assert "from cjm.report." in cell.source and "_figure(" in cell.source, name
        assert "go.Figure" not in cell.source and "plotly" not in cell.source, name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_on_the_published_sample(path, published_sample, tmp_path, monkeypatch):
    monkeypatch.setenv("CJM_DB", str(published_sample))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for cell in notebook.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    # The first cell names the database it opened: the one given, not the default path.
    first = "".join(o.get("text", "") for o in notebook.cells[1].outputs)
    assert str(published_sample.resolve()) in first and "1,0" in first
    tables = [o for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) >= 5
    # Every chart cell drew one Plotly figure of the expected type, with data in it.
    cells = chart_cells(notebook)
    assert set(cells) == CHARTS[path.stem]
    for name, cell in cells.items():
        figures = [o["data"][PLOTLY] for o in cell.outputs if PLOTLY in o.get("data", {})]
        assert len(figures) == 1, (name, [o.output_type for o in cell.outputs])
        traces = figures[0]["data"]
        drawn = [t for t in traces if t.get("type", "scatter") == CHART_TRACES[name]]
        assert drawn, (name, [t.get("type") for t in traces])
        assert all(_points(t) for t in drawn), name
        assert any(v != 0 for t in drawn for v in _points(t)), name

"""The analyst notebooks run top to bottom on the published sample, and are committed clean."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_the_analyst_notebooks_are_there():
    assert {p.stem for p in NOTEBOOKS} == {"journeys", "personas", "churn"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, path.name


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

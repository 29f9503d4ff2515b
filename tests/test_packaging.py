"""The built wheel is the whole of cjm: installed without -e in a fresh environment, away from the
checkout, it runs the sample and publishes every table a checkout publishes. The wheel and its
environment are the session fixtures `wheel` and `installed` (tests/conftest.py), which the Dask
test of tests/pipelines shares."""

from __future__ import annotations

import zipfile
from pathlib import Path

import duckdb
import pytest
from packaging.requirements import Requirement

from cjm.build.models import model_plan
from tests.conftest import REPO, SAMPLE_DIR
from tests.pipelines.tables import RUN_METADATA_TABLES
from tests.wheel import clean_env, run


@pytest.mark.slow
def test_the_wheel_carries_every_model_and_the_report_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    plan = {f"cjm/sql/{layer}/{name}.sql" for layer, name in model_plan()}
    assert plan <= names
    in_repo = {f"cjm/sql/{p.relative_to(REPO / 'sql')}" for p in (REPO / "sql").rglob("*.sql")}
    assert {n for n in names if n.endswith(".sql")} == in_repo
    assert {"cjm/report/templates/report.html.j2", "cjm/report/templates/labels.js"} <= names
    assert "pipelines/journey_flow.py" in names


@pytest.mark.slow
def test_the_installed_wheel_runs_the_sample(installed, published_sample, tmp_path):
    env = clean_env(tmp_path)
    python = installed / "bin" / "python"
    where = run(
        python, "-c", "import cjm.sql, cjm.build.models; print(cjm.sql.__file__)", cwd=tmp_path
    )
    assert Path(where.strip()).is_relative_to(installed), "cjm was imported from the checkout"
    version = run(installed / "bin" / "cjm", "--version", cwd=tmp_path, env=env)
    assert version.startswith("cjm 0.") and "+g" not in version

    db = tmp_path / "out" / "cjm.duckdb"
    run(
        installed / "bin" / "cjm",
        "run",
        "--events",
        SAMPLE_DIR / "events",
        "--config",
        SAMPLE_DIR / "cjm.yaml",
        "--db",
        db,
        cwd=tmp_path,
        env=env,
    )
    assert (tmp_path / "out" / "cjm_report.html").is_file()
    wheel_counts, checkout_counts = _row_counts(db), _row_counts(published_sample)
    # The flow adds to what the steps publish (segment transitions, graphs, history): every table
    # of a checkout's build is there, with the same rows.
    assert set(checkout_counts) <= set(wheel_counts)
    for name in set(checkout_counts) - {"transitions"}:
        assert wheel_counts[name] == checkout_counts[name], name
    assert wheel_counts["events"] > 0 and wheel_counts["churn_risk"] > 0


def _row_counts(db: Path) -> dict[str, int | None]:
    """Rows of every published table (None for the tables about runs, which differ by design)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        return {
            name: None
            if name in RUN_METADATA_TABLES
            else con.execute(f'select count(*) from "{name}"').fetchone()[0]
            for name in sorted(names)
        }
    finally:
        con.close()


def test_pyproject_gives_ranges_and_the_lock_pins_versions_within_them():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    locked = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            pin = Requirement(line)
            (version,) = pin.specifier
            assert version.operator == "==", line
            locked[pin.name.lower()] = version.version
    for text in wanted:
        requirement = Requirement(text)
        assert not any(s.operator == "==" for s in requirement.specifier), text
        assert requirement.specifier.contains(locked[requirement.name.lower()]), (text, locked)
    # known-bad releases stay excluded
    assert "fastapi<0.151" in wanted and "sqlalchemy<2.1" in wanted


def test_every_package_directory_is_listed_for_the_build():
    import tomllib

    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(REPO).parts)
        for root in ("cjm", "pipelines")
        for p in (REPO / root).rglob("__init__.py")
    }
    assert found | {"cjm.sql"} == listed

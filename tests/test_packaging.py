"""The built wheel is the whole of cjm: installed without -e in a fresh environment, away from the
checkout, it runs the sample and publishes every table a checkout publishes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pytest
from packaging.requirements import Requirement

from cjm.models import model_plan
from tests.conftest import REPO, SAMPLE_DIR
from tests.pipelines.tables import RUN_METADATA_TABLES


def _run(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _uv() -> str | None:
    """uv beside this interpreter (the Makefile installs it there) or on PATH."""
    return shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from the sdist as a release would be (uv, else pip)."""
    out = tmp_path_factory.mktemp("dist")
    uv = _uv()
    if uv:
        _run(uv, "build", "--quiet", "--out-dir", out, REPO)
    else:
        _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, REPO)
    (found,) = out.glob("cjm-*.whl")
    return found


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the locked dependencies and the wheel, not editable."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    python = venv / "bin" / "python"
    uv = _uv()
    if uv:
        _run(uv, "venv", "--quiet", "--python", sys.executable, venv)
        install = [uv, "pip", "install", "--quiet", "--python", python]
    else:
        _run(sys.executable, "-m", "venv", venv)
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run(*install, "-r", REPO / "requirements.lock")
    _run(*install, "--no-deps", wheel)
    return venv


def _clean_env(tmp: Path) -> dict[str, str]:
    """The environment without anything that points back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env


@pytest.mark.slow
def test_the_wheel_carries_every_model_and_the_report_template(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    plan = {f"cjm/sql/{layer}/{name}.sql" for layer, name in model_plan()}
    assert plan <= names
    in_repo = {f"cjm/sql/{p.relative_to(REPO / 'sql')}" for p in (REPO / "sql").rglob("*.sql")}
    assert {n for n in names if n.endswith(".sql")} == in_repo
    assert "cjm/report/templates/report.html.j2" in names
    assert "pipelines/journey_flow.py" in names


@pytest.mark.slow
def test_the_installed_wheel_runs_the_sample(installed, published_sample, tmp_path):
    env = _clean_env(tmp_path)
    python = installed / "bin" / "python"
    where = _run(python, "-c", "import cjm.sql, cjm.models; print(cjm.sql.__file__)", cwd=tmp_path)
    assert Path(where.strip()).is_relative_to(installed), "cjm was imported from the checkout"
    version = _run(installed / "bin" / "cjm", "--version", cwd=tmp_path, env=env)
    assert version.startswith("cjm 0.") and "+g" not in version

    db = tmp_path / "out" / "cjm.duckdb"
    _run(
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

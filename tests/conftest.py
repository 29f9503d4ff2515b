"""Shared fixtures: build the SQL models from events written in the test."""

from __future__ import annotations

import csv
import gc
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from cjm.build.files import discover_files
from cjm.build.ingest import load_files
from cjm.build.models import build_models
from cjm.build.parameters import write_file_reads, write_run_clock
from cjm.config import Config, parse_config
from cjm.db import connect

REPO = Path(__file__).resolve().parent.parent
DATASETS = REPO.parent / "shared" / "datasets"
SAMPLE_DIR = REPO / "data" / "sample"

Builder = Callable[..., duckdb.DuckDBPyConnection]
_OPEN: list[duckdb.DuckDBPyConnection] = []


@pytest.fixture(scope="session", autouse=True)
def _close_connections():
    """Close every test database before exit, so DuckDB objects are not alive at shutdown."""
    yield
    for con in _OPEN:
        con.close()
    _OPEN.clear()
    gc.collect()


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write dict rows as CSV with the union of their keys as the header."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def build(
    files: list[Path] | str | Path,
    config: Config | dict | None = None,
    db: Path | str = ":memory:",
    hooks: Mapping[str, Callable[[duckdb.DuckDBPyConnection], None]] | None = None,
    clock: datetime | None = None,
):
    """Load files and build every SQL model in a database (in memory unless `db` is a path);
    `hooks` run right after the model they are named for (build_models); `clock` is the run's
    clock (default: now)."""
    if not isinstance(config, Config):
        config = parse_config(config or {})
    con = connect(db)
    _OPEN.append(con)
    loads = load_files(con, discover_files(files), config)
    write_file_reads(con, loads)
    write_run_clock(con, clock or datetime.now(UTC))
    build_models(con, config, hooks=hooks)
    return con


def validation_kind(con: duckdb.DuckDBPyConnection) -> str:
    """How the build kept int_events_validated: a view, or a table (dropped after file_loads)."""
    views = con.execute(
        "select count(*) from duckdb_views() where view_name = 'int_events_validated'"
    ).fetchone()[0]
    return "view" if views else "table (dropped)"


def column_compression(con: duckdb.DuckDBPyConnection, table: str, column: str) -> set[str]:
    """The compressions DuckDB stored a text column's segments with (after a checkpoint)."""
    rows = con.execute(
        "select distinct compression from pragma_storage_info(?) "
        "where column_name = ? and segment_type = 'VARCHAR'",
        [table, column],
    ).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
def build_rows(tmp_path: Path) -> Builder:
    """Build the models from hand-written event rows (one CSV file)."""

    def _build(rows: list[dict], config: dict | None = None) -> duckdb.DuckDBPyConnection:
        path = write_csv(tmp_path / "events.csv", rows)
        return build([path], config)

    return _build


def dataset(*parts: str) -> Path:
    """A file of the shared real datasets, skipping the test if it is not there."""
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset {path} not present")
    return path


@pytest.fixture(scope="session")
def published_sample(tmp_path_factory) -> Path:
    """The bundled sample published through every pipeline step (no Prefect), read-only use."""
    from cjm.config import load_config
    from tests.published import publish_log

    db = tmp_path_factory.mktemp("published-sample") / "cjm.duckdb"
    return publish_log(SAMPLE_DIR / "events", db, load_config(SAMPLE_DIR / "cjm.yaml"))


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built once per session."""
    from tests.wheel import build_wheel

    return build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment holding the wheel (not editable), shared by the session's
    packaging and Dask tests; the path of the environment."""
    from tests.wheel import install_wheel

    return install_wheel(wheel, tmp_path_factory.mktemp("venv") / "env")

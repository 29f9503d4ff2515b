"""A build under a tiny DuckDB memory limit spills to the configured temp directory, same tables."""

from __future__ import annotations

import pandas as pd

from cjm import steps
from cjm.build.files import discover_files
from cjm.build.models import MARTS, model_key
from cjm.config import load_config
from cjm.db import connect
from tests.conftest import SAMPLE_DIR

# The marts build_journeys writes, ordered by the keys their SQL headers declare.
KEYS = {name: model_key("marts", name) for name in MARTS}


def _build(build_path, config) -> dict[str, pd.DataFrame]:
    files = discover_files(SAMPLE_DIR / "events")
    steps.load_events(build_path, files, config)
    steps.build_journeys(build_path, config)
    with connect(build_path, read_only=True) as con:
        return {
            name: con.execute(f"select * from {name} order by {', '.join(keys)}").df()
            for name, keys in KEYS.items()
        }


def test_connect_passes_the_temp_directory(tmp_path):
    with connect(tmp_path / "x.duckdb", temp_directory=tmp_path / "spill") as con:
        setting = con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert setting == str(tmp_path / "spill")


def test_tiny_memory_limit_with_temp_directory_builds_the_same_tables(tmp_path):
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    spill = tmp_path / "spill"
    tight = config.model_copy(
        update={"duckdb_memory_limit": "64MB", "duckdb_temp_directory": spill, "duckdb_threads": 2}
    )
    expected = _build(tmp_path / "roomy.duckdb", config.model_copy(update={"duckdb_threads": 2}))
    got = _build(tmp_path / "tight.duckdb", tight)
    for name in KEYS:
        # float sums may differ in the last bits with the order rows are aggregated in
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=False, rtol=1e-12)
    assert len(got["events"]) > 30_000

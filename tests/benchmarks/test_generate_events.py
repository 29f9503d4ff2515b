"""The benchmark generator's live shape: the exact count, fixed by the seed, customers arriving all
year with about a third still active at the end, and churners fading before they stop."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location(
        "bench_generate_events", BENCHMARKS / "generate_events.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_live_shape_is_exact_reproducible_and_a_third_active(generator, tmp_path):
    first, again, other = (tmp_path / f"{name}.parquet" for name in ("a", "b", "c"))
    info = generator.generate(60_000, first, seed=3, row_group=30_000, shape="live")
    generator.generate(60_000, again, seed=3, row_group=30_000, shape="live")
    generator.generate(60_000, other, seed=4, row_group=30_000, shape="live")
    assert info["events"] == 60_000 and pq.read_schema(first).equals(generator.SCHEMA)
    assert pq.read_table(first).equals(pq.read_table(again))
    assert not pq.read_table(first).equals(pq.read_table(other))
    con = duckdb.connect()
    active, arrived_late, customers = con.execute(
        f"""
        with c as (
            select customer_id, min(event_time) as first_at, max(event_time) as last_at
            from '{first}' group by customer_id
        )
        select avg((last_at > (select max(last_at) from c) - interval 30 day)::int),
               avg((first_at > timestamptz '2024-07-01')::int), count(*)
        from c
        """
    ).fetchone()
    assert customers == info["customers"] and 1_500 < customers < 3_500
    assert 0.25 < active < 0.45  # about a third active at the end
    assert 0.3 < arrived_late < 0.6  # arrivals all year, not only at the start


def test_live_churners_fade_before_they_stop(generator):
    rng = generator.np.random.default_rng(5)
    counts, arrive, last, stops = generator.live_customers(rng, 200_000)
    assert counts.sum() == 200_000 and (last <= 365).all() and (last >= arrive).all()
    assert 0.55 < stops.mean() < 0.8  # two thirds stop inside the year
    counts, times = generator.live_event_times(generator.np.random.default_rng(5), 200_000)
    gaps = generator.np.diff(times.astype("int64")) / 86_400e6
    start = generator.np.concatenate([[0], generator.np.cumsum(counts)[:-1]])
    gaps[start[1:] - 1] = generator.np.nan  # no gap across customers
    # the last two tenths of a stopping customer's events are further apart than the first half
    position = generator.np.concatenate([generator.np.arange(c) / c for c in counts])[1:]
    who = generator.np.repeat(stops, counts)[1:]
    late = gaps[(position > 0.8) & who & (gaps > 0.03)]
    early = gaps[(position < 0.5) & who & (gaps > 0.03)]
    assert generator.np.nanmean(late) > 1.5 * generator.np.nanmean(early)

"""The exact aggregate macros (cjm.db.EXACT_AGGREGATES) every cjm connection has."""

from __future__ import annotations

import math

import duckdb

from cjm.build.parameters import set_parameters
from cjm.config import Config
from cjm.db import connect

GROUPED = """
select g, cjm_exact_sum(x) as total, cjm_exact_avg(x) as mean, sum(x) as double_total
from (values {rows}) t(g, x)
group by g
order by g
"""


def _grouped(con: duckdb.DuckDBPyConnection, rows: list[tuple[int, float]]) -> list[tuple]:
    values = ", ".join(f"({g}, '{x!r}'::double)" for g, x in rows)
    return con.execute(GROUPED.format(rows=values)).fetchall()


def test_sums_and_means_are_exact_whatever_the_order():
    # added as doubles, the order decides the last bit
    assert (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    with connect() as con:
        rows = _grouped(con, [(1, 0.1), (1, 0.2), (1, 0.3), (2, 0.3), (2, 0.2), (2, 0.1)])
    (_, total, mean, _), (_, total_reversed, mean_reversed, _) = rows
    assert total == total_reversed == 0.6 and mean == mean_reversed


def test_a_case_over_the_argument_takes_only_some_rows():
    with connect() as con:
        row = con.execute(
            "select cjm_exact_sum(case when x > 0.15 then x end), "
            "cjm_exact_avg(case when x > 0.15 then x end), "
            "cjm_exact_sum(case when x > 1 then x end) "
            "from (values (0.1::double), (0.2), (0.3)) t(x)"
        ).fetchone()
    assert row == (0.5, 0.25, None)


def test_values_decimal_cannot_hold_keep_the_double_aggregate():
    with connect() as con:
        huge, nan = _grouped(con, [(1, 1e20), (1, 0.1), (2, float("nan")), (2, 0.1)])
    assert huge[1] == huge[3] == 1e20 and huge[2] == (1e20 + 0.1) / 2
    assert math.isnan(nan[1]) and math.isnan(nan[2])


def test_read_only_and_plain_connections_have_the_macros(tmp_path):
    path = tmp_path / "x.duckdb"
    with connect(path) as con:
        con.execute("create table t as select 0.1::double as x union all select 0.2")
    with connect(path, read_only=True) as con:
        assert con.execute("select cjm_exact_sum(x) from t").fetchone()[0] == 0.3
    with duckdb.connect() as con:  # readied to run the models, as tests do
        set_parameters(con, Config())
        assert con.execute("select cjm_exact_avg(x) from (values (1.0), (2.0)) t(x)").fetchone()

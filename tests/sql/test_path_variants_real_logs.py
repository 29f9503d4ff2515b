"""Path variants on real logs: prefixes and collapsing make long, unique journeys summarisable."""

from __future__ import annotations

import pytest

from cjm import churn
from cjm.config import load_config
from cjm.db import write_table
from cjm.journeys.paths import build_path_tables
from tests.cjm.journeys.test_paths import variant_counts
from tests.conftest import REPO, build, dataset
from tests.sql.test_path_marts import assert_path_keys

pytestmark = pytest.mark.slow  # the real logs

LOGS = {
    "helpdesk": ("helpdesk", "helpdesk.csv"),
    "bpic2013_incidents": ("bpic2013_incidents", "bpic2013_incidents.parquet"),
}


@pytest.fixture(scope="module", params=sorted(LOGS))
def real_log(request):
    config = load_config(REPO / "examples" / f"{request.param}.yaml")
    con = build([dataset(*LOGS[request.param])], config)
    definition = churn.resolve_churn_definition(con, config.churn)
    write_table(con, "customer_churn_state", churn.customer_churn_state(con, definition))
    build_path_tables(con, config)
    return request.param, con


def test_top_variants_cover_more_than_whole_journeys(real_log):
    name, con = real_log
    assert_path_keys(con)
    coverage = dict(
        con.execute(
            "select variant_kind, max(cumulative_share) filter (where path <> '(other)') "
            "from path_variants group by 1"
        ).fetchall()
    )
    # The same number of whole journeys, most common first, covers far less.
    whole = con.execute(
        "select sum(n) / (select count(*) from journeys) from "
        "(select count(*) as n from journeys group by path order by n desc limit 20)"
    ).fetchone()[0]
    assert coverage["collapsed"] >= coverage["raw"] > whole
    assert coverage["collapsed"] > 0.75
    customers = con.execute("select count(*) from journeys").fetchone()[0]
    totals = con.execute(
        "select variant_kind, sum(customer_count), max(cumulative_share) from path_variants "
        "group by 1"
    ).fetchall()
    assert all(t[1] == customers and abs(t[2] - 1) < 1e-9 for t in totals)


def test_variant_counts_equal_pandas(real_log):
    _, con = real_log
    events = con.execute(
        "select customer_id, touchpoint from events order by customer_id, event_index"
    ).df()
    expected = variant_counts(events, prefix_steps=5)
    got = con.execute(
        "select variant_kind, path, customer_count, variant_count from path_variants"
    ).fetchall()
    for kind, path, count, variants in got:
        if path == "(other)":
            assert count == expected[kind].iloc[20:].sum()
            assert variants == len(expected[kind]) - 20
        else:
            assert count == expected[kind][path]

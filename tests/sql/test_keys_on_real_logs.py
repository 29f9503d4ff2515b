"""Every mart key is unique and not null, and counts reconcile, on the real shared logs."""

from __future__ import annotations

import pandas as pd
import pytest

from cjm.build.catalog import key_breaks
from cjm.build.models import MARTS, model_key
from cjm.config import load_config
from tests.conftest import REPO, build, dataset

pytestmark = pytest.mark.slow  # the real logs

# The marts a build of the SQL models publishes, with the keys their SQL headers declare.
KEYS = {name: model_key("marts", name) for name in MARTS}

LOGS = {
    "helpdesk": ("helpdesk", "helpdesk.csv"),
    "bpic2013_incidents": ("bpic2013_incidents", "bpic2013_incidents.parquet"),
    "online_retail": ("online_retail", "online_retail.parquet"),
}


@pytest.fixture(scope="module", params=sorted(LOGS))
def real_log(request):
    path = dataset(*LOGS[request.param])
    config = load_config(REPO / "examples" / f"{request.param}.yaml")
    return request.param, path, build([path], config)


def assert_keys(con) -> None:
    """Each mart's key columns are unique and never null."""
    for table, key in KEYS.items():
        assert (table, key_breaks(con, table, key)) == (table, 0)


def test_keys_unique_and_counts_reconcile(real_log):
    name, path, con = real_log
    assert_keys(con)
    read, accepted, duplicate, rejected = con.execute(
        "select rows_read, rows_accepted, rows_duplicate, rows_rejected from file_loads"
    ).fetchone()
    source_rows = len(pd.read_parquet(path)) if path.suffix == ".parquet" else None
    if source_rows is None:
        source_rows = len(pd.read_csv(path, dtype=str))
    assert read == source_rows
    assert accepted + duplicate + rejected == read
    assert con.execute("select count(*) from events").fetchone()[0] == accepted


def test_transition_counts_match_pandas(real_log):
    name, path, con = real_log
    events = con.execute("select customer_id, touchpoint, event_time, source_row from events").df()
    events = events.sort_values(["customer_id", "event_time", "source_row"], kind="stable")
    events["next"] = events.groupby("customer_id")["touchpoint"].shift(-1).fillna("(end)")
    events["prev"] = events.groupby("customer_id")["touchpoint"].shift(1)
    pairs = pd.concat(
        [
            events[["touchpoint", "next"]].set_axis(["from", "to"], axis=1),
            events.loc[events["prev"].isna(), ["touchpoint"]]
            .assign(start="(start)")[["start", "touchpoint"]]
            .set_axis(["from", "to"], axis=1),
        ]
    )
    expected = pairs.value_counts().sort_index()
    got = (
        con.execute(
            "select from_touchpoint, to_touchpoint, transition_count from transitions "
            "where scope = 'journey' and segment = 'all'"
        )
        .df()
        .set_index(["from_touchpoint", "to_touchpoint"])["transition_count"]
        .sort_index()
    )
    assert dict(got) == {k: int(v) for k, v in expected.items()}


def test_online_retail_cancellations_and_revenue(real_log):
    name, path, con = real_log
    if name != "online_retail":
        pytest.skip("online_retail only")
    raw = pd.read_parquet(path)
    raw = raw[raw["CustomerID"].notna()].drop_duplicates()
    cancels = con.execute(
        "select count(*) from events where touchpoint = 'order_cancelled'"
    ).fetchone()[0]
    assert cancels == int(raw["InvoiceNo"].str.startswith("C").sum())
    revenue = con.execute("select sum(revenue) from events").fetchone()[0]
    assert revenue == pytest.approx(float((raw["Quantity"] * raw["UnitPrice"]).sum()), rel=1e-9)


def test_session_transition_counts_match_pandas(real_log):
    name, path, con = real_log
    events = con.execute(
        "select customer_id, session_id, touchpoint, event_time, source_row from events"
    ).df()
    events = events.sort_values(["customer_id", "event_time", "source_row"], kind="stable")
    by_session = events.groupby("session_id", sort=False)["touchpoint"]
    events["next"] = by_session.shift(-1).fillna("(end)")
    events["prev"] = by_session.shift(1)
    pairs = pd.concat(
        [
            events[["touchpoint", "next"]].set_axis(["from", "to"], axis=1),
            events.loc[events["prev"].isna(), ["touchpoint"]]
            .assign(start="(start)")[["start", "touchpoint"]]
            .set_axis(["from", "to"], axis=1),
        ]
    )
    expected = pairs.value_counts()
    got = con.execute(
        "select from_touchpoint, to_touchpoint, transition_count from transitions "
        "where scope = 'session' and segment = 'all'"
    ).fetchall()
    assert {(f, t): c for f, t, c in got} == {k: int(v) for k, v in expected.items()}
    starts = sum(c for f, _, c in got if f == "(start)")
    assert starts == con.execute("select count(*) from sessions").fetchone()[0]

"""Path tables and `cjm paths` on the bundled sample, checked against what the generator plants."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from cjm import sample
from cjm.cli.main import main
from cjm.journeys.paths import PathQueryError, anchored_paths, between_paths
from tests.sql.test_path_marts import assert_path_keys


@pytest.fixture
def published(published_sample) -> Path:
    """The bundled sample published through every step (the session's shared copy, read-only)."""
    return published_sample


@pytest.fixture
def con(published):
    connection = duckdb.connect(str(published), read_only=True)
    yield connection
    connection.close()


# Where a session can start (the event after a session that ended): the generator's entries, the
# signup/login that links a visitor, and the planted precursor sessions (they start with entries).
SESSION_STARTS = {*sample.ENTRY_CUSTOMER, *sample.ENTRY_PROSPECT, "signup", "login"}


def test_keys_and_shares_on_the_sample(con):
    assert_path_keys(con)
    for table, group in [
        ("path_variants", "variant_kind"),
        ("anchored_paths", "anchor, direction"),
        ("between_paths", "from_touchpoint, to_touchpoint"),
        ("funnel_dropouts", "funnel, step_number"),
    ]:
        totals = con.execute(f"select sum(share) from {table} group by {group}").fetchall()
        assert totals and all(abs(t - 1) < 1e-9 for (t,) in totals), table


def test_payment_error_is_always_right_after_checkout(con):
    # Default anchors (none configured) include the planted pain point.
    rows = con.execute(
        "select adjacent_touchpoint, sum(customer_count), sum(share) from anchored_paths "
        "where anchor = 'payment_error' and direction = 'before' group by 1"
    ).fetchall()
    with_error = con.execute(
        "select count(distinct customer_id) from events where touchpoint = 'payment_error'"
    ).fetchone()[0]
    assert with_error > 20
    assert rows == [("checkout", with_error, pytest.approx(1.0))]
    same = con.execute(
        "select sum(same_session_count) from anchored_paths "
        "where anchor = 'payment_error' and direction = 'before'"
    ).fetchone()[0]
    assert same == with_error


def test_after_payment_error_customers_leave_or_retry_checkout(con):
    after = dict(
        con.execute(
            "select adjacent_touchpoint, sum(share) from anchored_paths "
            "where anchor = 'payment_error' and direction = 'after' group by 1"
        ).fetchall()
    )
    # The generator ends the session after a failed payment 9 times in 10 and otherwise retries
    # the checkout: nobody purchases right away, and whatever comes next starts a new session.
    assert "purchase" not in after
    assert set(after) <= SESSION_STARTS | {"checkout", "(end)"}
    assert 0 < after.get("checkout", 0) < 0.3
    in_session = con.execute(
        "select adjacent_touchpoint, sum(same_session_count) from anchored_paths "
        "where anchor = 'payment_error' and direction = 'after' and same_session_count > 0 "
        "group by 1"
    ).fetchall()
    customers = con.execute(
        "select sum(customer_count) from anchored_paths "
        "where anchor = 'payment_error' and direction = 'after'"
    ).fetchone()[0]
    # Only a retried checkout happens in the same session, and most sessions end at the failed
    # payment (9 to 1 in the grammar).
    assert [r[0] for r in in_session] == ["checkout"]
    assert in_session[0][1] / customers < 0.3


def test_loyalty_reward_is_followed_by_buying(con):
    # The planted point of delight leads to purchase or reorder (grammar weights 8 of 9.3).
    frame = anchored_paths(con, "loyalty_reward", before=0, after=1)
    share = frame.groupby("adjacent_touchpoint")["share"].sum()
    assert share.get("purchase", 0) + share.get("reorder", 0) > 0.75
    assert set(frame["direction"]) == {"after"}


# Exit touchpoints that only ever happen at the end of a planted precursor sequence (unsubscribe
# also follows promotion emails in the grammar, so it is left out).
ONLY_PLANTED = [
    seq
    for seq in sample.CHURN_PRECURSORS
    if not any(seq[-1] in targets for targets in sample.GRAMMAR.values())
]


@pytest.mark.parametrize("sequence", ONLY_PLANTED)
def test_exit_touchpoints_follow_their_planted_precursors(con, sequence):
    *before, exit_touchpoint = sequence
    frame = anchored_paths(con, exit_touchpoint, before=len(before), after=0)
    assert list(frame["path"]) == [" > ".join(before)]
    assert frame["share"].tolist() == [1.0]


def test_between_product_view_and_purchase(con):
    frame = between_paths(con, "product_view", "purchase")
    published = con.execute(
        "select path, customer_count from between_paths order by path_rank"
    ).fetchall()
    assert list(frame[["path", "customer_count"]].itertuples(index=False, name=None)) == published
    reached = frame[frame["path"] != "(never)"]
    # The grammar's way to a purchase: add_to_cart, then checkout.
    assert reached.iloc[0]["path"] == "add_to_cart > checkout"
    assert reached.iloc[0]["median_seconds"] < sample.MAX_STEP_S * 3
    customers = con.execute(
        "select count(distinct customer_id) from events where touchpoint = 'product_view'"
    ).fetchone()[0]
    assert frame["customer_count"].sum() == customers


def test_checkout_funnel_leaks_into_payment_error(con):
    steps_ = con.execute(
        "select touchpoint, customer_count, step_conversion, median_seconds_from_previous, "
        "dropout_count from funnel_steps where funnel = 'checkout' order by step_number"
    ).fetchall()
    assert [s[0] for s in steps_] == ["product_view", "add_to_cart", "checkout", "purchase"]
    counts = [s[1] for s in steps_]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 0
    # checkout -> purchase: weight 8 of 9 in the grammar, less the failed payments.
    assert 0.75 < steps_[3][2] < 0.95
    assert steps_[3][3] < sample.MAX_STEP_S
    assert [s[4] for s in steps_[:3]] == [a - b for a, b in zip(counts, counts[1:], strict=False)]
    top = con.execute(
        "select next_touchpoint from funnel_dropouts where funnel = 'checkout' "
        "and touchpoint = 'checkout' and next_rank = 1"
    ).fetchone()
    assert top == ("payment_error",)


def test_stage_funnel_matches_journeys(con):
    rows = con.execute(
        "select stage, customer_count, customers_with_stage_event, customers_stopped_here "
        "from stage_funnel order by stage_rank"
    ).fetchall()
    counts = [r[1] for r in rows]
    assert counts == sorted(counts, reverse=True)
    stopped = dict(
        con.execute(
            "select furthest_stage, count(*) from journeys where furthest_stage is not null "
            "group by 1"
        ).fetchall()
    )
    assert {r[0]: r[3] for r in rows if r[3]} == stopped
    advocates = con.execute(
        "select count(distinct customer_id) from events "
        "where touchpoint in ('review_posted', 'referral')"
    ).fetchone()[0]
    assert rows[-1][1:3] == (advocates, advocates)


def test_path_variants_equal_a_pandas_computation(con):
    events = con.execute(
        "select customer_id, touchpoint from events order by customer_id, event_index"
    ).df()
    expected = variant_counts(events, prefix_steps=5)
    got = con.execute(
        "select variant_kind, path, customer_count from path_variants where path <> '(other)'"
    ).df()
    for kind, frame in got.groupby("variant_kind"):
        counts = expected[kind]
        assert dict(zip(frame["path"], frame["customer_count"], strict=True)) == {
            p: counts[p] for p in frame["path"]
        }
        # The top rows are the most common prefixes.
        assert sorted(frame["customer_count"], reverse=True) == counts.head(len(frame)).tolist()
    # A variant whose first steps hold a conversion touchpoint converted, every customer of it.
    rates = con.execute(
        "select conversion_rate from path_variants "
        "where regexp_matches(path, '(^| )(purchase|reorder)( |$)')"
    ).fetchall()
    assert rates and all(r == (1.0,) for r in rates)


def variant_counts(events: pd.DataFrame, prefix_steps: int) -> dict[str, pd.Series]:
    """Customers per path prefix, raw and collapsed, computed with pandas alone."""
    out = {}
    for kind in ("raw", "collapsed"):
        frame = events
        if kind == "collapsed":
            previous = frame.groupby("customer_id")["touchpoint"].shift()
            frame = frame[frame["touchpoint"] != previous]
        prefixes = frame.groupby("customer_id")["touchpoint"].agg(
            lambda s: " > ".join(s.iloc[:prefix_steps])
        )
        out[kind] = prefixes.value_counts()
    return out


def test_cli_paths_answers_from_the_published_file(published, capsys):
    stamp = published.stat().st_mtime_ns
    args = ["paths", "--db", str(published), "--anchor", "payment_error", "--before", "1"]
    assert main([*args, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["direction"], r["path"], r["share"]) for r in rows] == [("before", "checkout", 1.0)]
    anchor = ["paths", "--db", str(published), "--anchor", "payment_error"]
    assert main([*anchor, "--top", "2", "--max-width", "200"]) == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "after" in printed and "checkout" in printed
    between = ["paths", "--db", str(published), "--between", "product_view", "purchase"]
    assert main([*between, "--top", "3", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and "add_to_cart > checkout" in lines[2]
    assert published.stat().st_mtime_ns == stamp


def test_cli_paths_prints_as_cjm_query_does(published, capsys, tmp_path):
    between = ["paths", "--db", str(published), "--between", "product_view", "purchase"]
    assert main([*between, "--format", "csv"]) == 0
    every = capsys.readouterr().out.strip().splitlines()[1:]
    # DuckDB's table: the first rows, how many more, the path first so a narrow terminal keeps it
    assert main([*between, "--max-rows", "2", "--max-width", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split("\u2502")[1].strip() == "path"
    assert len([line for line in lines if line.startswith("\u2502")]) == 2 + 2  # names, types
    assert lines[-1].startswith(f"{len(every) - 2:,} more rows ({len(every):,} in all")
    assert main([*between, "--top", "2", "--format", "markdown"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("| from_touchpoint | to_touchpoint")
    out = tmp_path / "between.parquet"
    assert main([*between, "--format", "parquet", "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == len(every)


def test_cli_paths_rejects_bad_questions(published, capsys):
    base = ["paths", "--db", str(published)]
    assert main([*base, "--anchor", "no_such_touchpoint"]) == 2
    assert "no event has touchpoint 'no_such_touchpoint'" in capsys.readouterr().err
    assert main([*base, "--between", "product_view", "purchase", "--before", "2"]) == 2
    assert "--anchor" in capsys.readouterr().err
    assert main([*base, "--anchor", "purchase", "--before", "0", "--after", "0"]) == 2
    # A value is a parameter, never SQL text.
    assert main([*base, "--anchor", "x'; drop table events; --"]) == 2
    capsys.readouterr()
    with duckdb.connect(str(published), read_only=True) as check:
        assert check.execute("select count(*) from events").fetchone()[0] > 0


def test_anchored_paths_refuses_zero_steps(con):
    with pytest.raises(PathQueryError):
        anchored_paths(con, "purchase", before=0, after=0)


def test_path_macros_answer_like_cjm_paths_from_plain_duckdb(published, capsys):
    args = ["paths", "--db", str(published), "--anchor", "payment_error"]
    assert main([*args, "--before", "2", "--after", "3", "--format", "json"]) == 0
    expected = pd.DataFrame(json.loads(capsys.readouterr().out))
    between = ["paths", "--db", str(published), "--between", "product_view", "purchase"]
    assert main([*between, "--format", "json"]) == 0
    expected_between = pd.DataFrame(json.loads(capsys.readouterr().out))
    with duckdb.connect(str(published), read_only=True) as plain:
        got = plain.execute(
            "select * from anchored_paths_for('payment_error', 2, 3) "
            "order by direction desc, path_rank"
        ).df()
        got_between = plain.execute(
            "select * from between_paths_for('product_view', 'purchase') order by path_rank"
        ).df()
        funnel = plain.execute(
            "select step_number, touchpoint, customer_count from "
            "funnel_steps_for(['product_view', 'add_to_cart', 'checkout', 'purchase']) "
            "order by step_number"
        ).fetchall()
        published_funnel = plain.execute(
            "select step_number, touchpoint, customer_count from funnel_steps "
            "where funnel = 'checkout' order by step_number"
        ).fetchall()
    assert len(expected) > 3 and set(expected["direction"]) == {"before", "after"}
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    pd.testing.assert_frame_equal(got_between, expected_between, check_dtype=False)
    # the sample's configured checkout funnel, asked for ad hoc
    assert funnel == published_funnel and len(funnel) == 4

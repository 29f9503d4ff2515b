"""Configured expressions compute over the file's columns and cannot reach the host."""

from __future__ import annotations

import pytest

from cjm.build.expressions import ExpressionError, check_expression
from cjm.config import ConfigError, load_config, parse_config
from tests.conftest import REPO, build, write_csv

REFUSED = {
    "read_csv('/etc/passwd')": "function 'read_csv' is not a built-in scalar function",
    "read_text('/etc/passwd')": "function 'read_text' is not a built-in scalar function",
    "getenv('HOME')": "function 'getenv' reaches outside the expression's arguments",
    "(select content from read_text('/etc/passwd'))": "a subquery is not allowed",
    "'x' || (select string_agg(column0) from read_csv('/etc/passwd'))": "a subquery",
    "current_setting('home_directory')": "function 'current_setting' reaches outside",
    "glob('/*')": "function 'glob' is not a built-in scalar function",
    "query_table('events')": "function 'query_table' is not",
    "main.lower('x')": "qualified by a schema",
    "write_log('x')": "function 'write_log' reaches outside",
    "__internal_json_copy_to_json(1)": "is not a built-in scalar function",
    "x) as varchar), read_text('/etc/passwd'": "",
    "x as y": "not valid SQL",
    "?": "a parameter node is not allowed",
}


@pytest.mark.parametrize("expression", sorted(REFUSED))
def test_host_reaching_expressions_are_refused_at_config_load(expression):
    with pytest.raises(ConfigError) as err:
        parse_config({"expressions": {"touchpoint": expression}}, "my.yaml")
    message = str(err.value)
    assert message.startswith("my.yaml: invalid configuration")
    assert f"touchpoint: expression {expression!r} is refused: " in message
    assert REFUSED[expression] in message


@pytest.mark.parametrize(
    "expression",
    [
        "lower(trim(\"Kind\")) || '_' || coalesce(\"Step\", 'x')",
        "case when try_cast(\"Qty\" as double) < 0 then 'refund' else 'purchase' end",
        "list_transform(string_split(\"Path\", '/'), p -> upper(p))[1]",
        "regexp_extract(\"Url\", '/([a-z]+)$', 1)",
        "strftime(try_cast(\"When\" as timestamp), '%Y')",
    ],
)
def test_column_arithmetic_is_allowed(expression):
    check_expression(expression)


def test_a_refused_function_does_not_run(tmp_path):
    # the check raises before anything is read: the file named does not even exist
    with pytest.raises(ExpressionError, match="read_text"):
        check_expression(f"read_text('{tmp_path / 'secret.txt'}')")


EXAMPLE_ROWS = {
    "bpic2013_incidents.yaml": (
        {
            "case:concept:name": "1-364285768",
            "time:timestamp": "2010-03-31T15:59:42+02:00",
            "concept:name": "Accepted",
            "lifecycle:transition": "In Progress",
        },
        ("Accepted / In Progress", None),
    ),
    "online_retail.yaml": (
        {
            "CustomerID": "17850",
            "InvoiceDate": "2010-12-01 08:26",
            "InvoiceNo": "C536379",
            "Quantity": "-1",
            "UnitPrice": "27.50",
        },
        ("order_cancelled", -27.5),
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_ROWS))
def test_the_examples_expressions_still_run(tmp_path, name):
    config = load_config(REPO / "examples" / name)
    row, expected = EXAMPLE_ROWS[name]
    con = build([write_csv(tmp_path / "events.csv", [row])], config)
    assert con.execute("select touchpoint, revenue from events").fetchall() == [expected]

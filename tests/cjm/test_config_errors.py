import pytest

from cjm.config import ConfigError, load_config, parse_config
from cjm.config_errors import LINE_WIDTH, summarise


def _message(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(data, "my.yaml")
    return str(err.value).splitlines()


def test_one_bad_setting_is_named_with_the_value_given():
    assert _message({"session_gap_minutes": -5}) == [
        "my.yaml: invalid configuration (1 setting)",
        "  session_gap_minutes: should be greater than 0 (got -5)",
    ]


def test_a_typo_suggests_the_setting_it_resembles():
    assert _message({"timezon": "UTC"})[1] == "  timezon: unknown setting (did you mean timezone?)"
    lines = _message({"churn": {"horizon_day": 30}})
    assert lines[1] == "  churn.horizon_day: unknown setting (did you mean horizon_days?)"
    assert _message({"zzz": 1})[1] == "  zzz: unknown setting"


def test_a_setting_of_two_kinds_is_one_problem():
    # k is a number or 'auto': pydantic reports one error per kind
    assert _message({"personas": {"k": "many"}}) == [
        "my.yaml: invalid configuration (1 setting)",
        "  personas.k: should be a valid integer or 'auto' (got 'many')",
    ]


def test_two_short_problems_share_a_line():
    lines = _message({"partitions": "x", "random_state": "y"})
    assert lines == [
        "my.yaml: invalid configuration (2 settings)",
        "  random_state: should be a valid integer (got 'y'); "
        "partitions: should be a valid integer (got 'x')",
    ]


def test_five_bad_settings_fit_in_three_lines_naming_each():
    data = {
        "session_gap_minutes": -3,
        "duckdb_threads": "lots",
        "random_stat": 1,
        "churn": {"horizon_days": "x", "bogus": 2},
    }
    lines = _message(data)
    assert lines == [
        "my.yaml: invalid configuration (5 settings)",
        "  session_gap_minutes: should be greater than 0 (got -3)",
        "  also wrong: churn.horizon_days, churn.bogus, duckdb_threads, random_stat",
    ]


def test_forty_bad_settings_still_take_three_lines_and_count_the_rest():
    lines = _message({f"setting_{i}": 1 for i in range(40)})
    assert len(lines) == 3
    assert lines[0] == "my.yaml: invalid configuration (40 settings)"
    assert lines[1].startswith("  setting_0: unknown setting; setting_1: unknown setting")
    shown = lines[1].count("unknown setting") + lines[2].count("setting_")
    assert lines[2].startswith("  also wrong: ") and lines[2].endswith(f" and {40 - shown} more")
    assert all(len(line) <= LINE_WIDTH + 2 for line in lines[1:])


def test_a_long_problem_keeps_its_whole_message():
    long = "x" * (LINE_WIDTH + 20)
    found = [("expressions", long), ("timezone", "unknown timezone 'Mars'"), ("a", "b")]
    assert summarise("c.yaml", found).splitlines() == [
        "c.yaml: invalid configuration (3 settings)",
        f"  expressions: {long}",
        "  timezone: unknown timezone 'Mars'; a: b",
    ]


def test_broken_yaml_is_two_lines_naming_the_place(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("churn: {horizon_days: 3\ntimezone: [UTC\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).splitlines() == [
        f"{path}: not valid YAML: line 2, column 9: expected ',' or '}}', but got ':' "
        "(while parsing a flow mapping that starts on line 1)",
        "  line 2: timezone: [UTC",
    ]

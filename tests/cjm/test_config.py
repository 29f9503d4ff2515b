import hashlib
import json

import pytest

from cjm.build.manifest import LOAD_SETTINGS, settings_hash
from cjm.config import ConfigError, is_conversion_touchpoint, load_config, parse_config


def test_entity_defaults_to_customer():
    entity = parse_config({}).entity
    assert (entity.singular, entity.plural) == ("customer", "customers")


def test_entity_is_read_and_trimmed():
    entity = parse_config({"entity": {"singular": " case ", "plural": "cases"}}).entity
    assert (entity.singular, entity.plural) == ("case", "cases")


@pytest.mark.parametrize(
    "bad", [{"singular": ""}, {"plural": "x" * 41}, {"noun": "case"}, {"plural": "<b>cases"}]
)
def test_bad_entity_names_the_field(bad):
    with pytest.raises(ConfigError, match="entity"):
        parse_config({"entity": bad})


def test_outcomes_are_read_and_checked():
    outcomes = parse_config({"outcomes": {"success": ["activated"], "failure": ["declined"]}})
    assert outcomes.outcomes.success == ("activated",) and outcomes.outcomes.given
    assert not parse_config({}).outcomes.given
    with pytest.raises(ConfigError, match="both success and failure"):
        parse_config({"outcomes": {"success": ["x"], "failure": ["x"]}})


def test_a_key_given_twice_is_an_error_naming_it_and_both_lines(tmp_path):
    path = tmp_path / "cjm.yaml"
    path.write_text(
        "duckdb_threads: 2\n"
        "churn:\n"
        "  horizon_days: 30\n"
        "  horizon_days: 60\n"
        "duckdb_memory_limit: 8GB\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"line 4: key 'horizon_days' is given twice.*line 3"):
        load_config(path)
    path.write_text("duckdb_threads: 2\nduckdb_threads: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cjm.yaml: line 2: key 'duckdb_threads'"):
        load_config(path)
    # the same key in two different mappings is fine
    path.write_text("churn: {horizon_days: 30}\npaths: {prefix_steps: 4}\n", encoding="utf-8")
    assert load_config(path).churn.horizon_days == 30


def _yaml_example(page: str) -> str:
    from tests.conftest import REPO

    text = (REPO / page).read_text(encoding="utf-8")
    start = text.index("```yaml\n") + 8
    return text[start : text.index("```\n", start)]


def test_the_documented_configuration_example_loads(tmp_path):
    # the example users copy: every key valid, none given twice
    path = tmp_path / "example.yaml"
    path.write_text(_yaml_example("docs/configuration.md"), encoding="utf-8")
    config = load_config(path)
    assert config.entity.plural == "cases" and config.duckdb_threads == 2


def test_the_readme_minimal_configuration_loads(tmp_path):
    path = tmp_path / "minimal.yaml"
    path.write_text(_yaml_example("README.md"), encoding="utf-8")
    config = load_config(path)
    assert config.columns == {"customer_id": "user", "event_time": "ts", "touchpoint": "event_name"}


def test_kpi_period_is_week_by_default_and_checked():
    assert parse_config({}).kpis.period == "week"
    assert parse_config({"kpis": {"period": "month"}}).kpis.period == "month"
    with pytest.raises(ConfigError, match="kpis.period"):
        parse_config({"kpis": {"period": "day"}})


def test_resource_is_a_mappable_column_but_not_an_expression():
    config = parse_config({"columns": {"resource": "org:resource"}})
    assert config.source_column("resource") == "org:resource"
    assert parse_config({}).source_column("resource") == "resource"
    with pytest.raises(ConfigError, match="unknown canonical column"):
        parse_config({"expressions": {"resource": "upper(team)"}})


def test_outcomes_give_conversions_and_exits_unless_configured():
    outcomes = {"success": ["Resolved"], "failure": ["Rejected"]}
    config = parse_config({"outcomes": outcomes})
    assert is_conversion_touchpoint(config, "Resolved")
    assert not is_conversion_touchpoint(config, "purchase")  # the keyword default gives way
    assert config.stage_of("Rejected") == "exit"
    # an outcome says more than a keyword of the name ("ticket" would be retention)
    assert (
        parse_config({"outcomes": {"success": ["Resolve ticket"]}}).stage_of("Resolve ticket")
        == "purchase"
    )
    given = parse_config(
        {
            "outcomes": outcomes,
            "conversion_touchpoints": ["Paid"],
            "stages": {"Rejected": "purchase"},
        }
    )
    assert not is_conversion_touchpoint(given, "Resolved")
    assert given.stage_of("Rejected") == "purchase"
    assert is_conversion_touchpoint(parse_config({}), "purchase")


def test_outcomes_enter_the_load_settings_hash_only_when_given_and_resource_never():
    plain = settings_hash(parse_config({}))
    # the hash files were published with before outcomes shaped events
    dumped = parse_config({}).model_dump(mode="json")
    before = json.dumps({k: dumped[k] for k in LOAD_SETTINGS}, sort_keys=True)
    assert plain == hashlib.sha256(before.encode("utf-8")).hexdigest()
    assert settings_hash(parse_config({"outcomes": {}})) == plain
    assert settings_hash(parse_config({"outcomes": {"failure": ["x"]}})) != plain
    # the resource column is read from the event properties: mapping it rebuilds nothing
    assert settings_hash(parse_config({"columns": {"resource": "team"}})) == plain

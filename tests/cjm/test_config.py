import pytest

from cjm.config import ConfigError, parse_config


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

"""The funnel's stage order is written once (cjm.config.FUNNEL_STAGES): the SQL models read it as
the variable cjm_funnel_stages and spell no stage list of their own."""

from __future__ import annotations

from cjm.build.models import model_files, model_sql
from cjm.config import FUNNEL_STAGES, STAGES
from cjm.personas.features import STAGE_RANKS


def test_no_model_spells_the_stage_order():
    for layer, name in model_files():
        body = model_sql(layer, name)
        code = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("--"))
        spelled = [stage for stage in FUNNEL_STAGES if f"'{stage}'" in code]
        assert len(spelled) < 2, (
            f"{layer}/{name}.sql lists stages {spelled}: read cjm_funnel_stages"
        )


def test_the_funnel_is_the_stages_without_exit_in_order():
    assert tuple(s for s in STAGES if s != "exit") == FUNNEL_STAGES
    assert list(STAGE_RANKS) == list(FUNNEL_STAGES)
    assert list(STAGE_RANKS.values()) == list(range(1, len(FUNNEL_STAGES) + 1))

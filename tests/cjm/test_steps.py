"""The run's last step refuses to publish a table whose declared key is broken."""

from __future__ import annotations

import pytest

from cjm import steps
from cjm.build.runs import new_run
from cjm.checks import KeyViolationError
from cjm.db import connect


def test_finish_run_refuses_a_duplicated_key(tmp_path):
    build, db = tmp_path / "build.duckdb", tmp_path / "cjm.duckdb"
    with connect(build) as con:
        con.execute(
            "create table journeys as select * from (values ('c1'), ('c1'), ('c2')) v(customer_id)"
        )
    record = new_run(db, {})
    with pytest.raises(KeyViolationError, match=r"journeys \(1 rows; key customer_id\)"):
        steps.finish_run(build, record, db)
    assert not db.exists()

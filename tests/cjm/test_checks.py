"""A build whose rows do not reconcile, or whose keys break, is refused with a message that says
what broke and what to do; the CLI prints it without a traceback."""

from __future__ import annotations

import duckdb
import pytest

from cjm.checks import KeyViolationError, ReconciliationError, check_reconciled
from cjm.cli import parser
from cjm.cli.main import main
from cjm.errors import is_reported, is_user_error


def _file_loads(rows: list[tuple]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "create table file_loads (source_file varchar, rows_read bigint, rows_accepted bigint, "
        "rows_duplicate bigint, rows_rejected bigint, is_reconciled boolean)"
    )
    con.executemany("insert into file_loads values (?, ?, ?, ?, ?, ?)", rows)
    return con


def test_unreconciled_counts_name_the_file_and_what_to_do():
    con = _file_loads([("a.csv", 3, 2, 1, 0, True), ("b.parquet", 10, 8, 0, 1, False)])
    with pytest.raises(ReconciliationError) as err:
        check_reconciled(con)
    message = str(err.value)
    assert "b.parquet: 10 rows read, but 8 accepted + 0 duplicate + 1 rejected" in message
    assert "a.csv" not in message
    assert "nothing was published" in message and "run again" in message
    check_reconciled(_file_loads([("a.csv", 3, 2, 1, 0, True)]))


def test_a_rewritten_input_is_the_users_to_fix_and_a_broken_key_is_a_bug():
    reconciliation, keys = ReconciliationError("x"), KeyViolationError("x")
    assert is_user_error(reconciliation) and is_reported(reconciliation)
    assert not is_user_error(keys) and is_reported(keys)
    assert not is_reported(ValueError("x"))


@pytest.mark.parametrize(
    "error",
    [
        ReconciliationError("row counts do not reconcile, so nothing was published: run again"),
        KeyViolationError("tables whose key is duplicated: This is a bug in cjm: report it"),
    ],
)
def test_the_cli_prints_a_refused_run_as_a_message(monkeypatch, capsys, error):
    def refused(args):
        raise error

    monkeypatch.setattr(parser, "cmd_run", refused)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err == f"cjm run: error: {error}\n"
    assert main(["run", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err

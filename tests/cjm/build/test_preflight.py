"""Bad input fails before Prefect starts: one short message, exit 2, no file left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cjm.build import preflight
from cjm.build.files import IngestError
from cjm.config import ConfigError, load_config, parse_config
from tests.conftest import REPO, SAMPLE_DIR, dataset

# The CLI in a fresh interpreter, failing if it got as far as importing Prefect (whose temporary
# server is what made a bad input take 14-54 s).
RUN_CLI = (
    "import sys\n"
    "from cjm.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "assert 'prefect' not in sys.modules, 'Prefect was imported before the input was checked'\n"
    "sys.exit(code)\n"
)


SEVERAL_BAD_SETTINGS = (
    "session_gap_minutes: -3\nduckdb_threads: lots\nrandom_stat: 1\n"
    "churn: {horizon_days: x, bogus: 2}\n"
)


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")}


def _cli(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    before = _files(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "run", "--db", "out/cjm.duckdb", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert _files(tmp_path) == before, "a failed check left files behind"
    return done.returncode, (done.stdout + done.stderr).splitlines()


def _csv(path: Path, header: str) -> Path:
    row = ["2024-01-01T00:00:00Z" if name == "event_time" else "x" for name in header.split(",")]
    path.write_text(f"{header}\n{','.join(row)}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing path", "no such file, directory or matching glob"),
        ("empty directory", "no event files"),
        ("missing column", "required column 'event_time' is missing"),
        ("config typo", "timezon: unknown setting (did you mean timezone?)"),
        ("several bad settings", "bad.yaml: invalid configuration (5 settings)"),
        ("broken YAML", "broken.yaml: not valid YAML: line 2, column 9: expected ','"),
        ("missing customers file", "nope.csv: no such file"),
        ("customers without the id", "no customer id column 'customer_id' (columns.customer_id)"),
        ("customers of another format", "people.json: not a .csv or .parquet file"),
    ],
)
def test_bad_input_fails_before_prefect_in_one_short_message(tmp_path, case, expected):
    (tmp_path / "empty").mkdir()
    _csv(tmp_path / "when.csv", "customer_id,when,touchpoint")
    _csv(tmp_path / "ok.csv", "customer_id,event_time,touchpoint")
    (tmp_path / "typo.yaml").write_text("timezon: UTC\n")
    (tmp_path / "bad.yaml").write_text(SEVERAL_BAD_SETTINGS)
    (tmp_path / "broken.yaml").write_text("churn: {horizon_days: 3\ntimezone: [UTC\n")
    (tmp_path / "people.csv").write_text("id,plan\nc1,pro\n")
    (tmp_path / "people.json").write_text("{}\n")
    (tmp_path / "people.yaml").write_text("customers: people.csv\n")
    args = {
        "missing path": ["--events", "missing"],
        "empty directory": ["--events", "empty"],
        "missing column": ["--events", "when.csv"],
        "config typo": ["--events", "ok.csv", "--config", "typo.yaml"],
        "several bad settings": ["--events", "ok.csv", "--config", "bad.yaml"],
        "broken YAML": ["--events", "ok.csv", "--config", "broken.yaml"],
        "missing customers file": ["--events", "ok.csv", "--customers", "nope.csv"],
        "customers without the id": ["--events", "ok.csv", "--config", "people.yaml"],
        "customers of another format": ["--events", "ok.csv", "--customers", "people.json"],
    }[case]
    code, lines = _cli(tmp_path, *args)
    assert code == 2
    assert 1 <= len(lines) <= 3, lines
    assert lines[0].startswith("cjm run: error: ")
    assert expected in "\n".join(lines)
    assert "Traceback" not in "\n".join(lines)


def test_several_bad_settings_are_each_named_within_three_lines(tmp_path):
    # without --events: the bundled sample's notice waits until the input has passed
    (tmp_path / "bad.yaml").write_text(SEVERAL_BAD_SETTINGS)
    code, lines = _cli(tmp_path, "--config", "bad.yaml")
    assert code == 2
    assert lines == [
        "cjm run: error: bad.yaml: invalid configuration (5 settings)",
        "  session_gap_minutes: should be greater than 0 (got -3)",
        "  also wrong: churn.horizon_days, churn.bogus, duckdb_threads, random_stat",
    ]


def test_debug_adds_the_traceback(tmp_path):
    code, lines = _cli(tmp_path, "--events", "missing", "--debug")
    assert code == 2
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "cjm run: error: missing: no such file, directory or matching glob"


def test_the_customers_id_column_follows_the_customer_id_mapping(tmp_path):
    events = _csv(tmp_path / "ok.csv", "user,event_time,touchpoint")
    (tmp_path / "people.csv").write_text("user,plan\nc1,pro\n")
    (tmp_path / "other.csv").write_text("customer_id,plan\nc1,pro\n")
    config = parse_config(
        {"columns": {"customer_id": "user"}, "customers": str(tmp_path / "other.csv")}
    )
    with pytest.raises(ConfigError, match="no customer id column 'user'"):
        preflight.check_run_inputs(str(events), config, tmp_path / "cjm.duckdb")
    config = parse_config(
        {"columns": {"customer_id": "user"}, "customers": str(tmp_path / "people.csv")}
    )
    assert preflight.check_run_inputs(str(events), config, tmp_path / "cjm.duckdb") == [events]


def test_a_mapped_column_in_no_file_is_a_typo(tmp_path):
    events = _csv(tmp_path / "web.csv", "customer_id,event_time,touchpoint")
    config = parse_config({"columns": {"channel": "Sorce"}})
    with pytest.raises(ConfigError, match=r"columns.channel: source column 'Sorce' is in none"):
        preflight.check_run_inputs(str(events), config, tmp_path / "cjm.duckdb")


def test_a_mapped_column_in_some_files_is_fine(tmp_path):
    # one config for two sources: the store's file has no Source column
    _csv(tmp_path / "web.csv", "customer_id,event_time,touchpoint,Source")
    _csv(tmp_path / "store.csv", "customer_id,event_time,touchpoint")
    config = parse_config({"columns": {"channel": "Source"}})
    files = preflight.check_run_inputs(str(tmp_path), config, tmp_path / "cjm.duckdb")
    assert [f.name for f in files] == ["store.csv", "web.csv"]


def test_a_mapped_required_column_names_the_source(tmp_path):
    events = _csv(tmp_path / "web.csv", "customer_id,ts,touchpoint")
    config = parse_config({"columns": {"event_time": "Timestamp"}})
    with pytest.raises(IngestError, match=r"web.csv: required column 'event_time' \(mapped from"):
        preflight.check_run_inputs(str(events), config, tmp_path / "cjm.duckdb")


def test_json_lines_keys_are_read_to_the_end_before_failing(tmp_path, monkeypatch):
    monkeypatch.setattr(preflight, "JSON_SAMPLE_LINES", 2)
    path = tmp_path / "app.jsonl"
    rows = [{"customer_id": "c1", "touchpoint": "open"}] * 3
    rows.append({"customer_id": "c1", "touchpoint": "open", "event_time": "2024-01-01"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert preflight.check_run_inputs(str(path), parse_config({}), tmp_path / "x.duckdb")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]), encoding="utf-8")
    with pytest.raises(IngestError, match="app.jsonl: required column 'event_time' is missing"):
        preflight.check_run_inputs(str(path), parse_config({}), tmp_path / "x.duckdb")


def test_headers_of_every_format(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"customer_id": ["c1"], "event_time": ["2024-01-01"], "x y": [1]})
    frame.to_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("customer_id;event_time;x y\nc1;2024-01-01;1\n")
    (tmp_path / "c.jsonl").write_text('not json\n{"customer_id": "c1", "x y": 1}\n')
    (tmp_path / "d.csv").write_text("\n  \n")
    assert preflight.file_columns(tmp_path / "a.parquet") == ["customer_id", "event_time", "x y"]
    assert preflight.file_columns(tmp_path / "b.csv") == ["customer_id", "event_time", "x y"]
    assert preflight.file_columns(tmp_path / "c.jsonl") == ["customer_id", "x y"]
    assert preflight.file_columns(tmp_path / "d.csv") is None


def test_the_database_path_must_be_a_file(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match="is a directory"):
        preflight.check_db_path(tmp_path)
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        preflight.check_db_path(tmp_path / "a_file" / "cjm.duckdb")
    preflight.check_db_path(tmp_path / "new" / "dir" / "cjm.duckdb")
    assert not (tmp_path / "new").exists()


def test_the_sample_passes(tmp_path):
    config = load_config(SAMPLE_DIR / "cjm.yaml")
    files = preflight.check_run_inputs(str(SAMPLE_DIR / "events"), config, tmp_path / "c.duckdb")
    assert len(files) == 3


@pytest.mark.parametrize(
    ("name", "file"),
    [
        ("helpdesk", "helpdesk.csv"),
        ("bpic2013_incidents", "bpic2013_incidents.parquet"),
        ("online_retail", "online_retail.parquet"),
    ],
)
def test_the_real_logs_pass_with_their_example_configs(tmp_path, name, file):
    path = dataset(name, file)
    config = load_config(REPO / "examples" / f"{name}.yaml")
    assert preflight.check_run_inputs(str(path), config, tmp_path / "c.duckdb") == [path.resolve()]


def test_a_csv_with_broken_lines_is_sniffed_as_the_load_sniffs_it(tmp_path):
    # broken lines (too many fields) make DuckDB's sniffer read the header as one column unless
    # rejects are stored, as the load does
    from cjm.build.preflight import file_columns

    path = tmp_path / "events.csv"
    good = [f"e{i},c{i % 7},2024-01-0{1 + i % 9}T10:00:00Z,view" for i in range(40)]
    bad = ["x,y,z,w,v,u,t", "only one field"]
    path.write_text("\n".join(["event_id,customer_id,event_time,touchpoint", *bad, *good]) + "\n")
    assert file_columns(path) == ["event_id", "customer_id", "event_time", "touchpoint"]

"""`cjm serve` refuses clearly when it cannot serve: no events, no server, a bad cron."""

from __future__ import annotations

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from cjm.cli.main import main
from cjm.cli.version import code_version
from tests.conftest import REPO, SAMPLE_DIR


def test_serve_needs_events(capsys):
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "--events" in err and "schedule.events" in err


def test_serve_without_a_server_says_what_to_run(capsys, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["serve", "--events", str(SAMPLE_DIR / "events")]) == 2
    err = capsys.readouterr().err
    assert "PREFECT_API_URL is not set" in err
    assert "prefect server start --host 127.0.0.1" in err


@pytest.mark.parametrize("cron", ["not a cron", "61 * * * *"])
def test_serve_rejects_a_bad_cron_before_registering(tmp_path, capsys, cron):
    config = tmp_path / "cjm.yaml"
    config.write_text(f"schedule:\n  cron: '{cron}'\n  events: {SAMPLE_DIR / 'events'}\n")
    # nothing listens on port 9: reaching the server would fail differently
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["serve", "--config", str(config)]) == 2
    assert "schedule.cron" in capsys.readouterr().err


def test_code_version_has_package_version_and_commit():
    version = code_version()
    assert version.startswith("0.")
    if (REPO / ".git").exists():
        assert "+g" in version


def test_serve_with_the_server_down_says_so_in_one_line(capsys):
    # nothing listens on port 9
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["serve", "--events", str(SAMPLE_DIR / "events")]) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "cjm serve: error: cannot reach the Prefect API at http://127.0.0.1:9/api ([Errno 111] "
        "Connection refused): start the server, or point PREFECT_API_URL at a running one"
    ]
    assert "Serving deployment" not in captured.out

"""The production kit's files agree with the code and with each other: prefect.yaml deploys what
`cjm serve` deploys, the systemd units start what exists, the Dockerfile copies what exists."""

from __future__ import annotations

import configparser
import re
import shlex

import pytest
import yaml

from cjm.cli.parser import build_parser
from cjm.config import Config, load_config, parse_config
from cjm.deployment import COLLISION_STRATEGY, CONCURRENCY_LIMIT, FLOW_NAME
from tests.conftest import REPO, SAMPLE_DIR

DEPLOY = REPO / "deploy"


def _prefect_yaml() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


def _deployment() -> dict:
    (deployment,) = _prefect_yaml()["deployments"]
    return deployment


def test_prefect_yaml_is_valid_for_prefect_deploy():
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(_prefect_yaml())
    assert [d.name for d in model.deployments] == ["scheduled"]
    assert model.prefect_version == _installed("prefect")


def _installed(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def test_prefect_yaml_entrypoint_is_the_flow_with_its_parameters():
    from prefect.flows import load_flow_from_entrypoint

    deployment = _deployment()
    flow = load_flow_from_entrypoint(str(REPO / deployment["entrypoint"]))
    assert flow.name == FLOW_NAME
    # Prefect validates the parameters against the flow's signature: config becomes a Config.
    parameters = flow.validate_parameters(deployment["parameters"])
    assert isinstance(parameters["config"], Config)
    assert (REPO / deployment["parameters"]["events"]).is_dir()


def test_prefect_yaml_deploys_the_sample_config_and_its_schedule():
    deployment = _deployment()
    config = parse_config(deployment["parameters"]["config"], "prefect.yaml")
    assert config == load_config(SAMPLE_DIR / "cjm.yaml")
    (schedule,) = deployment["schedules"]
    assert schedule == {"cron": config.schedule.cron, "timezone": config.timezone}


def test_prefect_yaml_queues_like_cjm_serve():
    assert _deployment()["concurrency_limit"] == {
        "limit": CONCURRENCY_LIMIT,
        "collision_strategy": COLLISION_STRATEGY,
    }
    # The same deployment name as `cjm serve`, so `cjm notify-on-failure` finds either.
    serve = _subcommand("serve")
    assert _deployment()["name"] == serve.get_default("name")
    assert _subcommand("notify-on-failure").get_default("deployment") == f"{FLOW_NAME}/scheduled"


def _subcommand(name: str):
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    return commands.choices[name]


def _unit(name: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text())
    return parser["Service"]


@pytest.mark.parametrize("name", ["cjm-serve.service", "cjm-worker.service"])
def test_units_run_as_cjm_in_prefect_yaml_directory_and_restart(name):
    service = _unit(name)
    (pull,) = _prefect_yaml()["pull"]
    assert (
        service["WorkingDirectory"]
        == pull["prefect.deployments.steps.set_working_directory"]["directory"]
    )
    assert service["User"] == "cjm" and service["Restart"] == "on-failure"
    text = (DEPLOY / name).read_text()
    assert "Environment=PREFECT_API_URL=http://127.0.0.1:4200/api" in text
    assert "EnvironmentFile=-/etc/cjm/cjm.env" in text


def test_serve_unit_runs_a_cjm_serve_the_parser_accepts():
    command = shlex.split(_unit("cjm-serve.service")["ExecStart"])
    assert command[0].endswith("/bin/cjm")
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve"
    # The worker's runs (prefect.yaml) and the served runs publish the same file.
    assert args.db == _deployment()["parameters"]["db"]


def test_worker_unit_serves_prefect_yaml_work_pool():
    command = shlex.split(_unit("cjm-worker.service")["ExecStart"])
    assert command[1:3] == ["worker", "start"]
    assert command[command.index("--pool") + 1] == _deployment()["work_pool"]["name"]
    assert command[command.index("--type") + 1] == "process"


def _dockerfile() -> list[list[str]]:
    """The Dockerfile's instructions as [keyword, *words], continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [line.split() for line in lines if line and not line.startswith("#")]


def test_dockerfile_builds_in_stages_and_runs_unprivileged():
    steps = _dockerfile()
    stages = [s for s in steps if s[0] == "FROM"]
    assert [s[-1] for s in stages] == ["build", "runtime"]
    runtime = steps[steps.index(stages[-1]) :]
    users = [s[1] for s in runtime if s[0] == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(" ".join(s) for s in steps if s[0] == "RUN")
    assert "--constraint requirements.lock" in runs  # the locked versions, not the newest
    assert " -e " not in runs and "--editable" not in runs
    # The runtime installs only the build stage's wheels, never from an index.
    assert "--mount=type=bind,from=build" in runs and "--no-index" in runs


def test_dockerfile_copies_only_what_exists_and_the_default_command_runs_the_sample():
    steps = _dockerfile()
    copied = {}
    for step in steps:
        if step[0] == "COPY" and not any(w.startswith("--from") for w in step):
            words = [w for w in step[1:] if not w.startswith("--")]
            for source in words[:-1]:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"
                copied[words[-1].rstrip("/")] = source
    assert "requirements.lock" in " ".join(copied.values())
    (cmd,) = [s for s in steps if s[0] == "CMD"]
    args = build_parser().parse_args(yaml.safe_load(" ".join(cmd[1:])))
    assert args.command == "run"
    assert copied[args.events] == "data/sample/events"
    assert copied[args.config] == "data/sample/cjm.yaml"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and not any(copied_path in ignored for copied_path in copied.values())

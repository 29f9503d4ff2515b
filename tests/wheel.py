"""Build the wheel and install it, without -e, in a fresh virtual environment away from the
checkout (the session fixtures `wheel` and `installed` of tests/conftest.py call these)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def run(*args: str | Path, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run a command to its end; fail the test with its output when it fails."""
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _uv() -> str | None:
    """uv beside this interpreter (the Makefile installs it there) or on PATH."""
    return shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")


def build_wheel(out: Path) -> Path:
    """The wheel, built from the sdist as a release would be (uv, else pip)."""
    uv = _uv()
    if uv:
        run(uv, "build", "--quiet", "--out-dir", out, REPO)
    else:
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, REPO)
    (found,) = out.glob("cjm-*.whl")
    return found


def install_wheel(wheel: Path, venv: Path) -> Path:
    """A fresh virtual environment at `venv` with the locked dependencies and the wheel."""
    python = venv / "bin" / "python"
    uv = _uv()
    if uv:
        run(uv, "venv", "--quiet", "--python", sys.executable, venv)
        install = [uv, "pip", "install", "--quiet", "--python", python]
    else:
        run(sys.executable, "-m", "venv", venv)
        install = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run(*install, "-r", REPO / "requirements.lock")
    run(*install, "--no-deps", wheel)
    return venv


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without anything that points back at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env

"""Which cjm is running: the package version, with the git commit in a checkout of cjm."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def code_version() -> str:
    """The package version, plus the git commit when cjm runs from a git checkout."""
    from importlib import metadata

    try:
        version = metadata.version("cjm")
    except metadata.PackageNotFoundError:
        version = "unknown"
    try:
        top, commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--show-toplevel", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
    except (OSError, ValueError, subprocess.SubprocessError):
        return version
    # Only a checkout of cjm itself: an installed copy may sit in some other project's checkout.
    return f"{version}+g{commit}" if Path(top).resolve() == REPO_ROOT else version

"""The errors that are the user's to fix: the CLI prints them without a traceback."""

from __future__ import annotations

import sys

# module -> the error class in it that is the user's to fix. Looked up by name: importing the
# modules here would import pandas (about a second) before a run's checks can report a bad input.
USER_ERRORS: dict[str, str] = {
    "cjm.config": "ConfigError",
    "cjm.build.guard_rails": "GuardRailError",
    "cjm.build.files": "IngestError",
    "cjm.build.manifest": "IncrementalLoadError",
    "cjm.build.publish": "RunLockedError",
    "cjm.query": "QueryError",
}


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is one of USER_ERRORS (a raised error's module is always imported)."""
    for module_name, class_name in USER_ERRORS.items():
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def release_frames(exc: BaseException) -> None:
    """Drop the traceback frames of an exception chain.

    A failed Prefect run keeps its exception; its frames would keep DuckDB objects alive until
    interpreter exit, where the DuckDB bindings then report them as leaks.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.__traceback__ = None
        current = current.__cause__ or current.__context__

"""The errors the CLI reports as a message, without a traceback (`--debug` adds it): those that are
the user's to fix, and the bugs in cjm that a run's own checks catch before publishing."""

from __future__ import annotations

import sys

# module -> the error class in it that is the user's to fix: bad input or configuration, or the
# run's situation (a run already holding the lock, an input file rewritten while the run read it).
# Such an error fails the same way until the user acts, so the flow does not retry it. Looked up by
# name: importing the modules here would import pandas (about a second) before a run's checks can
# report a bad input.
USER_ERRORS: dict[str, str] = {
    "cjm.checks": "ReconciliationError",
    "cjm.config": "ConfigError",
    "cjm.build.guard_rails": "GuardRailError",
    "cjm.build.files": "IngestError",
    "cjm.build.manifest": "IncrementalLoadError",
    "cjm.build.publish": "RunLockedError",
    "cjm.query": "QueryError",
}

# module -> the error class in it that means a bug in cjm, caught by a run's check of its build:
# nothing was published, and the message names what broke and asks for a report. Its traceback
# would only show the check, not the cause.
BUG_ERRORS: dict[str, str] = {
    "cjm.checks": "KeyViolationError",
}


def _is_one_of(exc: BaseException, errors: dict[str, str]) -> bool:
    for module_name, class_name in errors.items():
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, getattr(module, class_name)):
            return True
    return False


def is_user_error(exc: BaseException) -> bool:
    """Whether `exc` is one of USER_ERRORS (a raised error's module is always imported)."""
    return _is_one_of(exc, USER_ERRORS)


def is_reported(exc: BaseException) -> bool:
    """Whether the CLI reports `exc` as a message without a traceback: a user's error, or a bug
    that a run's check caught before publishing (BUG_ERRORS)."""
    return is_user_error(exc) or _is_one_of(exc, BUG_ERRORS)


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

"""The errors that are the user's to fix: the CLI prints them without a traceback."""

from __future__ import annotations

from cjm.config import ConfigError
from cjm.guard_rails import GuardRailError
from cjm.ingest import IngestError
from cjm.manifest import IncrementalLoadError
from cjm.publish import RunLockedError
from cjm.query import QueryError

USER_ERRORS: tuple[type[Exception], ...] = (
    ConfigError,
    GuardRailError,
    IngestError,
    IncrementalLoadError,
    RunLockedError,
    QueryError,
)


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

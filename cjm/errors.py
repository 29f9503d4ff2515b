"""The errors that are the user's to fix: the CLI prints them without a traceback."""

from __future__ import annotations

from cjm.config import ConfigError
from cjm.ingest import IngestError
from cjm.publish import RunLockedError
from cjm.query import QueryError

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, IngestError, RunLockedError, QueryError)

"""A deadline for a whole run: fail it cleanly when it overruns, end the process if it cannot."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

# How long a run past its deadline may take to unwind before its process is ended: a run stuck in
# native code never sees the Python-level timeout.
HARD_STOP_GRACE_SECONDS = 60.0
# Past the deadline the alarm repeats at this interval until the run has unwound: DuckDB turns
# an alarm into an ordinary error, which a task with retries would run again; the repeat lands in
# the retry delay (2 s or more in the flow) and ends the run there.
REPEAT_SECONDS = 1.0


class RunTimeoutError(TimeoutError):
    """The run overran flow_timeout_seconds; Prefect records it as a TimedOut failure."""


class RunDeadlineExceeded(BaseException):
    """Raised by the alarm inside the run: a BaseException, so no task retries it as a failure."""


@contextlib.contextmanager
def run_deadline(
    seconds: float | None, grace_seconds: float = HARD_STOP_GRACE_SECONDS
) -> Iterator[None]:
    """Raise RunTimeoutError in the enclosed code after `seconds` (None: no deadline); if it
    is still running `grace_seconds` later, end the process (its lock goes with it)."""
    if seconds is None:
        yield
        return
    message = f"the run exceeded flow_timeout_seconds ({seconds:g} s)"
    expired: list[bool] = []
    # Only the main thread can take an alarm; elsewhere the hard stop alone applies.
    alarm = threading.current_thread() is threading.main_thread()
    if alarm:

        def _overrun(signum, frame) -> None:
            expired.append(True)
            raise RunDeadlineExceeded(message)

        previous = signal.signal(signal.SIGALRM, _overrun)
        signal.setitimer(signal.ITIMER_REAL, seconds, REPEAT_SECONDS)
    watchdog = threading.Timer(seconds + grace_seconds, _hard_stop, args=(message, grace_seconds))
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    except BaseException as exc:
        # DuckDB turns the alarm's exception into its own "Query interrupted" error.
        if expired:
            raise RunTimeoutError(message) from exc
        raise
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        watchdog.cancel()


def _hard_stop(message: str, grace_seconds: float) -> None:
    """End the process: it did not unwind within the grace period (stuck in native code)."""
    sys.stderr.write(
        f"cjm: {message} and did not stop within {grace_seconds:g} s more; ending the process "
        "(the next run records this one as interrupted and removes its build file)\n"
    )
    sys.stderr.flush()
    os._exit(124)

"""Build-then-swap publishing of the DuckDB file, and the lock that keeps runs apart."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from cjm.db import connect


class RunLockedError(RuntimeError):
    """Another run is building the same published file."""


def build_path_for(db_path: Path, run_id: str) -> Path:
    """Where a run builds its new database: beside the published file, so the swap is a rename."""
    return db_path.with_name(f".{db_path.name}.build-{run_id}")


@contextlib.contextmanager
def run_lock(db_path: Path) -> Iterator[None]:
    """Hold an exclusive lock for the published path; refuse at once if another run holds it."""
    lock_path = db_path.with_name(f".{db_path.name}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"another cjm run (pid {holder}) is already building {db_path}; "
                "wait for it to finish, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish(build_path: Path, db_path: Path, progress: Callable[[str], None] | None = None) -> None:
    """Checkpoint the finished build and atomically replace the published file with it."""
    con = connect(build_path)
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = build_path.with_name(build_path.name + ".wal")
    if wal.exists():
        raise RuntimeError(f"{build_path}: write-ahead log left after checkpoint; not publishing")
    if progress:
        progress(f"checkpointed the build; replacing {db_path}")
    # Readers holding the old file keep their version; new connections see the new one.
    os.replace(build_path, db_path)
    _fsync_dir(db_path.parent)


def discard(build_path: Path) -> None:
    """Remove an unfinished build and its write-ahead log."""
    for path in (build_path, build_path.with_name(build_path.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def discard_stale_builds(db_path: Path) -> list[Path]:
    """Remove builds left by runs that were killed; call only while holding run_lock(db_path)."""
    stale = sorted(db_path.parent.glob(f".{glob.escape(db_path.name)}.build-*"))
    for path in stale:
        if path.is_dir():  # bucket files of a partitioned build (cjm.build.partition)
            shutil.rmtree(path, ignore_errors=True)
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return stale


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

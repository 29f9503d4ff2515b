"""Event files: which paths a run reads (a file, a directory or a glob; formats and compression
by extension), what was read from each, and a first look at a file's bytes (encoding, blank)."""

from __future__ import annotations

import errno
import glob
import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# Compressed CSV and JSON Lines (`events.csv.gz`, `events.jsonl.zst`), which DuckDB reads natively.
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd"}


READABLE = ".csv, .tsv, .txt, .jsonl, .ndjson, .json, .parquet, .pq (text formats also .gz or .zst)"


# Longest line a CSV or JSON Lines file may have (DuckDB's default is 2 MB); a longer line stops
# the file with an error naming the line.
MAX_LINE_BYTES = 64 * 1024 * 1024


# Byte-order marks of UTF-16 files, which DuckDB reads when told the encoding.
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class IngestError(RuntimeError):
    """An input problem that stops the run: names the file and what to do."""


@dataclass(frozen=True)
class FileLoad:
    """What was read from one file: rows read, and rows that could not be parsed at all.

    A file that is not read (status `skipped`: unknown type, symlink loop) says why in `reason`.
    """

    source_file: str
    file_format: str | None
    rows_read: int
    rows_unparseable: int
    status: str = "loaded"
    reason: str | None = None


def file_format(path: Path) -> str | None:
    """csv, jsonl or parquet by the file's extension (after .gz or .zst); None if unknown."""
    suffixes = [x.lower() for x in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        inner = FORMATS.get(suffixes[-2]) if len(suffixes) > 1 else None
        return inner if inner in ("csv", "jsonl") else None
    return FORMATS.get(path.suffix.lower())


def compression(path: Path) -> str:
    """DuckDB's name of the file's compression: gzip, zstd or none."""
    return COMPRESSIONS.get(path.suffix.lower(), "none")


def skip_reason(path: Path) -> str | None:
    """Why a discovered path is not read (listed as skipped), or None when it is an event file."""
    if path.is_symlink():
        try:
            path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return "symlink loop: the link resolves to itself"
            return f"broken symlink ({exc.strerror})"
        if path.is_dir():
            real, parent = os.path.realpath(path), os.path.realpath(path.parent)
            if parent == real or parent.startswith(real.rstrip(os.sep) + os.sep):
                return f"symlink loop: points to {real}, a directory that contains it"
            return f"a link to the directory {real} (name the directory itself to read it)"
    if not path.is_file():
        return "not a regular file"
    if file_format(path) is None:
        kind = "".join(path.suffixes[-2:]) or path.name
        return f"unknown file type {kind!r}; read are {READABLE}"
    return None


def discover_files(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """Resolve a file, a directory (searched recursively) or a glob into paths, sorted.

    Files of other types, symlink loops and broken links found in a directory or by a glob are
    returned too, to be listed as skipped (skip_reason); a file named on its own must be readable.
    """
    specs = [spec] if isinstance(spec, str | Path) else list(spec)
    found: list[Path] = []
    for item in specs:
        path = Path(item).expanduser()
        if path.is_dir():
            matches = _walk(path)
            if not any(skip_reason(p) is None for p in matches):
                raise IngestError(f"{path}: no event files ({READABLE}) in this directory")
            found.extend(matches)
        elif path.is_file():
            reason = skip_reason(path)
            if reason is not None:
                raise IngestError(f"{path}: {reason}")
            found.append(path)
        elif path.is_symlink() and not glob.has_magic(str(item)):
            raise IngestError(f"{path}: {skip_reason(path)}")
        else:
            matches = [
                Path(p)
                for p in glob.glob(str(path), recursive=True)
                if Path(p).is_file() or Path(p).is_symlink()
            ]
            if not matches:
                raise IngestError(f"{item}: no such file, directory or matching glob")
            found.extend(matches)
    return sorted({_resolved(p) for p in found})


def _walk(root: Path) -> list[Path]:
    """Every non-directory path under root, following directory links but not around a loop:
    a link to a directory it is in is returned itself (skip_reason reports it)."""
    found: list[Path] = []
    stack = [(root, frozenset({os.path.realpath(root)}))]
    while stack:
        directory, ancestors = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                path = Path(entry.path)
                try:
                    is_dir = entry.is_dir()  # follows links; False for broken ones
                except OSError:  # a link that resolves to itself
                    is_dir = False
                if not is_dir:
                    found.append(path)
                    continue
                real = os.path.realpath(path)
                if real in ancestors:
                    found.append(path)
                else:
                    stack.append((path, ancestors | {real}))
    return found


def _resolved(path: Path) -> Path:
    """The resolved path of an event file; links that cannot be resolved keep their own path."""
    if skip_reason(path) is not None and path.is_symlink():
        return path.absolute()
    return path.resolve()


def read_head(path: Path, size: int) -> bytes | None:
    """The first `size` bytes of the file's content (decompressed from gzip); None for zstd,
    which Python cannot decompress here (DuckDB reads it)."""
    kind = compression(path)
    if kind == "zstd":
        return None
    try:
        opener = gzip.open if kind == "gzip" else open
        with opener(path, "rb") as handle:
            return handle.read(size)
    except (OSError, EOFError):
        return None  # not gzip after all: DuckDB's read names the fault


def text_encoding(path: Path) -> str:
    """UTF-16 when the file starts with its byte-order mark, else UTF-8."""
    return "utf-16" if (read_head(path, 2) or b"") in UTF16_BOMS else "utf-8"


def is_blank(con: duckdb.DuckDBPyConnection, path: Path) -> bool:
    """Whether a text file holds nothing but whitespace (an empty export)."""
    if path.stat().st_size == 0:
        return True
    limit = 1 << 20
    head = read_head(path, limit + 1)
    if head is None:
        if compression(path) != "zstd":
            return False
        # Stops at the first line with text; an empty zstd frame has no line at all.
        try:
            lines = con.execute(
                "select count(*) from (select text from read_csv(?, columns = {'text': 'VARCHAR'}, "
                "delim = chr(1), quote = '', escape = '', header = false, auto_detect = false, "
                "strict_mode = false, max_line_size = ?, compression = 'zstd') "
                "where trim(replace(text, chr(0), '')) <> '' limit 1)",
                [str(path), MAX_LINE_BYTES],
            ).fetchone()[0]
        except duckdb.Error:
            return False  # the read that follows names the fault
        return lines == 0
    if len(head) > limit:
        return False
    for bom in (b"\xef\xbb\xbf", *UTF16_BOMS):
        head = head.removeprefix(bom)
    return not head.replace(b"\x00", b"").strip()

"""Atomic writes and checked reads: nothing is ever left half-written."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from dermsynth.errors import DataError, csv_line


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes the file private (0600); give it the mode a plain open() would
    tmp_path.chmod(0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `path`; it replaces `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    # mkdtemp makes the directory private (0700); give it the mode a plain mkdir() would
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table atomically, without the pandas index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def write_json(record: object, path: str | Path) -> None:
    """Write `record` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def save_torch(obj: object, path: str | Path) -> None:
    """`torch.save(obj)` to `path` atomically, the bytes a function of `obj` alone.

    Saved to a path, torch names the zip archive's records after the file, here a randomly
    named temporary one, so two saves of one object would differ; saved to an open file, it
    names them "archive".
    """
    import torch  # not at the top: the workflow's rules import this module, never torch

    with atomic_path(path) as tmp, open(tmp, "wb") as stream:
        torch.save(obj, stream)


def read_table(
    path: str | Path, required: Iterable[str], *, index_col: int | None = None
) -> pd.DataFrame:
    """Read a CSV as strings, and fail naming the file if a required column is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=index_col)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise DataError(path, f"cannot parse as CSV: {err}") from err
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(path, f"missing column(s) {missing}; found columns {list(frame.columns)}")
    return frame.reset_index(drop=True)


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, read in blocks; remembered for the process while the
    file's size and modification time stay the same (a run checks its weights file in
    several places)."""
    stat = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def float_columns(table: pd.DataFrame, columns: Iterable[str], path: str | Path) -> pd.DataFrame:
    """`columns` of a string table (read_table) as floats, '' as NaN; a cell that is not a
    number stops with an error naming the file, line and column."""
    columns = list(columns)
    for column in columns:
        for position, value in enumerate(table[column]):
            try:
                float(value or "nan")
            except ValueError:
                raise DataError(
                    path, f"{column}: not a number: {value!r}", line=csv_line(position)
                ) from None
    return table[columns].replace("", "nan").astype(float)


def image_is_readable(path: str | Path) -> bool:
    """Whether an image file exists and decodes (a shard's resume test: a file cut short by a
    killed job is made again)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (OSError, SyntaxError):
        return False


def human_bytes(count: float | None) -> str:
    """A byte count for people: 1.5 kB, 41.8 GB (powers of 1000); "-" where it is unknown."""
    if count is None:
        return "-"
    size = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"

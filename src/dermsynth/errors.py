"""Errors that name the file and the row or key at fault."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data: the message names the file and, where there is one, the row."""

    def __init__(self, path: str | Path, message: str, *, line: int | None = None) -> None:
        where = f"{path}, line {line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


def csv_line(row_position: int) -> int:
    """The 1-based line of a data row in its CSV file (line 1 is the header)."""
    return row_position + 2

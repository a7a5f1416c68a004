"""The lock file (config/sources.lock.csv): the sha256 and size of every file fetched from a
source that publishes no digest, and the commit a moving revision resolved to, so that a
second user can tell they got the same bytes.

One row per source (a URL, or `hf://<repo>/<file>` for a Hub file): `path` (where it was put,
relative to the workflow directory), `source`, `sha256`, `bytes`, `revision` (the commit the
bytes come from, where the source has commits). A fetch checks a locked file against its row
and records a row for a file it could not check.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from dermsynth.errors import DataError, csv_line
from dermsynth.fetch.download import Digest
from dermsynth.io import atomic_path


@dataclass(frozen=True)
class LockEntry:
    path: str
    source: str
    sha256: str
    bytes: int
    revision: str = ""

    def digest(self) -> Digest:
        return Digest("sha256", self.sha256, "locked")


COLUMNS = [f.name for f in fields(LockEntry)]


class Lock:
    """The lock file's rows by source; `record` writes the file at once (atomically)."""

    def __init__(self, path: str | Path, entries: dict[str, LockEntry] | None = None) -> None:
        self.path = Path(path)
        self.entries = dict(entries or {})

    @classmethod
    def load(cls, path: str | Path) -> Lock:
        """The lock file at `path`; an empty lock where there is none yet."""
        path = Path(path)
        if not path.is_file():
            return cls(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        entries = {}
        for position, row in enumerate(rows):
            if set(COLUMNS) - set(row):
                raise DataError(path, f"columns must be {COLUMNS}", line=1)
            try:
                entry = LockEntry(**{**row, "bytes": int(row["bytes"])})
            except ValueError:
                raise DataError(path, "bytes is not a number", line=csv_line(position)) from None
            if entry.source in entries:
                raise DataError(path, f"{entry.source} is locked twice", line=csv_line(position))
            entries[entry.source] = entry
        return cls(path, entries)

    def get(self, source: str, revision: str = "") -> LockEntry | None:
        """The row of `source`, if its revision is `revision` (a row for other bytes is none)."""
        entry = self.entries.get(source)
        return entry if entry is not None and entry.revision == revision else None

    def revision(self, source_prefix: str) -> str | None:
        """The revision of the rows whose source starts with `source_prefix` (one repository),
        None where there are none or they disagree."""
        revisions = {e.revision for s, e in self.entries.items() if s.startswith(source_prefix)}
        return revisions.pop() if len(revisions) == 1 else None

    def rows(self, source_prefix: str) -> list[LockEntry]:
        return [e for s, e in self.entries.items() if s.startswith(source_prefix)]

    def record(self, *entries: LockEntry) -> None:
        for entry in entries:
            self.entries[entry.source] = entry
        self.save()

    def save(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as stream:
            writer = csv.DictWriter(stream, COLUMNS, lineterminator="\n")
            writer.writeheader()
            for entry in sorted(self.entries.values(), key=lambda e: (e.path, e.source)):
                writer.writerow(asdict(entry))

"""dermsynth.fetch.lock, and config/sources.lock.csv as the repository ships it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from prerequisites import require

from dermsynth.errors import DataError
from dermsynth.fetch.lock import Lock, LockEntry

CONFIG = Path(__file__).resolve().parents[1] / "config"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "synderm"


def test_a_lock_is_written_sorted_and_read_back(tmp_path):
    lock = Lock(tmp_path / "sources.lock.csv")
    second = LockEntry("b/file", "https://example.org/b", "b" * 64, 2, "")
    first = LockEntry("a/file", "hf://org/name/a", "a" * 64, 1, "1" * 40)
    lock.record(second, first)

    text = (tmp_path / "sources.lock.csv").read_text()
    assert text.splitlines()[0] == "path,source,sha256,bytes,revision"
    assert text.splitlines()[1].startswith("a/file,")
    again = Lock.load(tmp_path / "sources.lock.csv")
    assert again.entries == lock.entries
    assert again.get("hf://org/name/a", "1" * 40) == first
    assert again.get("hf://org/name/a", "2" * 40) is None  # a row for other bytes
    assert again.revision("hf://org/name/") == "1" * 40


def test_a_source_locked_twice_is_refused_naming_the_line(tmp_path):
    row = "p,https://example.org/x," + "a" * 64 + ",1,\n"
    (tmp_path / "lock.csv").write_text("path,source,sha256,bytes,revision\n" + row + row)
    with pytest.raises(DataError, match="lock.csv, line 3: https://example.org/x is locked twice"):
        Lock.load(tmp_path / "lock.csv")


def test_every_row_of_the_shipped_lock_is_a_source_of_the_sources_file():
    sources = yaml.safe_load((CONFIG / "sources.yaml").read_text())
    items = [entry["csv"] for entry in sources.values() if "csv" in entry]
    items += [i for entry in sources.values() if entry["kind"] == "url" for i in entry["files"]]
    urls = {item["url"]: str(item.get("revision", "")) for item in items}
    lock = Lock.load(CONFIG / "sources.lock.csv")
    assert lock.entries
    for source, entry in lock.entries.items():
        assert urls.get(source) == entry.revision, source


def test_the_locked_split_files_are_the_authors_released_bytes():
    require(FIXTURES.is_dir(), f"the authors' split files in {FIXTURES}")
    lock = Lock.load(CONFIG / "sources.lock.csv")
    for name in (
        "fitzpatrick17k_10label_clean_training.csv",
        "fitzpatrick17k_10label_clean_held_out_set.csv",
    ):
        entry = next(e for e in lock.entries.values() if e.path.endswith(name))
        data = (FIXTURES / name).read_bytes()
        assert (entry.sha256, entry.bytes) == (hashlib.sha256(data).hexdigest(), len(data))

"""A Hugging Face Hub model repository at one commit, as a diffusers folder.

huggingface_hub's `snapshot_download` puts the files matching `allow_patterns` in the folder;
then every file is checked against what the Hub publishes for that commit (the LFS sha256 of
a large file, the git blob id of a small one) and against the lock file, and its sha256 is
locked with the commit, so that a later fetch asks for that same commit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dermsynth.fetch.download import CHUNK, DigestMismatch, file_digests
from dermsynth.fetch.lock import Lock, LockEntry

if TYPE_CHECKING:
    from huggingface_hub.hf_api import RepoFile

COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Snapshot:
    """The folder of `repo_id` at `commit`: `status` fetched (the Hub was asked), or verified
    (every locked file there, with its locked sha256, and nothing asked); `check` published
    or locked; `recorded` the files newly locked."""

    path: Path
    commit: str
    status: str
    files: int
    bytes: int
    check: str
    recorded: int


def source_prefix(repo_id: str) -> str:
    return f"hf://{repo_id}/"


def git_blob_id(path: Path) -> str:
    """Git's object id of a file (sha1 of "blob <size>\\0" and its bytes), as the Hub lists it."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_snapshot(
    repo_id: str,
    dest: str | Path,
    *,
    revision: str,
    allow_patterns: Sequence[str],
    lock: Lock,
    lock_path_of: Callable[[Path], str] = str,
    endpoint: str | None = None,
) -> Snapshot:
    """`repo_id` at `revision` in `dest`. A branch or tag name is resolved once: the commit the
    lock file holds for the repository is used where there is one. `lock_path_of(path)` is how
    a file's path is written in the lock file (relative to the workflow directory)."""
    dest = Path(dest)
    prefix = source_prefix(repo_id)
    commit = revision if COMMIT.fullmatch(revision) else lock.revision(prefix)
    locked = [e for e in lock.rows(prefix) if e.revision == commit] if commit else []
    if locked and all(_has_locked_bytes(dest, prefix, e) for e in locked):
        size = sum(e.bytes for e in locked)
        return Snapshot(dest, commit, "verified", len(locked), size, "locked", 0)

    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.hf_api import RepoFile
    from huggingface_hub.utils import filter_repo_objects

    api = HfApi(endpoint=endpoint)
    if commit is None:
        commit = api.repo_info(repo_id, revision=revision).sha
    snapshot_download(
        repo_id,
        revision=commit,
        local_dir=dest,
        allow_patterns=list(allow_patterns),
        endpoint=endpoint,
    )
    tree = {
        f.path: f
        for f in api.list_repo_tree(repo_id, revision=commit, recursive=True)
        if isinstance(f, RepoFile)
    }
    wanted = list(filter_repo_objects(tree, allow_patterns=list(allow_patterns)))
    if not wanted:
        raise FileNotFoundError(f"{repo_id}@{commit}: no file matches {list(allow_patterns)}")
    new_rows = []
    for name in sorted(wanted):
        path = dest / name
        sha256 = file_digests(path, ["sha256"])["sha256"]
        row = lock.get(prefix + name, commit)
        expected = _mismatch(path, sha256, tree[name], row)
        if expected:
            path.unlink()  # the next fetch downloads it again
            raise DigestMismatch(
                f"{path} ({repo_id}@{commit}): digest mismatch: expected {expected}, "
                f"got sha256 {sha256}; the file was deleted"
            )
        if row is None:
            size = path.stat().st_size
            new_rows.append(LockEntry(lock_path_of(path), prefix + name, sha256, size, commit))
    if new_rows:  # only a whole, checked snapshot is locked
        lock.record(*new_rows)
    size = sum((dest / name).stat().st_size for name in wanted)
    recorded = len(new_rows)
    return Snapshot(dest, commit, "fetched", len(wanted), size, "published", recorded)


def _mismatch(path: Path, sha256: str, entry: RepoFile, row: LockEntry | None) -> str | None:
    """What the file at `path` should have been, where it is not (None where it is)."""
    if entry.lfs is not None and entry.lfs.sha256 != sha256:
        return f"sha256 {entry.lfs.sha256} (published)"
    if entry.lfs is None and git_blob_id(path) != entry.blob_id:
        return f"git blob id {entry.blob_id} (published)"
    if row is not None and row.sha256 != sha256:
        return f"sha256 {row.sha256} (locked)"
    return None


def _has_locked_bytes(dest: Path, prefix: str, entry: LockEntry) -> bool:
    path = dest / entry.source.removeprefix(prefix)
    if not path.is_file() or path.stat().st_size != entry.bytes:
        return False
    return file_digests(path, ["sha256"])["sha256"] == entry.sha256

"""One URL to one file, resumable and checked: bytes stream to `<dest>.part`, a cut transfer
resumes with an HTTP Range request, connection errors and 5xx answers are retried with
exponential backoff, and the file is renamed into place only after its digests match.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

CHUNK = 1 << 16  # a cut loses at most the block being read
TIMEOUT_S = (15, 120)  # connect, and between two reads
ORIGINS = ("published", "locked")  # where a known digest comes from, the stronger first
# the raw bytes, never a re-encoded body (requests would gunzip a gzip Content-Encoding)
PLAIN_HEADERS = {"Accept-Encoding": "identity", "User-Agent": "dermsynth-fetch"}


class FetchError(RuntimeError):
    """A download that failed; the message names the URL and the destination. `status` is the
    HTTP status of the answer that ended it, None for a connection that failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DigestMismatch(FetchError):
    """The bytes that arrived are not the bytes expected: nothing was put at the destination."""


class _Transient(Exception):
    """Worth another try: a transfer cut short, a 5xx or 429 answer (`status`)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# a body cut short surfaces as requests' ChunkedEncodingError (urllib3's IncompleteRead)
TRANSIENT = (
    _Transient,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclass(frozen=True)
class Digest:
    """A digest a file must have: hashlib's `algorithm`, the hex `value` (its first characters
    only where `prefix`), and where it comes from (`published` or `locked`)."""

    algorithm: str
    value: str
    origin: str
    prefix: bool = False

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, not {self.origin!r}")

    def matches(self, hexdigest: str) -> bool:
        value = self.value.lower()
        return hexdigest.startswith(value) if self.prefix else hexdigest == value

    def describe(self) -> str:
        return f"{self.algorithm} {self.value}{'...' if self.prefix else ''} ({self.origin})"


@dataclass(frozen=True)
class Retry:
    """`attempts` tries in all; before try k+1 wait `backoff_s` x 2^(k-1) seconds."""

    attempts: int = 6
    backoff_s: float = 1.0

    def wait(self, attempt: int) -> None:
        time.sleep(self.backoff_s * 2 ** (attempt - 1))


DEFAULT_RETRY = Retry()


@dataclass(frozen=True)
class Outcome:
    """One file at its destination: `status` fetched (downloaded now), verified (there already,
    with the expected digest) or present (there already, no digest known to check); `check`
    the strongest origin of the digests it matched ("" when none was known)."""

    path: Path
    status: str
    bytes: int
    sha256: str
    check: str


def file_digests(path: str | Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of a file's bytes, every algorithm in one read."""
    hashes = {name: hashlib.new(name) for name in set(algorithms)}
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(CHUNK), b""):
            for digest in hashes.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def check_digests(path: Path, expected: Sequence[Digest], *, label: str) -> tuple[str, str]:
    """The file's sha256 and the strongest origin among `expected` (all must match); a
    mismatch raises DigestMismatch naming `label`, the expected and the actual digest."""
    found = file_digests(path, ["sha256", *(d.algorithm for d in expected)])
    for digest in expected:
        if not digest.matches(found[digest.algorithm]):
            raise DigestMismatch(
                f"{label}: digest mismatch: expected {digest.describe()}, "
                f"got {digest.algorithm} {found[digest.algorithm]}"
            )
    origins = {d.origin for d in expected}
    return found["sha256"], next((o for o in ORIGINS if o in origins), "")


def fetch_url(
    url: str,
    dest: str | Path,
    expected: Sequence[Digest] = (),
    *,
    session: requests.Session | None = None,
    retry: Retry = DEFAULT_RETRY,
    progress: bool = True,
) -> Outcome:
    """Put the bytes at `url` at `dest`, unless a file with the expected digests is there."""
    dest = Path(dest)
    if dest.is_file():
        try:
            sha256, check = check_digests(dest, expected, label=str(dest))
            status = "verified" if check else "present"
            return Outcome(dest, status, dest.stat().st_size, sha256, check)
        except DigestMismatch as mismatch:
            log.warning("%s; downloading it again", mismatch)
    sha256, check = download(url, dest, expected, session=session, retry=retry, progress=progress)
    return Outcome(dest, "fetched", dest.stat().st_size, sha256, check)


def download(
    url: str,
    dest: str | Path,
    expected: Sequence[Digest] = (),
    *,
    session: requests.Session | None = None,
    retry: Retry = DEFAULT_RETRY,
    progress: bool = True,
) -> tuple[str, str]:
    """Download `url` to `dest` through `<dest>.part`, resuming a `.part` left by an earlier
    try; check `expected` after the last byte (a mismatch deletes the `.part`) and only then
    rename it to `dest`. Returns its sha256 and the strongest origin of `expected`."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    session = session or requests.Session()
    for attempt in range(1, retry.attempts + 1):
        try:
            _transfer(url, dest, part, session, progress)
            break
        except TRANSIENT as error:
            if attempt == retry.attempts:
                raise FetchError(
                    f"{url} -> {dest}: gave up after {attempt} tries: {error}",
                    status=getattr(error, "status", None),
                ) from error
            log.warning("%s: %s; try %d of %d", url, error, attempt + 1, retry.attempts)
            retry.wait(attempt)
    try:
        found = check_digests(part, expected, label=f"{dest} (from {url})")
    except DigestMismatch:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return found


def _transfer(url: str, dest: Path, part: Path, session: requests.Session, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = dict(PLAIN_HEADERS)
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, stream=True, headers=headers, timeout=TIMEOUT_S) as response:
        status = response.status_code
        if status == 416 and have:
            if _content_range_total(response.headers.get("Content-Range")) == have:
                return  # the .part already holds every byte
            part.unlink()
            raise _Transient("the server refused the resume range; starting over")
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status} {response.reason}", status=status)
        if status >= 400:
            raise FetchError(f"HTTP {status} {response.reason}: {url} (for {dest})", status=status)
        if status == 206:
            if _content_range_start(response.headers.get("Content-Range")) != have:
                part.unlink(missing_ok=True)
                raise _Transient("the server answered another range; starting over")
            mode, start = "ab", have
        else:  # 200: the whole file, whatever range was asked for
            mode, start = "wb", 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        with (
            open(part, mode) as out,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=not progress,
                leave=False,
            ) as bar,
        ):
            for block in response.iter_content(CHUNK):
                out.write(block)
                bar.update(len(block))
    if total is not None and part.stat().st_size != total:
        raise _Transient(f"got {part.stat().st_size} of {total} bytes")


def _content_range_start(value: str | None) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    return int(match.group(1)) if match else None


def _content_range_total(value: str | None) -> int | None:
    match = re.fullmatch(r"bytes (?:\*|\d+-\d+)/(\d+)", value or "")
    return int(match.group(1)) if match else None

"""Synthetic images stored as WebDataset tar shards, in the layout paper 2's authors released
theirs (Hugging Face `tbuckley/synthetic-derm-1M`, written by `huggingface/compile_webdataset.py`
of GitHub `manrai/synthetic-derm` with webdataset's `TarWriter`): one sample per image, members
`<key>.json` then `<key>.png` (`TarWriter.write` adds a sample's members in sorted order), mode
0444, owner and group `bigdata`, uid and gid 0, tarfile's default format (POSIX.1-2001 pax:
`TarWriter` opens its tar without a format, so a member name longer than ustar's 100 characters,
as the authors' keys are, gets a pax header). Ours differ in the modification time only: a fixed
one instead of the time of writing (a float, which pax records per member), so the same images
give the same tar bytes.

One reference names an image wherever a table lists one: `<path/to/shard.tar>#<member>`, e.g.
`results/synthetic/sd/.../shard-0.tar#abc_000.png`; a plain path is a file. `read_member` reads
one member through an index of member offsets (tarfile's `offset_data`), built once per tar and
process; `iter_samples` streams a tar's samples in order. Nothing is unpacked to loose files.
"""

from __future__ import annotations

import functools
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

from dermsynth.errors import DataError
from dermsynth.io import atomic_path

REF_MARK = ".tar#"  # a reference is the tar's path, '#', the member's name
OWNER = "bigdata"  # webdataset TarWriter's default user and group, as in the authors' shards
MODE = 0o444  # webdataset TarWriter's default member mode
MTIME = 0  # fixed, so that a tar's bytes depend on its samples alone

# a member's bytes, a file to copy them from, or a function that reads them (from an older tar)
Member = bytes | str | Path | Callable[[], bytes]


class Sample(NamedTuple):
    """One WebDataset sample: its key and its members' bytes by extension (`png`, `json`;
    None for a member left unread)."""

    key: str
    members: dict[str, bytes | None]


def image_ref(tar: str | Path, member: str) -> str:
    """The reference of member `member` of shard `tar`: `<tar>#<member>`."""
    return f"{tar}#{member}"


def split_ref(ref: str | Path) -> tuple[str, str] | None:
    """(tar, member) of a tar reference; None for a plain path."""
    text = str(ref)
    at = text.rfind(REF_MARK)
    if at < 0:
        return None
    return text[: at + len(REF_MARK) - 1], text[at + len(REF_MARK) :]


def member_name(key: str, extension: str) -> str:
    return f"{key}.{extension}"


def check_key(key: str) -> None:
    """A WebDataset key: a sample's members are `<key>.<ext>`, and readers split a member's name
    at the first dot of its base name, so a key has none (nor a slash, nor a '#')."""
    if not key or any(c in key for c in "./#\\") or key != key.strip():
        raise ValueError(f"sample key {key!r}: no dots, slashes, '#' or surrounding spaces")


def write_tar(path: str | Path, samples: Iterable[tuple[str, Mapping[str, Member]]]) -> Path:
    """Write `samples` ((key, {extension: `Member`})) as one WebDataset tar at `path`,
    atomically (a temporary file beside it, renamed on success). Samples are sorted by key and
    a sample's members by extension; headers as webdataset's `TarWriter` writes them, with a
    fixed time: the same samples give the same bytes. Returns the path."""
    path = Path(path)
    ordered = sorted(((key, dict(members)) for key, members in samples), key=lambda s: s[0])
    keys = [key for key, _ in ordered]
    for key in keys:
        check_key(key)
    if len(set(keys)) != len(keys):
        duplicated = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"{path}: sample key {duplicated!r} given twice")
    with atomic_path(path) as tmp, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for key, members in ordered:
            for extension in sorted(members):
                _add(tar, member_name(key, extension), members[extension])
    return path


def _add(tar: tarfile.TarFile, name: str, member: Member) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = MODE, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = OWNER
    if callable(member):
        member = member()
    if isinstance(member, bytes | bytearray):
        info.size = len(member)
        tar.addfile(info, io.BytesIO(member))
    else:
        info.size = Path(member).stat().st_size
        with open(member, "rb") as stream:
            tar.addfile(info, stream)


def json_member(record: Mapping[str, object]) -> bytes:
    """A sample's `.json` member as the authors' `copy_images_to_webdataset.py` writes it:
    `json.dump` with its default separators, keys in the given order (numpy scalars as their
    Python values)."""
    return json.dumps(dict(record), default=_plain).encode("utf-8")


def _plain(value: object) -> object:
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def member_index(tar: str | Path) -> dict[str, tuple[int, int]]:
    """Member name -> (offset of its data, size) in shard `tar`, read once per process while
    the file's size and modification time stay the same. A missing or unreadable shard is an
    error naming it."""
    path = Path(tar)
    try:
        stat = path.stat()
    except OSError:
        raise DataError(path, "WebDataset shard not found") from None
    return _member_index(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _member_index(path: str, size: int, mtime_ns: int) -> dict[str, tuple[int, int]]:
    try:
        with tarfile.open(path, "r:") as tar:
            return {info.name: (info.offset_data, info.size) for info in tar if info.isfile()}
    except tarfile.TarError as err:
        raise DataError(path, f"not a readable tar: {err}") from err


def has_member(tar: str | Path, member: str) -> bool:
    """Whether shard `tar` exists and holds `member`."""
    return Path(tar).is_file() and member in member_index(tar)


def read_member(tar: str | Path, member: str) -> bytes:
    """The bytes of one member of a shard, read at its offset; a missing shard or member is an
    error naming the shard and the member."""
    where = member_index(tar).get(member)
    if where is None:
        raise DataError(image_ref(tar, member), f"no member {member!r} in shard {tar}")
    offset, size = where
    with open(tar, "rb") as stream:
        stream.seek(offset)
        data = stream.read(size)
    if len(data) != size:
        raise DataError(image_ref(tar, member), f"shard {tar} is cut short")
    return data


def read_ref(ref: str | Path) -> bytes:
    """The bytes a reference names: a tar member, or a plain file."""
    parts = split_ref(ref)
    if parts is None:
        return Path(ref).read_bytes()
    return read_member(*parts)


def iter_samples(tar: str | Path, read: Collection[str] | None = None) -> Iterator[Sample]:
    """The samples of a shard in stored order: members with the same key (the name up to the
    first dot of its base name, as webdataset groups them) in a row make one sample. Members of
    the extensions in `read` (None: all) are read, the others listed with None and skipped
    unread (the index of a released folder reads the json members only)."""
    path = Path(tar)
    if not path.is_file():
        raise DataError(path, "WebDataset shard not found")
    current: Sample | None = None
    try:
        with tarfile.open(path, "r:") as stream:
            for info in stream:
                if not info.isfile():
                    continue
                folder, _, base = info.name.rpartition("/")
                stem, dot, extension = base.partition(".")
                if not dot:
                    raise DataError(path, f"member {info.name!r} has no extension")
                key = f"{folder}/{stem}" if folder else stem
                if current is None or current.key != key:
                    if current is not None:
                        yield current
                    current = Sample(key, {})
                wanted = read is None or extension in read
                current.members[extension] = stream.extractfile(info).read() if wanted else None
    except tarfile.TarError as err:
        raise DataError(path, f"not a readable tar: {err}") from err
    if current is not None:
        yield current


def work_folder(tar: str | Path) -> Path:
    """Where a shard's images lie loose while it is made (default: `<shard>.work` beside it)."""
    tar = Path(tar)
    return tar.with_name(f"{tar.stem}.work")


def loose_folder(tar: str | Path) -> Path:
    """Where a finished shard's PNGs are kept for looking at, with `loose_png`: `<shard>/`."""
    tar = Path(tar)
    return tar.with_name(tar.stem)


def pack_shard(
    tar: str | Path,
    work: str | Path,
    records: Mapping[str, Mapping[str, object]],
    *,
    loose_png: bool = False,
) -> Path:
    """Pack a made shard into one WebDataset tar: for each key of `records`, its image
    (`<key>.png` of the work folder, else the member of the tar already there, which a rerun of
    a finished shard reuses) and its record as the `<key>.json` member. The tar is written
    atomically; then the work folder is removed, or with `loose_png` kept as `loose_folder`."""
    tar, work = Path(tar), Path(work)
    samples = []
    for key, record in records.items():
        name = member_name(key, "png")
        if (work / name).is_file():
            image: Member = work / name
        elif has_member(tar, name):
            image = functools.partial(read_member, tar, name)
        else:
            raise DataError(work / name, f"image of shard {tar} missing")
        samples.append((key, {"png": image, "json": json_member(record)}))
    write_tar(tar, samples)
    loose = loose_folder(tar)
    if loose_png:
        if loose.exists():
            shutil.rmtree(loose)
        if work.is_dir():
            shutil.move(work, loose)
    elif work.is_dir():
        shutil.rmtree(work)
    return tar

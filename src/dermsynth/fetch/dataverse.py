"""Files of a Dataverse dataset (HAM10000: Harvard Dataverse, doi:10.7910/DVN/DBW86T).

The dataset's file listing comes from Dataverse's Native API
(`/api/datasets/:persistentId/versions/<version>/files?persistentId=<doi>`), each file from
its Data Access API (`/api/access/datafile/<id>`, with `format=original` for a tabular file
Dataverse ingested, so that the bytes are the ones uploaded), checked against the checksum the
listing publishes (for an ingested tabular file, that of its saved original). An image archive
is unpacked into one flat folder, as ingestion reads it.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import requests

from dermsynth.errors import DataError
from dermsynth.fetch.download import TIMEOUT_S, Digest, FetchError
from dermsynth.io import atomic_directory

# Dataverse's checksum types -> hashlib's names
CHECKSUM_TYPES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


@dataclass(frozen=True)
class DataverseFile:
    """One file of a dataset version: its database `id`, the names it goes by (label, stored
    name, original name), the checksum Dataverse publishes, and whether it is an ingested
    tabular file (whose original is asked for)."""

    id: int
    names: tuple[str, ...]
    checksum: Digest | None
    tabular: bool

    def url(self, server: str) -> str:
        url = f"{server.rstrip('/')}/api/access/datafile/{self.id}"
        return url + "?format=original" if self.tabular else url

    def answers_to(self, name: str) -> bool:
        """A name as the dataset's page shows it, with or without its extension (an ingested
        table is listed as `.tab` and was uploaded under another)."""
        return any(name in (n, PurePosixPath(n).stem) for n in self.names)


def list_files(
    server: str, persistent_id: str, version: str, session: requests.Session
) -> list[DataverseFile]:
    """The files of the dataset `persistent_id` (e.g. doi:10.7910/DVN/DBW86T) at `version`
    (e.g. :latest-published)."""
    url = (
        f"{server.rstrip('/')}/api/datasets/:persistentId/versions/{quote(version, safe=':.')}"
        f"/files?persistentId={quote(persistent_id, safe=':/')}"
    )
    try:
        response = session.get(url, timeout=TIMEOUT_S)
    except requests.RequestException as error:
        raise FetchError(f"{url}: {error}") from error
    if response.status_code != 200:
        raise FetchError(f"HTTP {response.status_code} {response.reason}: {url}")
    files = []
    for item in response.json()["data"]:
        data = item["dataFile"]
        names = (item.get("label"), data.get("filename"), data.get("originalFileName"))
        checksum = data.get("checksum")
        if checksum is None and data.get("md5"):  # Dataverse before 4.x's checksum object
            checksum = {"type": "MD5", "value": data["md5"]}
        digest = None
        if checksum and checksum["type"] in CHECKSUM_TYPES:
            digest = Digest(CHECKSUM_TYPES[checksum["type"]], checksum["value"], "published")
        files.append(
            DataverseFile(
                id=int(data["id"]),
                names=tuple(n for n in names if n),
                checksum=digest,
                tabular=bool(data.get("originalFileFormat")),
            )
        )
    return files


def find_file(files: list[DataverseFile], name: str, where: str) -> DataverseFile:
    found = [f for f in files if f.answers_to(name)]
    if len(found) != 1:
        listed = sorted({n for f in files for n in f.names})
        what = "no file" if not found else f"{len(found)} files"
        raise FetchError(f"{where}: {what} named {name!r}; the dataset lists {listed}")
    return found[0]


def unpack_flat(archive: str | Path, folder: str | Path) -> int:
    """Every file of the zip `archive` into `folder`, by its name alone (ingestion reads one
    flat folder); `folder` appears only when all are out. Returns how many."""
    archive = Path(archive)
    count = 0
    with zipfile.ZipFile(archive) as zipped, atomic_directory(folder) as tmp:
        for info in zipped.infolist():
            name = PurePosixPath(info.filename).name
            if info.is_dir() or name.startswith(".") or "__MACOSX" in info.filename:
                continue
            target = tmp / name
            if target.exists():
                raise DataError(archive, f"two files named {name}: cannot unpack into one folder")
            with zipped.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
            count += 1
    return count

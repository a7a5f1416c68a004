"""Fitzpatrick17k's images, one per CSV row from the atlas page its `url` column names, saved
as `<md5hash>.jpg` in the folder ingestion reads.

Requests run `jobs` at a time, each resumable and retried with backoff on connection errors
and 5xx answers (dermsynth.fetch.download); a 404 or another 4xx is final. What could not be
had is listed in `missing.csv` (md5hash, url, reason), written anew at every run; a rerun
skips the images already there and tries the others again. Ingestion's `missing_images: skip`
takes over from there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import requests
from tqdm.auto import tqdm

from dermsynth.fetch.download import DEFAULT_RETRY, FetchError, Retry, download
from dermsynth.io import image_is_readable, read_table, write_csv

log = logging.getLogger(__name__)

MISSING_COLUMNS = ["md5hash", "url", "reason"]


@dataclass(frozen=True)
class Images:
    """One run over the CSV's rows: images `fetched` now, already `present`, and `missing`
    (a table of MISSING_COLUMNS); `bytes` of the images fetched now."""

    fetched: int
    present: int
    missing: pd.DataFrame
    bytes: int


def fetch_images(
    csv_path: str | Path,
    folder: str | Path,
    missing_csv: str | Path,
    *,
    labels: Collection[str] | None = None,
    jobs: int = 8,
    retry: Retry = DEFAULT_RETRY,
    progress: bool = True,
) -> Images:
    """The image of every row of `csv_path` (of `labels` only, where given) in `folder`."""
    rows = read_table(csv_path, ["md5hash", "label", "url"])
    if labels is not None:
        rows = rows[rows["label"].isin(set(labels))]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sessions = threading.local()

    def one(md5hash: str, url: str) -> tuple[str, str, int]:
        """(status, reason, bytes): status present, fetched or missing."""
        dest = folder / f"{md5hash}.jpg"
        if dest.is_file() and image_is_readable(dest):
            return "present", "", 0
        if not url.strip():
            return "missing", "no url in the CSV", 0
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        try:
            download(url, dest, session=sessions.session, retry=retry, progress=False)
        except FetchError as error:
            reason = f"HTTP {error.status}" if error.status else str(error)
            return "missing", reason, 0
        if not image_is_readable(dest):
            dest.unlink()
            return "missing", "not an image", 0
        return "fetched", "", dest.stat().st_size

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(
            tqdm(
                pool.map(one, rows["md5hash"], rows["url"]),
                total=len(rows),
                desc="Fitzpatrick17k images",
                unit="image",
                disable=not progress,
            )
        )
    status = pd.Series([r[0] for r in results], index=rows.index)
    missing = rows.loc[status == "missing", ["md5hash", "url"]].assign(
        reason=[r[1] for r in results if r[0] == "missing"]
    )
    write_csv(missing[MISSING_COLUMNS], missing_csv)
    return Images(
        fetched=int((status == "fetched").sum()),
        present=int((status == "present").sum()),
        missing=missing.reset_index(drop=True),
        bytes=sum(r[2] for r in results),
    )

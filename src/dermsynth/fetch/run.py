"""`dermsynth fetch`: every external input of a config, put where the config reads it.

Each entry of the sources file is fetched by its kind: plain URLs (dermsynth.fetch.download),
Hub repositories (dermsynth.fetch.hub), a Dataverse dataset (dermsynth.fetch.dataverse), the
Fitzpatrick17k CSV and its images (dermsynth.fetch.fitzpatrick), or nothing (`manual`: where
to ask for it). One row per destination says what happened; a failure fails its row only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import requests

from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.errors import DataError
from dermsynth.fetch.dataverse import DataverseFile, find_file, list_files, unpack_flat
from dermsynth.fetch.download import Digest, FetchError, Outcome, Retry, fetch_url
from dermsynth.fetch.fitzpatrick import fetch_images
from dermsynth.fetch.hub import fetch_snapshot
from dermsynth.fetch.lock import Lock, LockEntry
from dermsynth.fetch.sources import destination, load_sources, names_for
from dermsynth.io import human_bytes

DEFAULT_SOURCES = "config/sources.yaml"


@dataclass(frozen=True)
class Row:
    """One destination: `status` fetched / present / verified / manual / missing N / failed:
    reason; `check` the digest it was checked against (published, locked), recorded-new (its
    sha256 was added to the lock file), or "-"."""

    what: str
    destination: str
    status: str
    bytes: int | None = None
    check: str = "-"

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")


@dataclass
class Fetch:
    """What every fetcher shares: the workflow directory, the merged config, the lock file,
    the settings, and notes to print under the summary."""

    workdir: Path
    config: Mapping
    lock: Lock
    jobs: int = 8
    retry: Retry = field(default_factory=Retry)
    progress: bool = True
    session: requests.Session = field(default_factory=requests.Session)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False  # list each destination as present or to fetch; nothing downloads

    def path(self, dest: str | Path) -> Path:
        return self.workdir / dest

    def attempt(self, what: str, dest: str | Path, fetch: Callable[[], Row]) -> Row:
        """`fetch()`'s row, or a failed row saying why; in a dry run, whether `dest` is there."""
        if self.dry_run:
            return Row(what, str(dest), "present" if self.path(dest).exists() else "to fetch")
        return attempt(what, dest, fetch)

    def lock_path(self, path: Path) -> str:
        """How the lock file writes a path: relative to the workflow directory where inside."""
        try:
            return str(PurePosixPath(Path(path).resolve().relative_to(self.workdir.resolve())))
        except ValueError:
            return str(path)


def lock_file_for(sources: str | Path) -> Path:
    """config/sources.yaml -> config/sources.lock.csv."""
    sources = Path(sources)
    return sources.with_name(f"{sources.stem}.lock.csv")


def fetch_inputs(
    workdir: str | Path,
    config: Mapping,
    asked: Sequence[str] = (),
    *,
    sources: str | Path = DEFAULT_SOURCES,
    lock: str | Path | None = None,
    jobs: int = 8,
    retry: Retry | None = None,
    progress: bool = True,
    dry_run: bool = False,
) -> tuple[list[Row], list[str]]:
    """Fetch what `asked` names (groups or sources entries; all when empty) to where `config`
    reads it. Returns the summary's rows and the notes to print under it. A dry run only says
    which destinations are there and which a fetch would download."""
    workdir = Path(workdir)
    sources_path = workdir / sources
    entries = load_sources(sources_path)
    state = Fetch(
        workdir=workdir,
        config=config,
        lock=Lock.load(workdir / lock if lock else lock_file_for(sources_path)),
        jobs=jobs,
        retry=retry or Retry(),
        progress=progress,
        dry_run=dry_run,
    )
    rows: list[Row] = []
    for name in names_for(asked, entries):
        entry = entries[name]
        found = FETCHERS[entry["kind"]](name, entry, state)
        if not found and asked:
            state.notes.append(f"{name}: this config reads nothing from outside (see its `dest`)")
        rows += found
    return rows, state.notes


def attempt(what: str, dest: str | Path, fetch: Callable[[], Row]) -> Row:
    """`fetch()`'s row, or a failed row saying why."""
    try:
        return fetch()
    except Exception as error:  # one input failing stops none of the others
        reason = str(error).splitlines()[0] if str(error) else ""
        if not isinstance(error, FetchError | DataError | OSError):  # say what kind of error
            reason = f"{type(error).__name__}: {reason}"
        return Row(what, str(dest), f"failed: {reason}")


def url_file(what: str, item: Mapping, dest: str, state: Fetch) -> Row:
    """One file from a URL, checked against what the sources file publishes and the lock file
    holds; a file downloaded with no full digest known is locked. A file found in place with
    nothing to check it against is left unchecked and unlocked: its bytes may be anyone's."""
    url, revision = item["url"], str(item.get("revision", ""))
    expected = []
    if item.get("sha256"):
        expected.append(Digest("sha256", item["sha256"], "published"))
    if item.get("sha256_prefix"):
        expected.append(Digest("sha256", item["sha256_prefix"], "published", prefix=True))
    locked = state.lock.get(url, revision)
    if locked is not None:
        expected.append(locked.digest())
    outcome = fetch_url(
        url,
        state.path(dest),
        expected,
        session=state.session,
        retry=state.retry,
        progress=state.progress,
    )
    check = outcome.check
    if outcome.status == "fetched" and locked is None and not item.get("sha256"):
        # bytes from the source itself (not a file found in place) that no full digest named
        state.lock.record(LockEntry(dest, url, outcome.sha256, outcome.bytes, revision))
        check = check or "recorded-new"
    return Row(what, dest, outcome.status, outcome.bytes, check or "-")


def fetch_urls(name: str, entry: Mapping, state: Fetch) -> list[Row]:
    rows, seen = [], set()
    for item in entry["files"]:
        dest = destination(state.config, item["dest"])
        if dest is None:
            continue
        if item.get("name"):  # the config names the folder
            dest = str(PurePosixPath(dest) / item["name"])
        if dest in seen:
            continue
        seen.add(dest)
        what = f"{name} {PurePosixPath(item['url']).name}"
        rows.append(
            state.attempt(what, dest, lambda w=what, i=item, d=dest: url_file(w, i, d, state))
        )
    return rows


def fetch_hub(name: str, entry: Mapping, state: Fetch) -> list[Row]:
    from dermsynth.sd.load import check_folder

    rows = []
    for repo in entry["repos"]:
        dest = destination(state.config, repo["dest"])
        if dest is None:
            continue

        def one(repo: Mapping = repo, dest: str = dest) -> Row:
            snapshot = fetch_snapshot(
                repo["repo"],
                state.path(dest),
                revision=str(repo.get("revision", "main")),
                allow_patterns=repo["allow_patterns"],
                lock=state.lock,
                lock_path_of=state.lock_path,
                endpoint=entry.get("endpoint"),
            )
            if repo.get("pipeline"):
                check_folder(state.path(dest), repo["pipeline"])
            what = f"{name} {repo['repo']}@{snapshot.commit[:7]} ({snapshot.files} files)"
            return Row(what, dest, snapshot.status, snapshot.bytes, snapshot.check)

        rows.append(state.attempt(f"{name} {repo['repo']}", dest, one))
    return rows


def fetch_dataverse(name: str, entry: Mapping, state: Fetch) -> list[Row]:
    """Each file of `files` saved under the root (`save_as`), or unpacked into a folder of it
    (`unpack_to`: the archive is downloaded to archives/, checked, unpacked, deleted). What is
    there already is not asked for again."""
    root = destination(state.config, entry["dest"])
    if root is None:
        return []
    listing: list[DataverseFile] = []  # asked for once, and only if something is missing

    def download(file_name: str, path: Path) -> Outcome:
        if not listing:
            server, pid, version = entry["server"], entry["persistent_id"], entry["version"]
            listing.extend(list_files(server, pid, version, state.session))
        found = find_file(listing, file_name, f"{entry['server']} {entry['persistent_id']}")
        return fetch_url(
            found.url(entry["server"]), path, [found.checksum] if found.checksum else [],
            session=state.session, retry=state.retry, progress=state.progress,
        )  # fmt: skip

    def one(file_name: str, spec: Mapping, dest: str) -> Row:
        what, target = f"{name} {file_name}", state.path(dest)
        if "unpack_to" not in spec:
            if target.is_file():
                return Row(what, dest, "present")
            outcome = download(file_name, target)
            return Row(what, dest, outcome.status, outcome.bytes, outcome.check or "-")
        if target.is_dir() and any(target.iterdir()):
            return Row(what, dest, "present")
        archive = state.path(root) / "archives" / file_name
        outcome = download(file_name, archive)
        count = unpack_flat(archive, target)
        archive.unlink()  # checked, and unpacked whole
        files = f"{count} file{'' if count == 1 else 's'}"
        return Row(f"{what} ({files})", dest, "fetched", outcome.bytes, outcome.check or "-")

    rows = []
    for file_name, spec in entry["files"].items():
        dest = str(PurePosixPath(root) / spec.get("unpack_to", spec.get("save_as", file_name)))
        rows.append(
            state.attempt(
                f"{name} {file_name}", dest, lambda f=file_name, s=spec, d=dest: one(f, s, d)
            )
        )
    return rows


def fetch_fitzpatrick17k(name: str, entry: Mapping, state: Fetch) -> list[Row]:
    root = destination(state.config, entry["dest"])
    if root is None:
        return []
    layout = RAW_LAYOUT["fitzpatrick17k"]
    csv_dest = str(PurePosixPath(root) / layout.metadata)
    csv_row = state.attempt(
        f"{name} {layout.metadata}",
        csv_dest,
        lambda: url_file(f"{name} {layout.metadata}", entry["csv"], csv_dest, state),
    )
    images_dest = str(PurePosixPath(root) / layout.images[0])
    if csv_row.failed:
        return [csv_row, Row(f"{name} images", images_dest, "failed: no CSV to read")]
    settings = state.config["datasets"]["fitzpatrick17k"]
    labels = settings["classes"] if entry.get("rows", "classes") == "classes" else None
    missing_csv = PurePosixPath(root) / "missing.csv"

    def images() -> Row:
        got = fetch_images(
            state.path(csv_dest),
            state.path(images_dest),
            state.path(missing_csv),
            labels=labels,
            jobs=state.jobs,
            retry=state.retry,
            progress=state.progress,
        )
        rows = got.fetched + got.present + len(got.missing)
        if len(got.missing):
            status = f"missing {len(got.missing)}"
            skip = settings.get("missing_images") == "skip"
            state.notes.append(
                f"{name}: {len(got.missing)} of {rows} images could not be had; listed in "
                f"{missing_csv}"
                + ("" if skip else " (set datasets.fitzpatrick17k.missing_images: skip)")
            )
        else:
            status = "fetched" if got.fetched else "present"
        return Row(f"{name} images ({rows} rows)", images_dest, status, got.bytes)

    return [csv_row, state.attempt(f"{name} images", images_dest, images)]


def fetch_manual(name: str, entry: Mapping, state: Fetch) -> list[Row]:
    root = destination(state.config, entry["dest"])
    if root is None:
        return []
    layout = RAW_LAYOUT[entry.get("layout", name)]
    there = (state.path(root) / layout.metadata).is_file() and all(
        (state.path(root) / folder).is_dir() for folder in layout.images
    )
    if there:
        return [Row(name, root, "present")]
    folders = " and ".join(f"{folder}/" for folder in layout.images)
    state.notes.append(
        f"{name}: no download (a data use agreement): request it at {entry['page']}, then put "
        f"{layout.metadata} and {folders} in {root}/"
    )
    return [Row(name, root, "manual")]


FETCHERS: dict[str, Callable[[str, Mapping, Fetch], list[Row]]] = {
    "url": fetch_urls,
    "hub": fetch_hub,
    "dataverse": fetch_dataverse,
    "fitzpatrick17k": fetch_fitzpatrick17k,
    "manual": fetch_manual,
}


def format_summary(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """The rows as an aligned table, then the notes."""
    header = ("what", "destination", "status", "bytes", "digest check")
    table = [header] + [
        (r.what, r.destination, r.status, human_bytes(r.bytes), r.check) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in table
    ]
    lines.insert(1, "-" * len(max(lines, key=len)))
    if not rows:
        lines.append(
            "(nothing to fetch: this config reads no external input; the demo's are built by "
            "the workflow, config/paper.yaml reads the real ones)"
        )
    return "\n".join([*lines, *notes])

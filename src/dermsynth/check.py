"""`dermsynth check`: before a run, is every file the graph reads from outside there and sound?

The external inputs are the files no rule makes (datasets, weights, released split files), as
Snakemake's graph of the config names them (`dermsynth.plan.snakemake_graph`). Each is checked
for presence, readability and size; against a recorded digest where `config/sources.lock.csv`
or `config/sources.yaml` (`dermsynth fetch`'s) records one; weights by loading their keys and
tensor shapes into the architecture that will read them (on the meta device: nothing runs,
nothing is allocated); a dataset's metadata by its rows against the published count and the
image files its rows name. Then free disk space against the images the plan makes, and whether
a GPU is visible. Each finding says what to do; `fails` marks what would stop the run later.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dermsynth.data.ingest import PUBLISHED_ROWS
from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.fetch.lock import Lock
from dermsynth.fetch.run import DEFAULT_SOURCES, lock_file_for
from dermsynth.fetch.sources import config_value, load_sources
from dermsynth.io import file_sha256, human_bytes
from dermsynth.plan import (
    ExternalInput,
    Graph,
    Plan,
    job_images,
    load_config,
    make_plan,
    snakemake_args,
    snakemake_graph,
)

LOCK_FILE = str(lock_file_for(DEFAULT_SOURCES))


@dataclass(frozen=True)
class Finding:
    """One line of the check's table."""

    check: str  # input, digest, weights, rows, disk, gpu
    path: str
    status: str
    todo: str = ""  # what to do; empty when nothing is to be done
    fails: bool = False  # the run would stop (or be wrong) because of it


@dataclass(frozen=True)
class Digest:
    """A recorded sha256 of a file (or its first hex digits), with its size where known."""

    sha256: str
    size: int | None
    where: str  # the file that records it


# --- where the config reads each external input, and who fetches it ---------------------------


def _dests(entry: object) -> Iterable[Mapping]:
    """Every mapping with a `dest` in a sources file's entry (its files, repos, itself)."""
    if isinstance(entry, Mapping):
        if "dest" in entry:
            yield entry
        for value in entry.values():
            yield from _dests(value)
    elif isinstance(entry, list):
        for value in entry:
            yield from _dests(value)


def sources_of(workdir: Path) -> dict:
    """The sources file's entries (`dermsynth fetch`'s), or none where there is no such file."""
    path = workdir / DEFAULT_SOURCES
    return load_sources(path) if path.is_file() else {}


def source_paths(sources: Mapping, config: Mapping) -> list[tuple[str, str, Mapping]]:
    """(path, sources entry name, its file record) for each destination the sources file names:
    the config value of its `dest` key, joined with its `name` where it has one."""
    found = []
    for name, entry in sources.items():
        for record in _dests(entry):
            value = config_value(config, str(record["dest"]))
            if isinstance(value, str) and value:
                path = f"{value.rstrip('/')}/{record['name']}" if "name" in record else value
                found.append((path, name, record))
    return found


def recorded_digests(workdir: Path, config: Mapping, sources: Mapping) -> dict[str, Digest]:
    """The digests recorded for files, by path: the lock file's rows (sha256 and bytes), then
    the sources file's published `sha256` or `sha256_prefix`."""
    digests: dict[str, Digest] = {}
    lock = lock_file_for(workdir / DEFAULT_SOURCES)
    for entry in Lock.load(lock).entries.values():
        digests[entry.path] = Digest(entry.sha256.lower(), entry.bytes, LOCK_FILE)
    for path, _, record in source_paths(sources, config):
        published = record.get("sha256") or record.get("sha256_prefix")
        if published and path not in digests:
            digests[path] = Digest(str(published).lower(), None, DEFAULT_SOURCES)
    return digests


def fetch_hint(path: str, sources: Mapping, config: Mapping, configfiles: Sequence[str]) -> str:
    """What to do about a missing input: the `dermsynth fetch` that gets it (the sources
    entry whose destination is the path, else the one whose folder holds it), or where to put
    it by hand."""
    options = f" --configfile {' '.join(configfiles)}" if configfiles else ""
    holders = [
        (dest != path, -len(dest), name)
        for dest, name, _ in source_paths(sources, config)
        if path == dest or path.startswith(dest.rstrip("/") + "/")
    ]
    if not holders:
        return "put it here (README: The real datasets)"
    name = min(holders)[2]
    if (sources.get(name) or {}).get("kind") == "manual":
        return f"request it (config/sources.yaml: {name}) and put it here"
    return f"dermsynth fetch {name}{options}"


# --- files: present, readable, size, digest ----------------------------------------------------


def folder_files(folder: Path) -> list[Path]:
    """Every file under `folder`, at any depth."""
    return [Path(root) / name for root, _, names in os.walk(folder) for name in names]


def check_file(workdir: Path, item: ExternalInput, todo_if_missing: str) -> Finding:
    """Present, readable, and its size (a folder: its files and their bytes)."""
    path = workdir / item.path
    if not path.exists():
        return Finding("input", item.path, "missing", todo_if_missing, fails=True)
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):
            return Finding("input", item.path, "unreadable", "make it readable", fails=True)
        files = folder_files(path)
        size = sum(f.stat().st_size for f in files)
        status = f"ok, {len(files)} files, {human_bytes(size)}"
        if not files:
            return Finding("input", item.path, "empty folder", todo_if_missing, fails=True)
        return Finding("input", item.path, status)
    if not os.access(path, os.R_OK):
        return Finding("input", item.path, "unreadable", "make it readable", fails=True)
    size = path.stat().st_size
    if size == 0:
        return Finding("input", item.path, "empty file", todo_if_missing, fails=True)
    return Finding("input", item.path, f"ok, {human_bytes(size)}")


def check_digests(
    workdir: Path, item: ExternalInput, digests: Mapping[str, Digest]
) -> list[Finding]:
    """The input (or each file under it) against its recorded digest, where one is recorded."""
    prefix = item.path.rstrip("/") + "/"
    findings = []
    for path, recorded in sorted(digests.items()):
        if path != item.path and not path.startswith(prefix):
            continue
        file = workdir / path
        if not file.is_file():
            continue  # a missing file is the input check's finding
        size = file.stat().st_size
        if recorded.size is not None and size != recorded.size:
            status = f"{size} bytes; {recorded.where} records {recorded.size}"
            findings.append(Finding("digest", path, status, "fetch it again", fails=True))
            continue
        actual = file_sha256(file)
        if not actual.startswith(recorded.sha256):
            status = f"sha256 {actual[:12]}...; {recorded.where} records {recorded.sha256[:12]}..."
            findings.append(Finding("digest", path, status, "fetch it again", fails=True))
        else:
            findings.append(Finding("digest", path, f"ok, sha256 as {recorded.where} records"))
    return findings


# --- weights: keys and shapes against the architecture that reads them --------------------------


def read_state_dict(path: Path) -> Mapping:
    """A weights file's tensors, memory-mapped where the format allows (nothing is copied)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # the legacy (non-zip) format cannot be memory-mapped
        return torch.load(path, map_location="cpu", weights_only=True)


def state_mismatch(expected: Mapping, found: Mapping) -> str:
    """Where a state dict differs from the model's: missing, unexpected, misshapen keys."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    shapes = [
        f"{k} {shape} != {tuple(expected[k].shape)}"
        for k in expected
        if k in found and (shape := tuple(getattr(found[k], "shape", ()))) != expected[k].shape
    ]
    parts = []
    for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if keys:
            parts.append(
                f"{len(keys)} {what} ({', '.join(keys[:2])}{', ...' if len(keys) > 2 else ''})"
            )
    return "; ".join(parts)


def glide_state(config: Mapping, kind: str) -> Mapping:
    """The state dict of the GLIDE network `kind` (base, upsample) as the run builds it:
    the reference's options with the config's over them, on the meta device."""
    import torch

    from dermsynth.glide.options import (
        create_model_and_diffusion,
        model_and_diffusion_defaults,
        model_and_diffusion_defaults_upsampler,
    )

    defaults = (
        model_and_diffusion_defaults()
        if kind == "base"
        else model_and_diffusion_defaults_upsampler()
    )
    options = {**defaults, **config["glide"][kind]["options"]}
    options.update(use_fp16=False, timestep_respacing="")  # as the fine-tune builds it
    with torch.device("meta"):
        model, _ = create_model_and_diffusion(**options)
    return model.state_dict()


def efficientnet_state(config: Mapping) -> Mapping:
    """torchvision's EfficientNetV2-M, as the authors' regime loads its ImageNet weights."""
    import torch
    import torchvision

    with torch.device("meta"):
        return torchvision.models.efficientnet_v2_m(weights=None).state_dict()


def inception_state(config: Mapping) -> Mapping:
    """torch-fidelity's FeatureExtractorInceptionV3, built without reading any weights."""
    from unittest import mock

    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inception

    from dermsynth.metrics.inception import FEATURES

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: {}),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict"),
        torch.device("meta"),
    ):
        model = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", list(FEATURES))
    return model.state_dict()


def weight_checks(config: Mapping) -> dict[str, tuple[str, Callable[[Path], str]]]:
    """Per weights path of the config: what it is, and a check returning '' or what is wrong."""

    def state_check(expected: Callable[[], Mapping]) -> Callable[[Path], str]:
        return lambda path: state_mismatch(expected(), read_state_dict(path))

    def folder_check(kind: str) -> Callable[[Path], str]:
        def check(path: Path) -> str:
            from dermsynth.errors import DataError
            from dermsynth.sd.load import check_folder

            try:
                check_folder(path, kind)
            except DataError as error:
                return str(error)
            return ""

        return check

    checks: dict[str, tuple[str, Callable[[Path], str]]] = {}
    for kind in ("base", "upsample"):
        path = config_value(config, f"glide.{kind}.init")
        if path:
            checks[path] = (
                f"GLIDE {kind}",
                state_check(lambda kind=kind: glide_state(config, kind)),
            )
    path = config_value(config, "metrics.inception.weights")
    if path:
        checks[path] = (
            "InceptionV3 (torch-fidelity)",
            state_check(lambda: inception_state(config)),
        )
    for experiment in ("grid", "ddi"):
        settings = config_value(config, f"classify.{experiment}.settings") or {}
        if settings.get("weights") and settings.get("regime", "authors") == "authors":
            checks[settings["weights"]] = (
                "EfficientNetV2-M (torchvision)",
                state_check(lambda: efficientnet_state(config)),
            )
    for kind, path in (config_value(config, "sd.models") or {}).items():
        checks[path] = (f"Stable Diffusion {kind}", folder_check(kind))
    return checks


def check_weights(workdir: Path, item: ExternalInput, checks: Mapping) -> Finding | None:
    """The weights at `item` against their architecture; None where `item` is no weights."""
    if item.path not in checks or not (workdir / item.path).exists():
        return None
    what, check = checks[item.path]
    try:
        problem = check(workdir / item.path)
    except Exception as error:  # an unreadable file is this check's finding, not a crash
        problem = f"cannot be read: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
    if problem:
        return Finding("weights", item.path, f"not {what}: {problem}", "fetch it again", True)
    sound = (
        "a complete diffusers folder" if item.path in folders(checks) else "keys and shapes match"
    )
    return Finding("weights", item.path, f"ok, {what}: {sound}")


def folders(checks: Mapping) -> set[str]:
    """The weights of `weight_checks` that are folders (Stable Diffusion's)."""
    return {path for path, (what, _) in checks.items() if what.startswith("Stable Diffusion")}


# --- datasets: rows against the published count, and the images they name ----------------------

# each dataset's image file name, from a metadata row (as dermsynth.data.ingest locates them),
# and the columns that takes
IMAGE_FILE: dict[str, tuple[tuple[str, ...], Callable[[Mapping], str]]] = {
    "ham10000": (("image_id",), lambda row: row["image_id"] + ".jpg"),
    "fitzpatrick17k": (("md5hash", "label"), lambda row: row["md5hash"] + ".jpg"),
    "ddi": (("DDI_file",), lambda row: row["DDI_file"]),
}


def check_rows(workdir: Path, dataset: str, config: Mapping) -> Finding:
    """The metadata's rows against the published count, and how many name an image that is
    there (Fitzpatrick17k: the rows of the config's classes, which ingestion keeps)."""
    settings = config["datasets"][dataset]
    root = workdir / settings["root"]
    layout = RAW_LAYOUT[dataset]
    meta = f"{settings['root'].rstrip('/')}/{layout.metadata}"
    columns, image_file = IMAGE_FILE[dataset]
    try:
        with (root / layout.metadata).open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            rows = list(reader)
            absent = [c for c in columns if c not in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        status = f"cannot be read as {dataset}'s metadata ({type(error).__name__}: {error})"
        return Finding("rows", meta, status, "fetch it again", fails=True)
    if absent:
        status = f"cannot be read as {dataset}'s metadata (no column {', '.join(absent)})"
        return Finding("rows", meta, status, "fetch it again", fails=True)
    files = {
        entry.name
        for folder in layout.images
        if (root / folder).is_dir()
        for entry in os.scandir(root / folder)
    }
    total, published = len(rows), PUBLISHED_ROWS[dataset]
    counted = f"{total} rows" + (
        " (published)" if total == published else f", published {published}"
    )
    if dataset == "fitzpatrick17k":
        classes = set(settings["classes"])
        rows = [row for row in rows if row["label"] in classes]
        counted += f"; {len(rows)} in the config's classes"
    missing = sum(image_file(row) not in files for row in rows)
    status = f"{counted}; {len(rows) - missing} of them with their image"
    skip = dataset == "fitzpatrick17k" and settings.get("missing_images") == "skip"
    if not rows:
        return Finding("rows", meta, status, "fetch it again", fails=True)
    if missing and not skip:
        todo = f"{missing} images missing: fetch them again"
        if dataset == "fitzpatrick17k":
            todo += " or set datasets.fitzpatrick17k.missing_images: skip"
        return Finding("rows", meta, status, todo, fails=True)
    if missing:
        return Finding("rows", meta, status, f"{missing} rows skipped (missing_images: skip)")
    if total != published:
        return Finding("rows", meta, status, "a different release? ingestion reads it as it is")
    return Finding("rows", meta, f"ok, {status}")


def dataset_metadata(config: Mapping) -> dict[str, str]:
    """Each dataset's metadata path, as the external inputs name it."""
    return {
        f"{config['datasets'][d]['root'].rstrip('/')}/{layout.metadata}": d
        for d, layout in RAW_LAYOUT.items()
        if d in config["datasets"]
    }


# --- the run's needs: disk space, a GPU --------------------------------------------------------


def image_side(rule: str, config: Mapping) -> int:
    """The side of the images a sampling rule writes: GLIDE's upsampler output, Stable
    Diffusion's resolution."""
    if rule == "glide_sample_shard":
        from dermsynth.glide.options import model_and_diffusion_defaults_upsampler

        options = {
            **model_and_diffusion_defaults_upsampler(),
            **config["glide"]["upsample"]["options"],
        }
        return int(options["image_size"])
    return int(config["sd"]["generate"]["settings"]["resolution"])


def bytes_to_write(graph: Graph, config: Mapping) -> int:
    """The images the plan's samplers write, each at most its raw RGB size (side x side x 3
    bytes; a PNG of a photograph compresses a little below that)."""
    total = 0
    for job in graph.jobs:
        images = job_images(job.rule, job.wildcards, config)
        if images:
            total += images * image_side(job.rule, config) ** 2 * 3
    return total


def check_disk(workdir: Path, needed: int) -> Finding:
    """Free space where results/ goes against the bytes the run's images take."""
    free = shutil.disk_usage(workdir).free
    status = f"{human_bytes(free)} free, the synthetic images need up to {human_bytes(needed)}"
    if needed > free:
        return Finding("disk", "results/", status, "free space, or link results/ elsewhere", True)
    return Finding("disk", "results/", f"ok, {status}")


def check_gpu(plan: Plan) -> Finding:
    """Whether torch sees a GPU. None here is no failure: a cluster's login node has none and
    its jobs get theirs; a local run of the GPU rules runs on the CPU, slowly."""
    import torch

    gpu_jobs = plan.gpu_jobs
    if torch.cuda.is_available():
        names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
        return Finding("gpu", "", f"ok, {torch.cuda.device_count()} visible ({', '.join(names)})")
    todo = (
        f"{gpu_jobs} jobs ask for a GPU on a cluster; run here, they use the CPU"
        if gpu_jobs
        else ""
    )
    return Finding("gpu", "", "none visible (torch.cuda)", todo)


# --- the whole check -----------------------------------------------------------------------------


def check_inputs(
    workdir: Path,
    graph: Graph,
    config: Mapping,
    configfiles: Sequence[str] = (),
    digests_too: bool = True,
) -> list[Finding]:
    """Every external input of the graph: present, readable, size, digest, weights, rows."""
    sources = sources_of(workdir)
    digests = recorded_digests(workdir, config, sources) if digests_too else {}
    weights = weight_checks(config)
    metadata = dataset_metadata(config)
    findings = []
    for item in graph.inputs:
        todo = fetch_hint(item.path, sources, config, configfiles)
        finding = check_file(workdir, item, todo)
        findings.append(finding)
        if finding.fails:
            continue
        findings += check_digests(workdir, item, digests)
        if (loaded := check_weights(workdir, item, weights)) is not None:
            findings.append(loaded)
        if item.path in metadata:
            findings.append(check_rows(workdir, metadata[item.path], config))
    return findings


def check_run(
    workdir: Path,
    targets: Sequence[str] = (),
    configfiles: Sequence[str] = (),
    profile: str = "profiles/slurm",
    digests_too: bool = True,
) -> list[Finding]:
    """Everything `dermsynth check` looks at, for the graph of `targets` under `configfiles`."""
    workdir = Path(workdir)
    graph = snakemake_graph(workdir, snakemake_args(targets, configfiles, profile))
    config = load_config(workdir, configfiles)
    findings = check_inputs(workdir, graph, config, configfiles, digests_too)
    findings.append(check_disk(workdir, bytes_to_write(graph, config)))
    findings.append(check_gpu(make_plan(graph.jobs, graph.edges, config)))
    return findings


def format_findings(findings: Sequence[Finding]) -> str:
    """The findings as one table (check, path, status, what to do), then a verdict."""
    header = ("check", "path", "status", "what to do")
    rows = [header] + [(f.check, f.path, f.status, f.todo) for f in findings]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + ("  " + row[3] if row[3] else "")
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    failing = sum(f.fails for f in findings)
    lines += [
        "",
        f"{failing} problem(s) would stop the run"
        if failing
        else "nothing found that would stop the run",
    ]
    return "\n".join(line.rstrip() for line in lines)

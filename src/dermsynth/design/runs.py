"""Paper 2's classifier runs: which runs a config asks for, and their names.

- The Figure 3 grid: "models trained for nine-way skin classification while varying the number
  of real images (1 to 228), use of synthetic images (0 or 10 synthetic images per real image),
  and use of an image transform augmentation utility (yes or no) ... averaged across five runs";
  and the dose-response runs (128 and 228 real images per class x 10/25/50/75 synthetic per real
  image). Each grid run belongs to a protocol (`authors` or `strict`, see `dermsynth.design`).
  Its id `n{real}_s{source}_x{per_real}[from{first}]_t{0|1}_seed{k}` names its outputs under
  its protocol's folder; `from{first}` says it reads synthetic images from index `first` on (the
  dose response reads the images made beyond the grid's).
- The DDI malignancy runs of the authors' released code: `s{source}_x{per_real}_t{0|1}_seed{k}`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NO_SYNTHETIC = "none"
PROTOCOLS = ("authors", "strict")
# a source read from the authors' released images: `released-<method>-<variant>`
# (`dermsynth.design.released`)
RELEASED = "released-"
SOURCE_NAME = re.compile(r"[A-Za-z0-9-]+")
RUN_ID = re.compile(
    r"n(?P<real>\d+)_s(?P<source>[A-Za-z0-9-]+)_x(?P<per_real>\d+)(?:from(?P<first>\d+))?"
    r"_t(?P<t>[01])_seed(?P<seed>\d+)"
)
DDI_RUN_ID = re.compile(
    r"s(?P<source>[A-Za-z0-9-]+)_x(?P<per_real>\d+)_t(?P<t>[01])_seed(?P<seed>\d+)"
)
GRID_RUN_KEYS = {
    "protocols",
    "real_per_class",
    "sources",
    "synthetic_per_real",
    "transforms",
    "seeds",
    "dose_response",
}
DOSE_KEYS = {
    "real_per_class",
    "synthetic_per_real",
    "sources",
    "transforms",
    "seeds",
    "first_index",
    "settings",
}
DDI_KEYS = {"sources", "synthetic_per_real", "transforms", "seeds"}


def check_source(source: str, synthetic_per_real: int) -> None:
    """A synthetic source is a name of letters, digits and hyphens (`inpaint-dreambooth`);
    `none` goes with 0 synthetic per real image, any other source with at least 1."""
    if not SOURCE_NAME.fullmatch(source):
        raise ValueError(f"source {source!r}: letters, digits and hyphens only")
    if (source == NO_SYNTHETIC) != (synthetic_per_real == 0):
        raise ValueError(
            f"source {source!r} with {synthetic_per_real} synthetic per real image: "
            f"{NO_SYNTHETIC!r} goes with 0, and only it"
        )


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol {protocol!r} is not one of {list(PROTOCOLS)}")


def reads_released(source: str) -> bool:
    """Whether a source is read from the authors' released images (`released-<method>-<variant>`)
    rather than made by the Stable Diffusion track."""
    return source.startswith(RELEASED)


def protocol_reads(protocol: str, source: str) -> bool:
    """Whether runs of `protocol` read `source`. The authors' released DreamBooth images come
    from models that learned from every training row of a class, strict's validation images
    too, so strict runs do not read them (their pretrained images are made from one real image
    each, and a run reads only those of its own training images)."""
    return not (protocol == "strict" and reads_released(source) and source.endswith("-dreambooth"))


@dataclass(frozen=True)
class GridRun:
    """One run of the grid: its protocol, real images per class, synthetic source, images per
    real image (indices `first_index` .. `first_index + synthetic_per_real - 1`), transforms
    axis and seed."""

    protocol: str
    real_per_class: int
    source: str
    synthetic_per_real: int
    transforms: bool
    seed: int
    first_index: int = 0

    def __post_init__(self) -> None:
        check_protocol(self.protocol)
        if self.real_per_class < 1 or self.seed < 0 or self.first_index < 0:
            raise ValueError("real_per_class must be at least 1, seed and first_index at least 0")
        check_source(self.source, self.synthetic_per_real)
        if self.source == NO_SYNTHETIC and self.first_index:
            raise ValueError("a run without synthetic images has no first_index")

    @property
    def run_id(self) -> str:
        start = f"from{self.first_index}" if self.first_index else ""
        return (
            f"n{self.real_per_class}_s{self.source}_x{self.synthetic_per_real}{start}"
            f"_t{int(self.transforms)}_seed{self.seed}"
        )

    @property
    def path_id(self) -> str:
        """`{protocol}/{run_id}`: the run's folder under results/classify/fig3/."""
        return f"{self.protocol}/{self.run_id}"

    @property
    def last_index(self) -> int:
        """One past the last synthetic image index the run reads."""
        return self.first_index + self.synthetic_per_real


def parse_run_id(run_id: str, protocol: str) -> GridRun:
    """The run a run id names under `protocol` (the inverse of `GridRun.run_id`)."""
    match = RUN_ID.fullmatch(run_id)
    if match is None:
        raise ValueError(
            f"{run_id!r} is not a grid run id (n<real>_s<source>_x<k>[from<i>]_t<0|1>_seed<k>)"
        )
    return GridRun(
        protocol,
        int(match["real"]),
        match["source"],
        int(match["per_real"]),
        match["t"] == "1",
        int(match["seed"]),
        int(match["first"] or 0),
    )


def seed_list(seeds: int | Iterable[int]) -> list[int]:
    """A config's seeds: a count k (seeds 0..k-1) or a list."""
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def _unknown(config: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; known: {sorted(known)}")


def _main_runs(config: Mapping[str, Any], protocol: str) -> list[GridRun]:
    sources = [s for s in config["sources"] if s != NO_SYNTHETIC]
    per_real = int(config["synthetic_per_real"])
    return [
        GridRun(protocol, int(n), source, 0 if source == NO_SYNTHETIC else per_real, bool(t), seed)
        for n in config["real_per_class"]
        for source in (NO_SYNTHETIC, *sources)
        if protocol_reads(protocol, source)
        for t in config["transforms"]
        for seed in seed_list(config["seeds"])
    ]


def _dose_runs(config: Mapping[str, Any], protocol: str) -> list[GridRun]:
    dose = config.get("dose_response") or {}
    _unknown(dose, DOSE_KEYS, "dose_response")
    if not dose:
        return []
    sources = dose.get("sources", config["sources"])
    return [
        GridRun(protocol, int(n), source, int(x), bool(t), seed, int(dose.get("first_index", 0)))
        for n in dose["real_per_class"]
        for source in [s for s in sources if s != NO_SYNTHETIC]
        if protocol_reads(protocol, source)
        for x in dose["synthetic_per_real"]
        for t in dose.get("transforms", config["transforms"])
        for seed in seed_list(dose.get("seeds", config["seeds"]))
    ]


def grid_runs(config: Mapping[str, Any]) -> list[GridRun]:
    """Every run of a grid config: per protocol, the main grid, then the dose-response runs.

    The config: `protocols` (default `[authors]`), `real_per_class` (list), `sources` (synthetic
    sources; `none`, the baseline without synthetic images, always runs; `released-...` sources
    are read from the authors' released images, never by strict runs where they come from
    DreamBooth: `protocol_reads`), `synthetic_per_real`
    (the main grid's, e.g. 10), `transforms` (list of booleans), `seeds` (count or list) and
    optionally `dose_response`: `real_per_class` and `synthetic_per_real` lists, `first_index`
    (the first synthetic index its runs read, default 0), `sources`, `transforms` and `seeds`
    that default to the main grid's, and `settings` for its runs (`run_settings`). A run of
    both is one run; with dose-response `settings` none may be.
    """
    _unknown(config, GRID_RUN_KEYS, "grid")
    runs = []
    for protocol in config.get("protocols", ["authors"]):
        main, dose = _main_runs(config, protocol), _dose_runs(config, protocol)
        both = sorted(set(main) & set(dose), key=lambda run: run.run_id)
        if both and (config.get("dose_response") or {}).get("settings"):
            raise ValueError(
                f"dose-response run(s) {[r.run_id for r in both[:3]]} are also main-grid runs, "
                "and dose_response.settings would give them other settings: give "
                "dose_response a first_index beyond the grid's images (the authors': 10)"
            )
        runs += main + dose
    return list(dict.fromkeys(runs))


def run_settings(section: Mapping[str, Any], run: GridRun) -> dict[str, Any]:
    """A grid run's classifier settings: the `classify.grid` section's `settings`, updated by
    `dose_response.settings` for a dose-response run (the authors' dose-response script keeps
    the best epoch and adds a batch size of 128)."""
    settings = dict(section.get("settings") or {})
    dose = section.get("dose_response") or {}
    if run in _dose_runs({k: v for k, v in section.items() if k in GRID_RUN_KEYS}, run.protocol):
        settings.update(dose.get("settings") or {})
    return settings


def section_grid_runs(grid: Mapping[str, Any] | None) -> list[GridRun]:
    """The runs of a `classify.grid` section (its other keys are the runs' shared settings)."""
    return grid_runs({k: v for k, v in grid.items() if k in GRID_RUN_KEYS}) if grid else []


def largest_real_per_class(runs: Iterable[GridRun]) -> dict[tuple[str, str], int]:
    """Per (protocol, synthetic source), the largest real images per class of the runs that
    read it."""
    largest: dict[tuple[str, str], int] = {}
    for run in runs:
        if run.source != NO_SYNTHETIC:
            key = (run.protocol, run.source)
            largest[key] = max(largest.get(key, 0), run.real_per_class)
    return largest


@dataclass(frozen=True)
class DdiRun:
    """One DDI malignancy run: synthetic source and images per real image, transforms, seed."""

    source: str
    synthetic_per_real: int
    transforms: bool
    seed: int

    def __post_init__(self) -> None:
        check_source(self.source, self.synthetic_per_real)

    @property
    def run_id(self) -> str:
        return f"s{self.source}_x{self.synthetic_per_real}_t{int(self.transforms)}_seed{self.seed}"


def parse_ddi_run_id(run_id: str) -> DdiRun:
    """The run a DDI run id names (the inverse of `DdiRun.run_id`)."""
    match = DDI_RUN_ID.fullmatch(run_id)
    if match is None:
        raise ValueError(f"{run_id!r} is not a DDI run id (s<source>_x<k>_t<0|1>_seed<k>)")
    return DdiRun(match["source"], int(match["per_real"]), match["t"] == "1", int(match["seed"]))


def ddi_runs(config: Mapping[str, Any]) -> list[DdiRun]:
    """Every run of a DDI config: `sources` (synthetic; `none` always runs), `synthetic_per_real`
    (e.g. 10), `transforms` (list of booleans), `seeds` (count or list)."""
    _unknown(config, DDI_KEYS, "DDI")
    sources = [NO_SYNTHETIC, *(s for s in config["sources"] if s != NO_SYNTHETIC)]
    per_real = int(config["synthetic_per_real"])
    return [
        DdiRun(source, 0 if source == NO_SYNTHETIC else per_real, bool(t), seed)
        for source in sources
        for t in config["transforms"]
        for seed in seed_list(config["seeds"])
    ]


def section_ddi_runs(ddi: Mapping[str, Any] | None) -> list[DdiRun]:
    """The runs of a `classify.ddi` section."""
    return ddi_runs({k: v for k, v in ddi.items() if k in DDI_KEYS}) if ddi else []

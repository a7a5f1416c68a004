"""Which synthetic images the Stable Diffusion track makes: derived from the classifiers' needs.

Every synthetic set is made because a classifier run names it: paper 2's Figure 3 grid (and its
dose-response runs) on Fitzpatrick17k-9, and the DDI malignancy experiment. A set is
(method, variant, dataset); a *pool* of a set is the real training images it is made from and
how many synthetic images each gets:

- Fitzpatrick17k pools are "pool_rank < n". A pretrained model (and a DreamBooth model in
  `full_pool` mode) makes one pool, for the largest n of the runs naming the set: the run with
  n real images per class reads the images made from ranks < n (nested, as the real pools
  are). In `per_n` mode a DreamBooth model per n learns from exactly the n images a run with
  n sees, so each n gets its own pool (and its own DreamBooth model).
- DDI pools are all of DDI's `paper` training images (`n` None).
- `per_source` is the largest synthetic-per-real count of the runs reading the pool (the
  dose-response's 75 where it runs, else 10); a run reads the images of index < its count.
- In-then-outpainting starts from the inpaint set's images (one pass yields both), so each
  `inoutpaint` pool brings an `inpaint` pool of the same variant, dataset and n with at least
  its `per_source`, made even when no run reads it.

Shards are static: a Fitzpatrick17k pool's size is known from the config (n sources per
class); DDI's counts are declared in config as expected training images per class, and its items
are spread evenly over the shard count fixed from them.

One set no run reads may be added: the *release* (`sd.release`), prompt-only text-to-image
images per class, as a released dataset has beyond what its experiments read. Its pool is named
`release`; a DreamBooth release uses the model of the set's largest pool on that dataset.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dermsynth.classify.ddi import DDI_CLASSES, ddi_runs
from dermsynth.classify.grid import NO_SYNTHETIC, grid_runs

METHODS = ("text2img", "inpaint", "inoutpaint")
VARIANTS = ("pretrained", "dreambooth")
BASE_OF = {"text2img": "text2img", "inpaint": "inpaint", "inoutpaint": "inpaint"}
MODES = ("per_n", "full_pool")
RELEASE = "release"
GRID_DATASET = "fitzpatrick17k"
DDI_DATASET = "ddi"
GRID_RUN_KEYS = {"real_per_class", "sources", "synthetic_per_real", "transforms", "seeds",
                 "dose_response"}  # fmt: skip
DDI_RUN_KEYS = {"sources", "synthetic_per_real", "transforms", "seeds"}


def split_source(source: str) -> tuple[str, str]:
    """A classifier's synthetic source `method-variant` as (method, variant)."""
    method, _, variant = source.partition("-")
    if method not in METHODS or variant not in VARIANTS:
        raise ValueError(
            f"synthetic source {source!r} is not <method>-<variant> with method one of "
            f"{list(METHODS)} and variant one of {list(VARIANTS)}"
        )
    return method, variant


@dataclass(frozen=True, order=True)
class Pool:
    """One pool of a synthetic set: the images of (method, variant) made on `dataset` from
    pool ranks < n (None: every training image), `per_source` per real image."""

    dataset: str
    method: str
    variant: str
    n: int | None
    per_source: int
    release: bool = False  # prompt-only: per_source images per class, no source image

    @property
    def name(self) -> str:
        if self.release:
            return RELEASE
        return "all" if self.n is None else f"n{self.n}"

    @property
    def source(self) -> str:
        return f"{self.method}-{self.variant}"

    @property
    def base(self) -> str:
        return BASE_OF[self.method]


def pool_n(source: str, n: int, largest: int, mode: str) -> int:
    """The Fitzpatrick17k pool a run with `n` real images per class reads of `source`."""
    if mode not in MODES:
        raise ValueError(f"DreamBooth mode must be one of {list(MODES)}, not {mode!r}")
    _, variant = split_source(source)
    return n if (variant == "dreambooth" and mode == "per_n") else largest


def section_grid_runs(grid: Mapping[str, Any] | None) -> list:
    """The runs of a `classify.grid` section (its other keys, image_size and settings, are the
    runs' shared settings)."""
    return grid_runs({k: v for k, v in grid.items() if k in GRID_RUN_KEYS}) if grid else []


def section_ddi_runs(ddi: Mapping[str, Any] | None) -> list:
    """The runs of a `classify.ddi` section."""
    return ddi_runs({k: v for k, v in ddi.items() if k in DDI_RUN_KEYS}) if ddi else []


def largest_real_per_class(runs: Iterable[Any]) -> dict[str, int]:
    """Per synthetic source, the largest real images per class of the runs that read it."""
    largest: dict[str, int] = {}
    for run in runs:
        if run.source != NO_SYNTHETIC:
            largest[run.source] = max(largest.get(run.source, 0), run.real_per_class)
    return largest


def dataset_classes(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The class labels synthetic images carry, per dataset: Fitzpatrick17k's configured F17k-9
    labels, DDI's benign and malignant."""
    return {
        GRID_DATASET: list(config["datasets"][GRID_DATASET]["classes"]),
        DDI_DATASET: list(DDI_CLASSES),
    }


def synthetic_pools(
    grid: Mapping[str, Any] | None, ddi: Mapping[str, Any] | None, mode: str
) -> list[Pool]:
    """Every pool the configured classifier runs need (grid: `classify.grid`; DDI:
    `classify.ddi`; either may be None), inpaint pools for in-then-outpainting added."""
    need: dict[tuple[str, str, str, int | None], int] = {}

    def want(dataset: str, source: str, n: int | None, per_source: int) -> None:
        method, variant = split_source(source)
        key = (dataset, method, variant, n)
        need[key] = max(need.get(key, 0), per_source)

    runs = section_grid_runs(grid)
    largest = largest_real_per_class(runs)
    for run in runs:
        if run.source != NO_SYNTHETIC:
            n = pool_n(run.source, run.real_per_class, largest[run.source], mode)
            want(GRID_DATASET, run.source, n, run.synthetic_per_real)
    for run in section_ddi_runs(ddi):
        if run.source != NO_SYNTHETIC:
            want(DDI_DATASET, run.source, None, run.synthetic_per_real)
    for (dataset, method, variant, n), per_source in list(need.items()):
        if method == "inoutpaint":
            key = (dataset, "inpaint", variant, n)
            need[key] = max(need.get(key, 0), per_source)
    return sorted(Pool(*key, per_source) for key, per_source in need.items())


def sources_per_class(pool: Pool, classes: Sequence[str], ddi_counts: Mapping[str, int]) -> dict:
    """Real images each class's part of the pool is made from: n (Fitzpatrick17k), or DDI's
    expected training images per class (config); a release pool counts as one (its images
    have no source)."""
    if pool.release:
        return {cls: 1 for cls in classes}
    if pool.n is not None:
        return {cls: pool.n for cls in classes}
    missing = [cls for cls in classes if cls not in ddi_counts]
    if missing:
        raise ValueError(f"sd.ddi_sources_per_class has no count for class(es) {missing}")
    return {cls: int(ddi_counts[cls]) for cls in classes}


def shard_count(sources: int, per_source: int, images_per_shard: int) -> int:
    """Shards of one class of a pool: about `images_per_shard` images each, at least one."""
    return max(1, math.ceil(sources * per_source / images_per_shard))


def pool_images(pool: Pool, classes: Sequence[str], ddi_counts: Mapping[str, int]) -> int:
    """Synthetic images a pool makes (for DDI: as many as the declared counts say)."""
    return sum(sources_per_class(pool, classes, ddi_counts).values()) * pool.per_source


def dreambooth_models(pools: Iterable[Pool]) -> list[tuple[str, str, int | None]]:
    """(base, dataset, n) of every DreamBooth model the pools need (one per class each)."""
    return sorted(
        {(p.base, p.dataset, p.n) for p in pools if p.variant == "dreambooth" and not p.release},
        key=lambda m: (m[0], m[1], -1 if m[2] is None else m[2]),
    )


def class_slug(label: str) -> str:
    """A class name as a path component: lower case, runs of other characters as `_`."""
    slug = "".join(c if c.isalnum() else "_" for c in label.lower())
    while "__" in slug:
        slug = slug.replace("__", "_")
    return slug.strip("_")


def find_pool(pools: Iterable[Pool], dataset: str, method: str, variant: str, name: str) -> Pool:
    """The pool of (dataset, method, variant) named `name` (`n228`, `all`, `release`)."""
    for pool in pools:
        if (pool.dataset, pool.method, pool.variant, pool.name) == (dataset, method, variant, name):
            return pool
    raise ValueError(f"no classifier run needs {method}-{variant} {dataset} pool {name}")


def release_pool(release: Mapping[str, Any] | None, pools: Sequence[Pool]) -> Pool | None:
    """The pool of `sd.release` ({dataset, source, per_class}; None: no release): prompt-only
    text-to-image images that no classifier run reads. A DreamBooth release needs a DreamBooth
    text-to-image pool on its dataset, whose model it uses (`dreambooth_pool`)."""
    if not release:
        return None
    method, variant = split_source(release["source"])
    if method != "text2img":
        raise ValueError(
            f"sd.release.source {release['source']!r}: a release is made from prompts alone, so "
            "its method must be text2img"
        )
    dataset = release["dataset"]
    if dataset not in (GRID_DATASET, DDI_DATASET):
        raise ValueError(
            f"sd.release.dataset must be {GRID_DATASET} or {DDI_DATASET}, not {dataset!r}"
        )
    pool = Pool(dataset, method, variant, None, int(release["per_class"]), release=True)
    if variant == "dreambooth":
        dreambooth_pool(pool, pools)  # refuses a release with no model to use
    return pool


def dreambooth_pool(pool: Pool, pools: Iterable[Pool]) -> Pool:
    """The pool whose DreamBooth models make `pool`'s images: the pool itself, or for a release
    (which trains none) the largest text-to-image DreamBooth pool on its dataset (`all`, or the
    largest n)."""
    if not pool.release:
        return pool
    candidates = [
        p for p in pools
        if (p.dataset, p.method, p.variant) == (pool.dataset, "text2img", "dreambooth")
        and not p.release
    ]  # fmt: skip
    if not candidates:
        raise ValueError(
            f"sd.release.source text2img-dreambooth on {pool.dataset}: no classifier run reads "
            f"text2img-dreambooth there, so no DreamBooth model exists to make the release; add it "
            f"to classify.{'ddi' if pool.dataset == DDI_DATASET else 'grid'}.sources"
        )
    return max(candidates, key=lambda p: math.inf if p.n is None else p.n)


def config_pools(config: Mapping[str, Any]) -> list[Pool]:
    """The pools of a workflow config (`classify.grid`, `classify.ddi`, `sd.dreambooth.mode`),
    and the release's (`sd.release`) last."""
    classify = config["classify"]
    pools = synthetic_pools(classify.get("grid"), classify.get("ddi"),
                            config["sd"]["dreambooth"]["mode"])  # fmt: skip
    release = release_pool(config["sd"].get("release"), pools)
    return pools + ([release] if release else [])


def shard_sizes(pool: Pool, label: str, classes: Sequence[str], ddi_counts: Mapping[str, int],
                images_per_shard: int) -> list[int]:  # fmt: skip
    """Images in each shard of one class of a pool (DDI: by its declared training counts)."""
    from dermsynth.shards import even_ranges

    sources = sources_per_class(pool, classes, ddi_counts)[label]
    total = sources * pool.per_source
    ranges = even_ranges(total, shard_count(sources, pool.per_source, images_per_shard))
    return [stop - start for start, stop in ranges]

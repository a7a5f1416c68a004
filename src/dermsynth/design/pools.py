"""Which synthetic images and DreamBooth models the Stable Diffusion track makes: derived from
the classifier runs that read them.

A synthetic set is (method, variant, dataset); a *pool* of a set is the real training images it
is made from and how many synthetic images each gets (`per_source`: one past the largest index
a run reads, e.g. the grid's 10, or 85 where the dose response reads indices 10..84). Pools are
named by what made them:

- `all`: every training row of each class: on Fitzpatrick17k the authors' protocol, whose
  DreamBooth models learned from the whole training file of a class (their validation images
  too) and which generated for every row, so that any seed's draw finds its images; on DDI its
  `paper` training images. DDI's DreamBooth model is one for both classes where
  `sd.dreambooth.ddi.one_model` says so, as the authors' `dreambooth-inpaint-ddi/all`
  (`synderm/generation/tmp/scripts/submit_ddi.py`), and learns from the rows of
  `sd.dreambooth.ddi.splits` (theirs: every row of their DDI training file, validation images
  too).
- `n{n}`: the `strict` protocol's pool, the first n images of its fixed draw. A DreamBooth model
  in `per_n` mode learns from exactly the n images of the runs that read it; in `full_pool`
  mode one model per class learns from the largest n. Pretrained sets read by strict runs come
  from the `all` pool when the authors' runs make it (a pretrained model saw none of our images,
  and an image's seed depends on its source image and index only, so the images strict reads
  are the same bytes: they are made once), else from the largest n.
- `release`: prompt-only text-to-image images per class that no run reads (`sd.release`).

A run of a `released-...` source reads the authors' released images
(`dermsynth.design.released`) and needs no pool.

In-then-outpainting starts from the inpaint set's images (one pass yields both), so each
`inoutpaint` pool brings an `inpaint` pool of the same variant, dataset and n.

Shards are static: a pool's size per class is known from the config (n, or the expected
training images per class of `sd.sources_per_class` for `all`), so the shard count is fixed
before any image exists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dermsynth.design.runs import (
    NO_SYNTHETIC,
    GridRun,
    largest_real_per_class,
    reads_released,
    section_ddi_runs,
    section_grid_runs,
)
from dermsynth.shards import even_ranges

METHODS = ("text2img", "inpaint", "inoutpaint")
VARIANTS = ("pretrained", "dreambooth")
BASE_OF = {"text2img": "text2img", "inpaint": "inpaint", "inoutpaint": "inpaint"}
MODES = ("per_n", "full_pool")
RELEASE = "release"
GRID_DATASET = "fitzpatrick17k"
DDI_DATASET = "ddi"
DDI_CLASSES = ("benign", "malignant")  # DDI's metadata: malignant True / False
ONE_MODEL = "all"  # the class part of a DreamBooth model's path when it learns every class


def split_source(source: str) -> tuple[str, str]:
    """A classifier's synthetic source `method-variant` as (method, variant)."""
    method, _, variant = source.partition("-")
    if method not in METHODS or variant not in VARIANTS:
        raise ValueError(
            f"synthetic source {source!r} is not <method>-<variant> with method one of "
            f"{list(METHODS)} and variant one of {list(VARIANTS)}"
        )
    return method, variant


@dataclass(frozen=True)
class Pool:
    """One pool of a synthetic set: the images of (method, variant) made on `dataset` from
    strict's first n images per class (None: every training image), `per_source` per image."""

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


def grid_pool_n(run: GridRun, largest: Mapping[tuple[str, str], int], mode: str) -> int | None:
    """The Fitzpatrick17k pool (its n; None: `all`) a grid run reads. `largest` is
    `largest_real_per_class` of every grid run of the config."""
    if mode not in MODES:
        raise ValueError(f"DreamBooth mode must be one of {list(MODES)}, not {mode!r}")
    _, variant = split_source(run.source)
    if run.protocol == "authors":
        return None
    if variant == "dreambooth":
        return run.real_per_class if mode == "per_n" else largest[("strict", run.source)]
    if ("authors", run.source) in largest:
        return None  # the authors' `all` pool holds the images strict reads
    return largest[("strict", run.source)]


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
        if makes_images(run.source):
            want(GRID_DATASET, run.source, grid_pool_n(run, largest, mode), run.last_index)
    for run in section_ddi_runs(ddi):
        if makes_images(run.source):
            want(DDI_DATASET, run.source, None, run.synthetic_per_real)
    for (dataset, method, variant, n), per_source in list(need.items()):
        if method == "inoutpaint":
            key = (dataset, "inpaint", variant, n)
            need[key] = max(need.get(key, 0), per_source)
    return sorted((Pool(*key, per_source) for key, per_source in need.items()), key=pool_order)


def makes_images(source: str) -> bool:
    """Whether runs reading `source` need images of the Stable Diffusion track (not the
    baseline, not the authors' released images)."""
    return source != NO_SYNTHETIC and not reads_released(source)


def pool_order(pool: Pool) -> tuple:
    """Pools in reading order: by dataset, method, variant, then `all` before n ascending."""
    return (pool.dataset, pool.method, pool.variant, -1 if pool.n is None else pool.n)


def grid_run_pool(
    run: GridRun, pools: Iterable[Pool], largest: Mapping[tuple[str, str], int], mode: str
) -> Pool:
    """The pool a grid run reads its synthetic images from (`largest`: `largest_real_per_class`
    of every grid run of the config)."""
    method, variant = split_source(run.source)
    n = grid_pool_n(run, largest, mode)
    return find_pool(pools, GRID_DATASET, method, variant, "all" if n is None else f"n{n}")


def sources_per_class(
    pool: Pool, classes: Sequence[str], expected: Mapping[str, Mapping[str, int]]
) -> dict[str, int]:
    """Real images each class's part of the pool is made from: n (strict), else the expected
    training images per class (`sd.sources_per_class` of the pool's dataset); a release pool
    counts as one (its images have no source)."""
    if pool.release:
        return {cls: 1 for cls in classes}
    if pool.n is not None:
        return {cls: pool.n for cls in classes}
    counts = expected.get(pool.dataset) or {}
    missing = [cls for cls in classes if cls not in counts]
    if missing:
        raise ValueError(
            f"sd.sources_per_class.{pool.dataset} has no count for class(es) {missing}: the "
            f"{pool.source} pool `all` is made from every training image of each class, and its "
            "shards are planned from these counts"
        )
    return {cls: int(counts[cls]) for cls in classes}


def shard_count(sources: int, per_source: int, images_per_shard: int) -> int:
    """Shards of one class of a pool: about `images_per_shard` images each, at least one."""
    return max(1, math.ceil(sources * per_source / images_per_shard))


def pool_images(
    pool: Pool, classes: Sequence[str], expected: Mapping[str, Mapping[str, int]]
) -> int:
    """Synthetic images a pool makes (for `all`: as many as the expected counts say)."""
    return sum(sources_per_class(pool, classes, expected).values()) * pool.per_source


def dreambooth_models(pools: Iterable[Pool]) -> list[tuple[str, str, int | None]]:
    """(base, dataset, n) of every DreamBooth model the pools need (one per class each, or one
    for the dataset: `dreambooth_slugs`)."""
    return sorted(
        {(p.base, p.dataset, p.n) for p in pools if p.variant == "dreambooth" and not p.release},
        key=lambda m: (m[0], m[1], -1 if m[2] is None else m[2]),
    )


def _dataset_dreambooth(dreambooth: Mapping[str, Any], dataset: str) -> Mapping[str, Any]:
    return dreambooth.get(dataset) or {}


def one_model(dreambooth: Mapping[str, Any], dataset: str) -> bool:
    """Whether one DreamBooth model per (base, pool) learns from every class of `dataset` at
    once (`sd.dreambooth.<dataset>.one_model`), as the authors' DDI model did, instead of one
    per class."""
    return bool(_dataset_dreambooth(dreambooth, dataset).get("one_model", False))


def dreambooth_slugs(
    dreambooth: Mapping[str, Any], dataset: str, classes: Sequence[str]
) -> list[str]:
    """The class part of the paths of a dataset's DreamBooth models: each class's slug, or
    `all` for a dataset's one model (`one_model`)."""
    if one_model(dreambooth, dataset):
        return [ONE_MODEL]
    return [class_slug(label) for label in classes]


def dreambooth_slug(dreambooth: Mapping[str, Any], dataset: str, slug: str) -> str:
    """The class part of the path of the DreamBooth model that makes class `slug`'s images."""
    return ONE_MODEL if one_model(dreambooth, dataset) else slug


def dreambooth_splits(dreambooth: Mapping[str, Any], dataset: str) -> list[str]:
    """The split rows a dataset's `all` DreamBooth models learn from: `train`, or as
    `sd.dreambooth.<dataset>.splits` lists (DDI's authors' model: train and val, their training
    file); never test."""
    splits = list(_dataset_dreambooth(dreambooth, dataset).get("splits", ["train"]))
    if "test" in splits or "train" not in splits:
        raise ValueError(
            f"sd.dreambooth.{dataset}.splits {splits}: a DreamBooth model learns from the "
            "training split, and may add val, never test"
        )
    return splits


def dreambooth_settings(dreambooth: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """A dataset's DreamBooth settings: `sd.dreambooth.settings`, with
    `sd.dreambooth.<dataset>.settings` over them (DDI's authors' model: 25 epochs)."""
    extra = _dataset_dreambooth(dreambooth, dataset).get("settings") or {}
    return {**dreambooth["settings"], **extra}


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
        p
        for p in pools
        if (p.dataset, p.method, p.variant) == (pool.dataset, "text2img", "dreambooth")
        and not p.release
    ]
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
    mode = config["sd"]["dreambooth"]["mode"]
    pools = synthetic_pools(classify.get("grid"), classify.get("ddi"), mode)
    release = release_pool(config["sd"].get("release"), pools)
    return pools + ([release] if release else [])


def shard_sizes(
    pool: Pool,
    label: str,
    classes: Sequence[str],
    expected: Mapping[str, Mapping[str, int]],
    images_per_shard: int,
) -> list[int]:
    """Images in each shard of one class of a pool."""
    sources = sources_per_class(pool, classes, expected)[label]
    total = sources * pool.per_source
    ranges = even_ranges(total, shard_count(sources, pool.per_source, images_per_shard))
    return [stop - start for start, stop in ranges]

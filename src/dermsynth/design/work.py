"""How much work each job of paper 2's design is, from the config alone (before any data
exists): the images a Stable Diffusion shard makes and the training images per epoch of a
classifier run. `dermsynth.plan` turns them into minutes and GPU-hours."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dermsynth.design.pools import (
    class_slug,
    config_pools,
    dataset_classes,
    find_pool,
    shard_sizes,
)
from dermsynth.design.runs import DdiRun, GridRun


def shard_images(
    config: Mapping[str, Any],
    dataset: str,
    method: str,
    variant: str,
    pool: str,
    slug: str,
    k: int,
) -> int:
    """Images of shard `k` of one class (`slug`) of a pool (an `all` pool: by the expected
    training images per class, `sd.sources_per_class`)."""
    found = find_pool(config_pools(config), dataset, method, variant, pool)
    classes = dataset_classes(config)[dataset]
    labels = [c for c in classes if class_slug(c) == slug]
    if not labels:
        raise ValueError(f"no {dataset} class is named {slug!r} in a path")
    sizes = shard_sizes(
        found,
        labels[0],
        classes,
        config["sd"]["sources_per_class"],
        config["sd"]["generate"]["images_per_shard"],
    )
    return sizes[k]


def grid_training_images(config: Mapping[str, Any], run: GridRun) -> int:
    """Training images per epoch of a grid run: classes x n x (1 + synthetic per real)."""
    classes = len(config["datasets"]["fitzpatrick17k"]["classes"])
    return classes * run.real_per_class * (1 + run.synthetic_per_real)


def ddi_training_images(config: Mapping[str, Any], run: DdiRun) -> int:
    """Training images per epoch of a DDI run: the expected training images (its
    `sd.sources_per_class`) x (1 + synthetic per real)."""
    return sum(config["sd"]["sources_per_class"]["ddi"].values()) * (1 + run.synthetic_per_real)

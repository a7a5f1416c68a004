"""dermsynth.design.work: the images each shard makes and the training images of each run add
up to the design's totals."""

from __future__ import annotations

import pytest
from workflow_helpers import REPO, load_config

from dermsynth.design.pools import (
    class_slug,
    config_pools,
    dataset_classes,
    pool_images,
    shard_count,
    sources_per_class,
)
from dermsynth.design.runs import DdiRun, GridRun
from dermsynth.design.work import ddi_training_images, grid_training_images, shard_images


@pytest.fixture(scope="module")
def paper() -> dict:
    return load_config(REPO / "config" / "paper.yaml")


def test_the_shards_of_every_pool_hold_its_images(paper):
    classes = dataset_classes(paper)
    expected = paper["sd"]["sources_per_class"]
    per_shard = paper["sd"]["generate"]["images_per_shard"]
    total = 0
    for pool in config_pools(paper):
        for label, sources in sources_per_class(pool, classes[pool.dataset], expected).items():
            shards = [
                shard_images(
                    paper, pool.dataset, pool.method, pool.variant, pool.name, class_slug(label), k
                )
                for k in range(shard_count(sources, pool.per_source, per_shard))
            ]
            assert sum(shards) == sources * pool.per_source
            assert max(shards) - min(shards) <= 1  # spread evenly
            total += sum(shards)
    assert total == sum(pool_images(p, classes[p.dataset], expected) for p in config_pools(paper))
    with pytest.raises(ValueError, match="no fitzpatrick17k class is named 'acne'"):
        shard_images(paper, "fitzpatrick17k", "inpaint", "pretrained", "all", "acne", 0)


def test_a_runs_training_images_are_its_real_and_synthetic_images(paper):
    run = GridRun("authors", 8, "inpaint-pretrained", 10, True, 111108)
    assert grid_training_images(paper, run) == 9 * 8 * 11
    assert ddi_training_images(paper, DdiRun("none", 0, False, 0)) == 464

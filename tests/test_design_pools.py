"""dermsynth.design.pools: the synthetic pools follow from the classifier runs that read them."""

from __future__ import annotations

import pytest

from dermsynth.design.pools import (
    ONE_MODEL,
    Pool,
    class_slug,
    config_pools,
    dreambooth_models,
    dreambooth_pool,
    dreambooth_settings,
    dreambooth_slug,
    dreambooth_slugs,
    dreambooth_splits,
    grid_pool_n,
    grid_run_pool,
    pool_images,
    shard_count,
    split_source,
    synthetic_pools,
)
from dermsynth.design.runs import GridRun, largest_real_per_class, section_grid_runs

GRID = {  # strict's grid
    "protocols": ["strict"],
    "real_per_class": [1, 8],
    "sources": ["none", "inpaint-pretrained", "inoutpaint-dreambooth"],
    "synthetic_per_real": 10,
    "transforms": [False, True],
    "seeds": 2,
    "image_size": 224,  # keys the runs do not use are ignored
}
DDI = {
    "sources": ["none", "inoutpaint-pretrained"],
    "synthetic_per_real": 10,
    "transforms": [True],
    "seeds": 1,
}


def test_a_source_is_a_method_and_a_variant():
    assert split_source("inoutpaint-dreambooth") == ("inoutpaint", "dreambooth")
    for bad in ("inpaint", "outpaint-pretrained", "inpaint-finetuned"):
        with pytest.raises(ValueError, match="method"):
            split_source(bad)


def test_pretrained_sets_make_one_nested_pool_for_the_largest_n():
    pools = synthetic_pools(GRID, None, "per_n")
    pretrained = [p for p in pools if p.variant == "pretrained"]
    assert pretrained == [Pool("fitzpatrick17k", "inpaint", "pretrained", 8, 10)]


def test_per_n_dreambooth_makes_a_pool_per_n_and_full_pool_one():
    per_n = [p for p in synthetic_pools(GRID, None, "per_n") if p.variant == "dreambooth"]
    assert {(p.method, p.n) for p in per_n} == {
        ("inpaint", 1),
        ("inpaint", 8),
        ("inoutpaint", 1),
        ("inoutpaint", 8),
    }
    full = [p for p in synthetic_pools(GRID, None, "full_pool") if p.variant == "dreambooth"]
    assert {(p.method, p.n) for p in full} == {("inpaint", 8), ("inoutpaint", 8)}
    largest = {("strict", "inpaint-dreambooth"): 8, ("strict", "inpaint-pretrained"): 8}
    run = GridRun("strict", 1, "inpaint-dreambooth", 10, True, 0)
    assert grid_pool_n(run, largest, "per_n") == 1
    assert grid_pool_n(run, largest, "full_pool") == 8
    assert (
        grid_pool_n(GridRun("strict", 1, "inpaint-pretrained", 10, True, 0), largest, "per_n") == 8
    )


def test_the_authors_pools_are_every_training_image_and_strict_reads_their_pretrained_images():
    authors = {**GRID, "protocols": ["authors"]}
    pools = synthetic_pools(authors, None, "per_n")
    assert {(p.source, p.n) for p in pools} == {
        ("inpaint-pretrained", None),
        ("inoutpaint-dreambooth", None),
        ("inpaint-dreambooth", None),
    }
    both = {**GRID, "protocols": ["authors", "strict"]}
    pools = synthetic_pools(both, None, "per_n")
    # pretrained images are made once, in the `all` pool; DreamBooth pools are each protocol's
    assert [p.n for p in pools if p.source == "inpaint-pretrained"] == [None]
    assert {p.n for p in pools if p.source == "inpaint-dreambooth"} == {None, 1, 8}
    runs = largest_real_per_class(section_grid_runs(both))
    strict_pretrained = GridRun("strict", 1, "inpaint-pretrained", 10, True, 0)
    assert grid_run_pool(strict_pretrained, pools, runs, "per_n").name == "all"
    strict_dreambooth = GridRun("strict", 1, "inoutpaint-dreambooth", 10, True, 0)
    assert grid_run_pool(strict_dreambooth, pools, runs, "per_n").name == "n1"
    authors_dreambooth = GridRun("authors", 1, "inoutpaint-dreambooth", 10, True, 0)
    assert grid_run_pool(authors_dreambooth, pools, runs, "per_n").name == "all"


def test_a_dose_response_from_a_first_index_makes_the_images_beyond_it():
    grid = {
        **GRID,
        "protocols": ["authors"],
        "dose_response": {
            "real_per_class": [8],
            "synthetic_per_real": [25, 75],
            "first_index": 10,
            "sources": ["inpaint-pretrained"],
        },
    }
    (pool,) = [p for p in synthetic_pools(grid, None, "per_n") if p.source == "inpaint-pretrained"]
    assert (pool.n, pool.per_source) == (None, 85)


def test_inoutpaint_brings_the_inpaint_pool_it_starts_from_even_unread():
    pools = synthetic_pools(None, DDI, "per_n")
    assert pools == [
        Pool("ddi", "inoutpaint", "pretrained", None, 10),
        Pool("ddi", "inpaint", "pretrained", None, 10),
    ]


def test_per_source_is_the_largest_count_any_run_reads():
    grid = {
        **GRID,
        "dose_response": {
            "real_per_class": [8],
            "synthetic_per_real": [25, 75],
            "sources": ["inpaint-pretrained"],
        },
    }
    (pool,) = [p for p in synthetic_pools(grid, None, "per_n") if p.source == "inpaint-pretrained"]
    assert (pool.n, pool.per_source) == (8, 75)  # strict: its largest n
    # the dreambooth inpaint pool behind inoutpaint keeps the grid's 10
    dreambooth = [p for p in synthetic_pools(grid, None, "per_n") if p.variant == "dreambooth"]
    assert {p.per_source for p in dreambooth} == {10}


def test_dreambooth_models_are_one_per_base_dataset_and_n():
    pools = synthetic_pools(GRID, DDI, "per_n")
    assert dreambooth_models(pools) == [
        ("inpaint", "fitzpatrick17k", 1),
        ("inpaint", "fitzpatrick17k", 8),
    ]


def test_ddi_has_one_dreambooth_model_for_both_classes_where_configured_as_the_authors():
    ddi = {"one_model": True, "splits": ["train", "val"], "settings": {"epochs": 25}}
    authors = {"settings": {"epochs": 4, "lr": 5e-6}, "ddi": ddi}
    per_class = {"settings": {"epochs": 4}}
    classes = ["benign", "malignant"]
    assert dreambooth_slugs(authors, "ddi", classes) == [ONE_MODEL]
    assert dreambooth_slug(authors, "ddi", "benign") == ONE_MODEL == "all"
    assert dreambooth_slugs(per_class, "ddi", classes) == classes
    assert dreambooth_slug(per_class, "ddi", "benign") == "benign"
    # the per-class datasets keep a model per class
    assert dreambooth_slugs(authors, "fitzpatrick17k", ["lichen planus"]) == ["lichen_planus"]
    assert dreambooth_splits(authors, "ddi") == ["train", "val"]
    assert dreambooth_splits(authors, "fitzpatrick17k") == ["train"]
    assert dreambooth_settings(authors, "ddi") == {"epochs": 25, "lr": 5e-6}
    assert dreambooth_settings(authors, "fitzpatrick17k") == {"epochs": 4, "lr": 5e-6}
    for splits in (["train", "test"], ["val"]):
        with pytest.raises(ValueError, match="never test"):
            dreambooth_splits({"ddi": {"splits": splits}}, "ddi")


def test_pool_images_count_n_sources_per_class_or_the_declared_counts():
    classes = ["a", "b", "c"]
    assert pool_images(Pool("fitzpatrick17k", "inpaint", "pretrained", 8, 10), classes, {}) == 240
    ddi = Pool("ddi", "inpaint", "pretrained", None, 10)
    expected = {"ddi": {"benign": 3, "malignant": 2}}
    assert pool_images(ddi, ["benign", "malignant"], expected) == 50
    with pytest.raises(ValueError, match=r"sd.sources_per_class.ddi .*\['malignant'\]"):
        pool_images(ddi, ["benign", "malignant"], {"ddi": {"benign": 3}})
    every = Pool("fitzpatrick17k", "text2img", "dreambooth", None, 85)
    assert pool_images(every, ["a", "b"], {"fitzpatrick17k": {"a": 584, "b": 272}}) == 856 * 85


def test_shards_hold_about_images_per_shard_and_never_none():
    assert shard_count(228, 10, 3000) == 1
    assert shard_count(228, 75, 3000) == 6
    assert shard_count(0, 10, 3000) == 1


def test_class_slugs_are_path_components():
    assert class_slug("squamous cell carcinoma") == "squamous_cell_carcinoma"
    assert class_slug("Lupus  erythematosus ") == "lupus_erythematosus"


def release_config(release: dict | None, mode: str = "per_n") -> dict:
    grid = {**GRID, "sources": ["none", "text2img-dreambooth", "inpaint-pretrained"]}
    return {
        "classify": {"grid": grid, "ddi": DDI},
        "sd": {"dreambooth": {"mode": mode}, "release": release},
    }


def test_a_release_is_one_prompt_only_pool_per_class_count_that_trains_no_model():
    config = release_config(
        {"dataset": "fitzpatrick17k", "source": "text2img-dreambooth", "per_class": 25}
    )
    pools = config_pools(config)
    release = pools[-1]
    assert release == Pool("fitzpatrick17k", "text2img", "dreambooth", None, 25, release=True)
    assert release.name == "release"
    assert pool_images(release, ["a", "b", "c"], {}) == 75  # per class, whatever the pools
    # it uses the largest DreamBooth text-to-image pool's models and adds none
    assert dreambooth_pool(release, pools).name == "n8"
    assert all(dreambooth_pool(p, pools) is p for p in pools[:-1])
    assert dreambooth_models(pools) == dreambooth_models(pools[:-1])
    assert config_pools(release_config(None)) == pools[:-1]


def test_a_release_is_refused_unless_text_to_image_with_a_model_to_use():
    inpaint = {"dataset": "fitzpatrick17k", "source": "inpaint-pretrained", "per_class": 5}
    with pytest.raises(ValueError, match="from prompts alone.*text2img"):
        config_pools(release_config(inpaint))
    on_ddi = {"dataset": "ddi", "source": "text2img-dreambooth", "per_class": 5}
    with pytest.raises(ValueError, match=r"no classifier run reads text2img-dreambooth.*\.ddi"):
        config_pools(release_config(on_ddi))

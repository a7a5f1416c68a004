"""dermsynth.classify.grid: a grid run's images (nested real pools, synthetic images only of the
pool's sources and only in training, s per real image), its run id, and the grid's runs.

The toy data is classify_fixtures' `write_grid_toy`: four classes, a pool of six per class, four
synthetic images per pool image, DDI's external split with two shared diseases.
"""

from __future__ import annotations

import pandas as pd
import pytest
from classify_fixtures import (
    GRID_CLASSES,
    GRID_SIZE,
    PER_REAL,
    POOL,
    TEST,
    VAL,
    GridToy,
    write_grid_toy,
)

from dermsynth.classify.grid import (
    GridRun,
    external_images,
    grid_runs,
    grid_training_set,
    parse_run_id,
)
from dermsynth.errors import DataError

PAPER_SOURCES = [
    f"{method}-{variant}"
    for method in ("text2img", "inpaint", "inoutpaint")
    for variant in ("pretrained", "dreambooth")
]
PAPER_GRID = {
    "real_per_class": [1, 8, 16, 32, 64, 128, 228],
    "sources": PAPER_SOURCES,
    "synthetic_per_real": 10,
    "transforms": [False, True],
    "seeds": 5,
    "dose_response": {"real_per_class": [128, 228], "synthetic_per_real": [10, 25, 50, 75]},
}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> GridToy:
    """Read-only."""
    return write_grid_toy(tmp_path_factory.mktemp("grid_toy"))


def training_set(toy: GridToy, n: int, per_real: int = 0, **changes) -> dict[str, pd.DataFrame]:
    arguments = {
        "size": GRID_SIZE, "real_per_class": n, "classes": GRID_CLASSES,
        "synthetic": toy.synthetic if per_real else None, "synthetic_per_real": per_real,
    }  # fmt: skip
    return grid_training_set(toy.split, toy.images, **{**arguments, **changes})


def real_ids(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[frame["source"] == "real", "image_id"])


def test_real_pools_are_nested_and_hold_n_images_per_class(toy):
    pools = {n: real_ids(training_set(toy, n)["train"]) for n in (1, 3, POOL)}
    assert pools[1] < pools[3] < pools[POOL]
    for n in (1, 3, POOL):
        counts = training_set(toy, n)["train"]["label"].value_counts()
        assert counts.to_dict() == dict.fromkeys(GRID_CLASSES, n)
    split = pd.read_csv(toy.split, dtype={"pool_rank": "Int64"})
    assert pools[3] == set(split.loc[split["pool_rank"] < 3, "image_id"])


def test_synthetic_images_come_only_from_sources_in_the_pool(toy):
    train = training_set(toy, 2, per_real=3)["train"]
    synthetic = train[train["source"] == "synthetic"]
    assert set(synthetic["image_id"]) == real_ids(train)
    manifest = pd.read_csv(toy.synthetic)
    chosen = manifest[manifest["file"].isin(synthetic["file"])]
    assert (chosen["pool_rank"] < 2).all() and (chosen["index"] < 3).all()
    # every synthetic image keeps its source's label and skin type
    real = train[train["source"] == "real"].set_index("image_id")
    assert (synthetic["label"].to_numpy() == real.loc[synthetic["image_id"], "label"]).all()


@pytest.mark.parametrize(("n", "per_real"), [(1, 1), (2, 3), (POOL, PER_REAL)])
def test_s_synthetic_per_real_image_means_s_per_pool_image(toy, n, per_real):
    train = training_set(toy, n, per_real=per_real)["train"]
    synthetic = train[train["source"] == "synthetic"]
    assert len(synthetic) == per_real * n * len(GRID_CLASSES)
    assert set(synthetic["image_id"].value_counts()) == {per_real}


def test_val_and_test_are_real_images_only_whatever_the_run(toy):
    for n, per_real in ((1, 0), (POOL, PER_REAL)):
        frames = training_set(toy, n, per_real=per_real)
        synthetic_files = set(pd.read_csv(toy.synthetic)["file"])
        for name, per_class in (("val", VAL), ("test", TEST)):
            assert set(frames[name]["source"]) == {"real"}
            assert not synthetic_files & set(frames[name]["file"])
            assert len(frames[name]) == per_class * len(GRID_CLASSES)
        assert not real_ids(frames["train"]) & set(frames["test"]["image_id"])


def test_a_synthetic_image_made_from_a_test_image_is_refused(toy, tmp_path):
    manifest = pd.read_csv(toy.synthetic)
    split = pd.read_csv(toy.split)
    test_image = split.loc[split["split"] == "test"].iloc[0]
    manifest.loc[5, ["source_image", "class"]] = [test_image["image_id"], test_image["label"]]
    manifest.to_csv(bad := tmp_path / "manifest.csv", index=False)
    with pytest.raises(DataError, match=rf"{bad}, line 7: .*a test image: synthetic images may"):
        training_set(toy, 1, per_real=1, synthetic=bad)


def test_too_few_synthetic_images_per_real_image_is_an_error(toy):
    with pytest.raises(DataError, match=rf"fewer than {PER_REAL + 1} synthetic images"):
        training_set(toy, 1, per_real=PER_REAL + 1)


def test_a_manifest_pool_rank_contradicting_its_source_is_an_error(toy, tmp_path):
    manifest = pd.read_csv(toy.synthetic)
    manifest.loc[0, "pool_rank"] = 3
    manifest.to_csv(bad := tmp_path / "manifest.csv", index=False)
    with pytest.raises(DataError, match=r"line 2: pool_rank 3 but its source .* has 0"):
        training_set(toy, 1, per_real=1, synthetic=bad)


def test_manifest_shards_are_read_together(toy, tmp_path):
    manifest = pd.read_csv(toy.synthetic)
    halves = [tmp_path / "a.csv", tmp_path / "b.csv"]
    manifest.iloc[::2].to_csv(halves[0], index=False)
    manifest.iloc[1::2].to_csv(halves[1], index=False)
    whole = training_set(toy, 2, per_real=2)["train"]
    sharded = training_set(toy, 2, per_real=2, synthetic=halves)["train"]
    assert set(sharded["file"]) == set(whole["file"])


def test_more_real_images_than_the_pool_holds_is_an_error(toy):
    with pytest.raises(DataError, match=rf"fewer than {POOL + 1} training pool images"):
        training_set(toy, POOL + 1)


def test_run_ids_round_trip():
    for run in (
        GridRun(1, "none", 0, False, 0),
        GridRun(228, "inoutpaint-dreambooth", 75, True, 4),
    ):
        assert parse_run_id(run.run_id) == run
    assert (
        GridRun(8, "inpaint-pretrained", 10, True, 2).run_id
        == "n8_sinpaint-pretrained_x10_t1_seed2"
    )
    with pytest.raises(ValueError, match="not a grid run id"):
        parse_run_id("n8_sinpaint_x10_t2_seed0")
    with pytest.raises(ValueError, match="'none' goes with 0"):
        GridRun(8, "none", 10, True, 0)
    with pytest.raises(ValueError, match="letters, digits and hyphens"):
        GridRun(8, "in_paint", 10, True, 0)


def test_the_paper_grid_has_490_runs_and_360_dose_response_runs_more():
    runs = grid_runs(PAPER_GRID)
    main = [r for r in runs if r.synthetic_per_real in (0, 10)]
    # 7 real counts x (none + 3 methods x 2 variants) x transforms yes/no x 5 seeds
    assert len(main) == 7 * 7 * 2 * 5 == 490
    # dose response: 2 real counts x 6 sources x (25, 50, 75) x 2 x 5; the x10 runs are the grid's
    assert len(runs) - len(main) == 2 * 6 * 3 * 2 * 5 == 360
    assert len({r.run_id for r in runs}) == len(runs) == 850
    assert {r.synthetic_per_real for r in runs if r.source == "none"} == {0}
    narrow = {**PAPER_GRID, "dose_response": {**PAPER_GRID["dose_response"],
              "sources": ["inpaint-dreambooth"], "transforms": [True]}}  # fmt: skip
    assert len(grid_runs(narrow)) == 490 + 2 * 3 * 5


def test_an_unknown_grid_key_is_an_error():
    with pytest.raises(ValueError, match=r"unknown grid key\(s\) \['seed'\]"):
        grid_runs({**PAPER_GRID, "seed": 0})


def test_ddi_external_images_are_the_shared_diseases_labelled_with_their_class(toy):
    ddi = external_images(toy.ddi_external, toy.ddi_images, size=GRID_SIZE, classes=GRID_CLASSES)
    external = pd.read_csv(toy.ddi_external, keep_default_na=False)
    shared = external[external["shared_label"] != ""]
    assert len(ddi) == len(shared) < len(external)
    assert set(ddi["label"]) == {"basal cell carcinoma", "squamous cell carcinoma"}
    assert set(ddi["skin_type"].astype(str)) == {"12", "34", "56"}

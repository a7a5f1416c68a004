"""dermsynth.classify.paper2_grid: a grid run's images (its protocol's draw of real images,
synthetic images only of those sources, only in training, s per real image from the run's first
index).

The toy data is classify_fixtures' `write_grid_toy`: four classes of `POOL + VAL` training rows
(a pool of `POOL` after the validation draw), `PER_REAL` synthetic images per training row, DDI's
external split with two shared diseases.
"""

from __future__ import annotations

import numpy as np
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
    toy_run_frames,
    write_grid_toy,
)
from released_fixtures import MAPPING, write_authors_release

from dermsynth.classify.paper2_grid import (
    external_images,
    grid_training_set,
    synthetic_origin_of,
)
from dermsynth.data.released import index_released
from dermsynth.design.released import authors_label
from dermsynth.design.runs import NO_SYNTHETIC, GridRun
from dermsynth.errors import DataError
from dermsynth.images import load_rgb


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> GridToy:
    """Read-only."""
    return write_grid_toy(tmp_path_factory.mktemp("grid_toy"))


def training_set(
    toy: GridToy,
    n: int,
    per_real: int = 0,
    *,
    protocol: str = "authors",
    seed: int = 0,
    first_index: int = 0,
    **changes,
) -> dict[str, pd.DataFrame]:
    source = "inpaint-pretrained" if per_real else NO_SYNTHETIC
    run = GridRun(protocol, n, source, per_real, True, seed, first_index)
    arguments = {
        "size": GRID_SIZE,
        "run": run,
        "classes": GRID_CLASSES,
        "val_per_class": VAL,
        "split_seed": 0,
        "synthetic": toy.synthetic if per_real else None,
    }
    return grid_training_set(toy.split, toy.images, **{**arguments, **changes})


def real_ids(frame: pd.DataFrame) -> set[str]:
    return set(frame.loc[frame["source"] == "real", "image_id"])


@pytest.mark.parametrize("protocol", ["authors", "strict"])
def test_real_draws_are_nested_in_n_and_hold_n_images_per_class(toy, protocol):
    pools = {n: real_ids(training_set(toy, n, protocol=protocol)["train"]) for n in (1, 3, POOL)}
    assert pools[1] < pools[3] < pools[POOL]
    for n in (1, 3, POOL):
        counts = training_set(toy, n, protocol=protocol)["train"]["label"].value_counts()
        assert counts.to_dict() == dict.fromkeys(GRID_CLASSES, n)


def test_authors_seeds_draw_other_images_and_strict_seeds_do_not(toy):
    def drawn(protocol, seed):
        frames = training_set(toy, 3, protocol=protocol, seed=seed)
        return real_ids(frames["train"]), set(frames["val"]["image_id"])

    assert drawn("authors", 1) != drawn("authors", 2)
    assert drawn("strict", 1) == drawn("strict", 2) == drawn("authors", 0)  # split seed 0


def test_synthetic_images_come_only_from_the_runs_real_images(toy):
    train = training_set(toy, 2, per_real=3)["train"]
    synthetic = train[train["source"] == "synthetic"]
    assert set(synthetic["image_id"]) == real_ids(train)
    manifest = pd.read_csv(toy.synthetic)
    chosen = manifest[manifest["file"].isin(synthetic["file"])]
    assert (chosen["index"] < 3).all()
    # every synthetic image keeps its source's label and skin type
    real = train[train["source"] == "real"].set_index("image_id")
    assert (synthetic["label"].to_numpy() == real.loc[synthetic["image_id"], "label"]).all()


def test_a_run_from_a_first_index_reads_the_images_after_it(toy):
    train = training_set(toy, 2, per_real=2, first_index=1)["train"]
    files = set(train.loc[train["source"] == "synthetic", "file"])
    manifest = pd.read_csv(toy.synthetic)
    assert set(manifest.loc[manifest["file"].isin(files), "index"]) == {1, 2}
    with pytest.raises(DataError, match=r"fewer than 2 synthetic images \(index 3 to 4\)"):
        training_set(toy, 2, per_real=2, first_index=PER_REAL - 1)


@pytest.mark.parametrize(("n", "per_real"), [(1, 1), (2, 3), (POOL, PER_REAL)])
def test_s_synthetic_per_real_image_means_s_per_drawn_image(toy, n, per_real):
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
        assert not real_ids(frames["train"]) & set(frames["val"]["image_id"])


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


def test_manifest_shards_are_read_together(toy, tmp_path):
    manifest = pd.read_csv(toy.synthetic)
    halves = [tmp_path / "a.csv", tmp_path / "b.csv"]
    manifest.iloc[::2].to_csv(halves[0], index=False)
    manifest.iloc[1::2].to_csv(halves[1], index=False)
    whole = training_set(toy, 2, per_real=2)["train"]
    sharded = training_set(toy, 2, per_real=2, synthetic=halves)["train"]
    assert set(sharded["file"]) == set(whole["file"])


def test_more_real_images_than_the_pool_holds_is_an_error(toy):
    with pytest.raises(DataError, match=rf"fewer than {POOL + 1} pool images"):
        training_set(toy, POOL + 1)


def test_ddi_external_images_are_the_shared_diseases_labelled_with_their_class(toy):
    ddi = external_images(toy.ddi_external, toy.ddi_images, size=GRID_SIZE, classes=GRID_CLASSES)
    external = pd.read_csv(toy.ddi_external, keep_default_na=False)
    shared = external[external["shared_label"] != ""]
    assert len(ddi) == len(shared) < len(external)
    assert set(ddi["label"]) == {"basal cell carcinoma", "squamous cell carcinoma"}
    assert set(ddi["skin_type"].astype(str)) == {"12", "34", "56"}


RELEASED = "released-text2img-dreambooth"


def released_pixels(md5hash: str, generation: str) -> np.ndarray:
    return np.full(
        (GRID_SIZE, GRID_SIZE, 3), (sum(map(ord, md5hash)) + int(generation)) % 256, np.uint8
    )


def write_released_index(toy: GridToy, folder, rows=None) -> str:
    """The authors' text-to-image DreamBooth shards of the toy's training rows (or `rows`: image
    id, label), PER_REAL generations each, as their scripts write them; their index."""
    split = pd.read_csv(toy.split, dtype=str)
    if rows is None:
        rows = split.loc[split["split"] == "train", ["image_id", "label"]].itertuples(index=False)
    sources = [(image_id, authors_label(label)) for image_id, label in rows]
    generations = [f"{k:02d}" for k in range(PER_REAL)]
    write_authors_release(
        folder / "shards",
        sources,
        "finetune_text_to_image",
        "text-to-image",
        released_pixels,
        generations=generations,
    )
    index = folder / "index.csv"
    index_released(folder / "shards", MAPPING).to_csv(index, index=False)
    return str(index)


def released_set(toy, index, n=2, per_real=3, first_index=0):
    run = GridRun("authors", n, RELEASED, per_real, True, 0, first_index)
    return toy_run_frames(toy, run, synthetic=index)


def test_a_grid_run_reads_a_released_source_from_the_authors_tars(toy, tmp_path):
    index = write_released_index(toy, tmp_path)
    train = released_set(toy, index, first_index=1)["train"]
    synthetic = train[train["source"] == "synthetic"]
    assert set(synthetic["image_id"]) == real_ids(train)
    assert len(synthetic) == 3 * 2 * len(GRID_CLASSES)
    assert all(".tar#" in f for f in synthetic["file"])
    first = synthetic.iloc[0]
    generation = first["file"].split("_text_to_image_generations1_")[1][:2]
    assert generation in {"01", "02", "03"}  # generation_num 01-03: indices 1-3
    np.testing.assert_array_equal(
        load_rgb(first["file"], GRID_SIZE), released_pixels(first["image_id"], generation)
    )
    real = train[train["source"] == "real"].set_index("image_id")
    assert (synthetic["label"].to_numpy() == real.loc[synthetic["image_id"], "label"]).all()
    origin = synthetic_origin_of(train, RELEASED, index)
    assert origin["origin"] == "released" and origin["read_by"] == [index]
    assert origin["shard_folder"] == str(tmp_path / "shards")
    assert origin["n_shards"] == len(GRID_CLASSES)  # one shard per class, as theirs


def test_a_released_image_of_an_image_outside_the_split_is_an_error_naming_shard_and_key(
    toy, tmp_path
):
    index = write_released_index(toy, tmp_path, rows=[("ffff0000", "psoriasis")])
    message = (
        r"shard-psoriasis-finetune-text-to-image-text-to-image-00000\.tar, key psoriasis_"
        r"finetune_text_to_image_text_to_image_generations1_0\d_ffff0000: source_image "
        r"'ffff0000' is not in the split"
    )
    with pytest.raises(DataError, match=message):
        released_set(toy, index)


def test_a_released_image_of_a_test_image_is_refused(toy, tmp_path):
    split = pd.read_csv(toy.split, dtype=str)
    test_row = split[split["split"] == "test"].iloc[0]
    index = write_released_index(toy, tmp_path, rows=[(test_row["image_id"], test_row["label"])])
    with pytest.raises(DataError, match=r"\.tar, key .*: made from .*a test image"):
        released_set(toy, index)


def test_a_missing_released_shard_is_an_error_naming_the_shard_and_key(toy, tmp_path):
    index = write_released_index(toy, tmp_path)
    shard = next((tmp_path / "shards").glob("shard-psoriasis-*.tar"))
    shard.unlink()
    message = (
        rf"{shard}#psoriasis_.*\.png: synthetic image missing \(\d+ of this run's; its "
        rf"WebDataset shard is missing; listed at {shard}, key psoriasis_"
    )
    with pytest.raises(DataError, match=message):
        released_set(toy, index)

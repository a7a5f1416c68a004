"""dermsynth.classify.paper2_ddi: the runs of the DDI experiment, and each run's images: every real
training image of DDI's paper split and its synthetic ones (never a val or test image's)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from classify_fixtures import (
    DDI_PER_REAL,
    DDI_TRAIN,
    GRID_SIZE,
    write_grid_toy,
)
from released_fixtures import MAPPING, write_authors_release

from dermsynth.classify.paper2_ddi import ddi_training_set
from dermsynth.data.released import index_released
from dermsynth.design.runs import DdiRun, ddi_runs, parse_ddi_run_id
from dermsynth.errors import DataError


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_grid_toy(tmp_path_factory.mktemp("ddi_toy"))


def test_every_real_training_image_trains_with_its_synthetic_ones(toy):
    frames = ddi_training_set(
        toy.ddi_paper,
        toy.ddi_images,
        size=GRID_SIZE,
        synthetic=toy.ddi_synthetic,
        synthetic_per_real=DDI_PER_REAL,
    )
    train = frames["train"]
    assert (train["source"] == "real").sum() == DDI_TRAIN
    synthetic = train[train["source"] == "synthetic"]
    assert len(synthetic) == DDI_PER_REAL * DDI_TRAIN
    assert set(synthetic["image_id"]) == set(train.loc[train["source"] == "real", "image_id"])
    for name in ("val", "test"):
        assert set(frames[name]["source"]) == {"real"}
    real_only = ddi_training_set(toy.ddi_paper, toy.ddi_images, size=GRID_SIZE)
    assert len(real_only["train"]) == DDI_TRAIN


def test_a_synthetic_image_of_a_validation_image_is_refused(toy, tmp_path):
    manifest = pd.read_csv(toy.ddi_synthetic)
    split = pd.read_csv(toy.ddi_paper, dtype=str)
    val = split[split["split"] == "val"].iloc[0]
    manifest.loc[0, ["source_image", "class"]] = [val["image_id"], val["label"]]
    manifest.to_csv(bad := tmp_path / "m.csv", index=False)
    with pytest.raises(DataError, match="a val image: synthetic images may come from training"):
        ddi_training_set(
            toy.ddi_paper, toy.ddi_images, size=GRID_SIZE, synthetic=bad, synthetic_per_real=1
        )


def test_a_released_source_reads_the_authors_all_folder_by_the_splits_classes(toy, tmp_path):
    # their DDI images lie in the folder of their one model of every class, `all`
    split = pd.read_csv(toy.ddi_paper, dtype=str)
    train = split[split["split"] == "train"]
    write_authors_release(
        tmp_path / "shards",
        [(i, "all") for i in train["image_id"]],
        "finetune_inpaint",
        "inpaint",
        lambda md5, g: np.zeros((8, 8, 3), np.uint8),
        generations=["00", "01"],
    )
    index_released(tmp_path / "shards", MAPPING).to_csv(index := tmp_path / "i.csv", index=False)
    frames = ddi_training_set(
        toy.ddi_paper,
        toy.ddi_images,
        size=GRID_SIZE,
        synthetic=index,
        synthetic_per_real=2,
        source="released-inpaint-dreambooth",
    )
    synthetic = frames["train"][frames["train"]["source"] == "synthetic"]
    assert len(synthetic) == 2 * DDI_TRAIN and all(".tar#all_" in f for f in synthetic["file"])
    labels = dict(zip(train["image_id"], train["label"], strict=True))
    assert list(synthetic["label"]) == [labels[i] for i in synthetic["image_id"]]


def test_run_ids_round_trip_and_the_authors_runs_count():
    run = DdiRun("inoutpaint-pretrained", 10, True, 3)
    assert run.run_id == "sinoutpaint-pretrained_x10_t1_seed3"
    assert parse_ddi_run_id(run.run_id) == run
    authors = {
        "sources": ["inpaint-pretrained", "inoutpaint-pretrained"],
        "synthetic_per_real": 10,
        "transforms": [False, True],
        "seeds": 5,
    }
    runs = ddi_runs(authors)
    assert len(runs) == 3 * 2 * 5
    assert {r.synthetic_per_real for r in runs if r.source == "none"} == {0}

"""dermsynth.classify.paper2_ddi_run: one DDI malignancy run trains on every real training image and
its synthetic ones, and reports accuracy with an interval overall and per skin-tone group, on
real test images only."""

from __future__ import annotations

import json

import pytest
from classify_fixtures import (
    DDI_TONES,
    DDI_TRAIN,
    GRID_SIZE,
    TINY_GRID_SETTINGS,
    toy_run_files,
    write_grid_toy,
)

from dermsynth.classify.paper2_ddi_run import run_ddi

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SETTINGS = TINY_GRID_SETTINGS


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return write_grid_toy(tmp_path_factory.mktemp("ddi_toy"))


def test_a_run_reports_accuracy_overall_and_per_skin_tone(toy, tmp_path):
    record = run_ddi(
        split=toy.ddi_paper,
        images_dir=toy.ddi_images,
        size=GRID_SIZE,
        run_id="sinpaint-pretrained_x2_t1_seed0",
        settings=SETTINGS,
        synthetic=toy.ddi_synthetic,
        files=toy_run_files(tmp_path),
        run="test",
        device="cpu",
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["test_set"] == "real images only"
    assert (record["n_train_real"], record["n_train_synthetic"]) == (DDI_TRAIN, 2 * DDI_TRAIN)
    overall, tones = record["accuracy"], record["per_skin_tone"]
    assert list(tones) == list(DDI_TONES)
    assert sum(t["n"] for t in tones.values()) == overall["n"] == record["n_test"] == 9
    assert sum(t["correct"] for t in tones.values()) == overall["correct"]
    for value in (overall, *tones.values()):
        assert value["ci_low"] <= value["accuracy"] <= value["ci_high"]
    assert set(record["per_class"]) == {"benign", "malignant"}
    assert not (tmp_path / "c.pt").exists()

"""dermsynth.classify.paper2_grid_run: one grid run from files to files trains on the run id's
images, tests on the held-out real images (top-1 and top-3 with intervals, per class and skin type)
and on DDI's shared diseases, and writes what metrics.json promises; the checkpoint is removed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from classify_fixtures import (
    GRID_CLASSES,
    GRID_RUN_ID,
    GRID_SIZE,
    TEST,
    TINY_GRID_SETTINGS,
    VAL,
    run_toy_grid,
    write_grid_toy,
)

from dermsynth.classify import authors
from dermsynth.classify.paper2_efficientnet import load_efficientnet
from dermsynth.classify.paper2_grid_run import logits_of
from dermsynth.classify.settings import GridSettings
from dermsynth.classify.state import trainable_parameters
from dermsynth.classify.train import HISTORY_COLUMNS
from dermsynth.data.preprocess import resized_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SETTINGS = TINY_GRID_SETTINGS
RUN_ID = GRID_RUN_ID


def products(files) -> dict[str, Path]:
    """A run's products by name (its resume state aside)."""
    return {
        "metrics": files.metrics,
        "history": files.history,
        "timing": files.timing,
        "model": files.model,
    }


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grid_run")
    toy = write_grid_toy(root / "toy")
    record, files = run_toy_grid(
        toy, root / "out", ddi_split=toy.ddi_external, ddi_images=toy.ddi_images
    )
    return toy, root, products(files), record


def test_metrics_json_names_the_run_and_its_images(grid_run):
    _, _, outputs, record = grid_run
    written = json.loads(outputs["metrics"].read_text())
    assert written == json.loads(json.dumps(record))
    assert written["test_set"] == "real images only"
    assert (written["run_id"], written["real_per_class"], written["source"]) == (
        RUN_ID,
        3,
        "inpaint-pretrained",
    )
    assert (written["synthetic_per_real"], written["transforms"], written["seed"]) == (2, True, 1)
    assert written["settings"]["seed"] == 1 and written["settings"]["transforms"] is True
    counts = [written[k] for k in ("n_train_real", "n_train_synthetic", "n_test")]
    assert counts == [3 * 4, 2 * 3 * 4, TEST * 4]
    assert written["n_train_per_class"] == dict.fromkeys(GRID_CLASSES, 3 + 6)
    assert written["settings"]["batch_size"] == 8  # 36 images: 36 // 10 clipped up to 8
    assert written["ci_method"].startswith("Wilson")


def test_metrics_json_names_the_protocol_and_the_real_images_drawn(grid_run):
    toy, _, outputs, _ = grid_run
    written = json.loads(outputs["metrics"].read_text())
    assert (written["protocol"], written["draw_seed"], written["first_index"]) == ("authors", 1, 0)
    real = written["real_images"]
    assert len(real["train"]) == 3 * 4 and len(real["val"]) == VAL * 4
    split = pd.read_csv(toy.split)
    training = set(split.loc[split["split"] == "train", "image_id"])
    assert set(real["train"]) | set(real["val"]) <= training
    assert not set(real["train"]) & set(real["val"])


def test_accuracies_come_with_intervals_that_hold_them(grid_run):
    _, _, _, record = grid_run
    assert record["top3"]["accuracy"] >= record["top1"]["accuracy"]
    for value in (record["top1"], record["top3"], record["ddi_external"]["top1_shared_classes"]):
        assert value["ci_low"] <= value["accuracy"] <= value["ci_high"]
    per_type = record["per_skin_type"]
    assert sum(v["top1"]["n"] for v in per_type.values()) == record["n_test"]
    assert {v["top1"]["n"] for v in record["per_class"].values()} == {TEST}


def test_ddi_external_is_scored_on_the_shared_diseases_only(grid_run):
    toy, _, _, record = grid_run
    external = pd.read_csv(toy.ddi_external, keep_default_na=False)
    ddi = record["ddi_external"]
    assert ddi["top1_all_classes"]["n"] == (external["shared_label"] != "").sum()
    assert ddi["shared_classes"] == ["basal cell carcinoma", "squamous cell carcinoma"]
    assert ddi["top1_shared_classes"]["accuracy"] >= ddi["top1_all_classes"]["accuracy"]


def test_outputs_are_written_and_the_checkpoint_removed(grid_run):
    toy, root, outputs, record = grid_run
    history = pd.read_csv(outputs["history"])
    assert list(history.columns) == HISTORY_COLUMNS and len(history) == record["epochs_run"] == 2
    timing = json.loads(outputs["timing"].read_text())
    assert len(timing["epoch_seconds"]) == 2 and timing["train_seconds"] > 0
    assert "train_seconds" not in record
    assert not (root / "out" / "resume.pt").exists()
    # the saved weights score the test images as the run did
    model, classes = load_efficientnet(outputs["model"])
    split = pd.read_csv(toy.split)
    test = split[split["split"] == "test"]
    frame = pd.DataFrame(
        {
            "file": [str(toy.images / str(GRID_SIZE) / f"{i}.png") for i in test["image_id"]],
            "label": test["label"],
        }
    )
    logits = logits_of(model, frame, classes, GridSettings(**SETTINGS), "cpu")
    truth = np.array([classes.index(c) for c in test["label"]])
    assert (logits.argmax(1) == truth).sum() == record["top1"]["correct"]


def test_a_run_without_synthetic_images_reads_no_manifest(grid_run, tmp_path):
    toy, _, _, _ = grid_run
    record, _ = run_toy_grid(
        toy,
        tmp_path,
        run_id="n1_snone_x0_t0_seed0",
        protocol="strict",
        settings={**SETTINGS, "epochs": 1},
        synthetic=None,
    )
    assert (record["n_train_real"], record["n_train_synthetic"]) == (4, 0)
    assert record["ddi_external"] is None and record["source"] == "none"


def test_a_run_in_the_authors_regime_records_it_and_keeps_the_last_epoch(tmp_path):
    toy = write_grid_toy(tmp_path / "toy")
    settings = {"regime": "authors", "image_size": GRID_SIZE, "epochs": 2, "lr": 1e-2}
    record, files = run_toy_grid(toy, tmp_path / "out", settings=settings)
    outputs = products(files)
    written = json.loads(outputs["metrics"].read_text())
    assert written == json.loads(json.dumps(record))
    assert (written["regime"], written["model_name"]) == ("authors", "efficientnet_v2_m")
    network = authors.build_model(len(GRID_CLASSES))
    assert written["trainable_parameters"] == trainable_parameters(network)
    assert written["parameters"] == sum(p.numel() for p in network.parameters())
    assert written["epoch_kept"] == written["epochs_run"] == 2  # the last, as learn.fit keeps
    assert written["settings"]["batch_size"] == 8 and written["settings"]["restore_best"] is False
    # model.pt holds what training changed; the frozen body is rebuilt from the seeded init
    assert outputs["model"].stat().st_size < 20e6
    model, classes = load_efficientnet(outputs["model"])
    assert classes == GRID_CLASSES
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in network.named_parameters()]
    frame = pd.read_csv(toy.split).query("split == 'test'").head(4)
    frame = frame.assign(
        file=[str(resized_path(toy.images, GRID_SIZE, i)) for i in frame["image_id"]]
    )
    saved = json.loads(outputs["metrics"].read_text())
    assert saved["regime"] == "authors"
    logits = logits_of(model, frame, classes, GridSettings(**settings), "cpu")
    assert logits.shape == (4, len(GRID_CLASSES)) and np.isfinite(logits).all()

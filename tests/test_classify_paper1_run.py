"""dermsynth.classify.paper1_run and .evaluate: one ablation run from files to files learns the toy
dataset's colour-coded classes, tests on the test set its composition names (real images only,
or, as the paper did, the arm's own images), and reports what metrics.json promises; its
figures, history and weights are written and the checkpoint removed."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from classify_fixtures import CLASSES, SIZE, write_toy_dataset

from dermsynth.classify.evaluate import classification_metrics
from dermsynth.classify.paper1_data import load_image_set, variant_frames
from dermsynth.classify.paper1_run import load_model, run_paper_cnn
from dermsynth.classify.paper1_table3 import gather_table3
from dermsynth.classify.run_files import RunFiles
from dermsynth.classify.settings import CNNSettings
from dermsynth.classify.train import HISTORY_COLUMNS, predict

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REFERENCE = Path(__file__).resolve().parents[1] / "resources" / "reference"
PAPER_TABLE3 = REFERENCE / "shavlokhova2023_table3.csv"
PAPER_TABLE2 = REFERENCE / "shavlokhova2023_table2.csv"
SETTINGS = CNNSettings(
    epochs=25,
    batch_size=4,
    lr=3e-3,
    patience=3,
    image_size=SIZE,
    filters=(8, 16, 16),
    dense=32,
    dropout=0.0,
    seed=0,
)
OUTPUTS = ("metrics", "history", "timing", "confusion", "curves", "model")
SUFFIX = {
    "metrics": ".json",
    "history": ".csv",
    "timing": ".json",
    "confusion": ".png",
    "curves": ".png",
    "model": ".pt",
}


def run_arm(toy, folder: Path, **overrides) -> tuple[dict, dict[str, Path]]:
    """`run_paper_cnn` on the toy dataset (the combined arm of paper_random with SETTINGS,
    unless `overrides` say otherwise), writing under `folder`: (its record, its output paths by
    name)."""
    outputs = {name: folder / f"{name}{SUFFIX[name]}" for name in OUTPUTS}
    arguments = {
        "split": toy.split,
        "images_dir": toy.images,
        "variant": "combined",
        "protocol": "paper_random",
        "classes": CLASSES,
        "settings": SETTINGS,
        "synthetic": toy.synthetic,
        "run": "test",
        "device": "cpu",
        **overrides,
    }
    files = RunFiles.from_outputs(outputs, checkpoint=folder / "resume.pt")
    return run_paper_cnn(**arguments, files=files), outputs


@pytest.fixture(scope="module")
def combined(tmp_path_factory):
    """A combined / paper_random run on the toy dataset: (outputs, the record returned)."""
    root = tmp_path_factory.mktemp("run")
    toy = write_toy_dataset(root / "toy")
    record, outputs = run_arm(toy, root / "out")
    return toy, root, outputs, record


def test_the_network_learns_the_colour_coded_classes(combined):
    _, _, _, record = combined
    assert record["accuracy"] == 1.0
    assert record["macro_avg"]["f1"] == 1.0


def test_metrics_json_says_what_was_trained_and_tested(combined):
    _, _, outputs, record = combined
    written = json.loads(outputs["metrics"].read_text())
    assert written == json.loads(json.dumps(record))
    assert written["test_set"] == "real images only"
    assert written["test_set_composition"] == "real"
    assert (written["n_test_real"], written["n_test_synthetic"], written["n_val_synthetic"]) == (
        3,
        0,
        0,
    )
    assert (written["variant"], written["protocol"], written["run"]) == (
        "combined",
        "paper_random",
        "test",
    )
    counts = [written[k] for k in ("n_train_real", "n_train_synthetic", "n_val", "n_test")]
    assert counts == [12, 6, 3, 3]
    # classes in the paper's order (melanoma, nevi, ..., basal cell carcinoma)
    assert list(written["per_class"]) == ["mel", "nv", "bcc"]
    assert set(written["per_class"]["mel"]) == {"name", "precision", "recall", "f1", "support"}
    assert written["per_class"]["nv"]["name"] == "melanocytic nevi"
    assert (
        set(written["macro_avg"])
        == set(written["weighted_avg"])
        == {
            "precision",
            "recall",
            "f1",
            "support",
        }
    )
    history = pd.read_csv(outputs["history"])
    assert written["epochs_run"] == len(history) <= SETTINGS.epochs
    assert written["best_epoch"] == history.loc[history["improved"], "epoch"].iloc[-1]
    assert written["settings"]["filters"] == [8, 16, 16]


def test_outputs_are_written_and_the_checkpoint_removed(combined):
    _, root, outputs, _ = combined
    assert all(path.stat().st_size > 0 for path in outputs.values())
    assert list(pd.read_csv(outputs["history"]).columns) == HISTORY_COLUMNS
    assert outputs["confusion"].read_bytes()[:4] == b"\x89PNG"
    assert not (root / "out" / "resume.pt").exists()


def test_wall_clock_time_is_in_the_timing_file_only(combined):
    _, _, outputs, record = combined
    timing = json.loads(outputs["timing"].read_text())
    assert set(timing) == {"train_seconds", "epoch_seconds"}
    assert len(timing["epoch_seconds"]) == record["epochs_run"]
    assert 0 < sum(timing["epoch_seconds"]) <= timing["train_seconds"]
    assert not any("seconds" in key for key in record)
    assert not any("seconds" in column for column in pd.read_csv(outputs["history"]).columns)


def test_two_runs_of_the_same_inputs_write_the_same_bytes(tmp_path, combined):
    toy, _, _, _ = combined
    written = []
    for attempt in ("first", "second"):
        _, outputs = run_arm(toy, tmp_path / attempt, settings=replace(SETTINGS, epochs=2))
        written.append({name: path.read_bytes() for name, path in outputs.items()})
    for name in OUTPUTS:
        if name != "timing":
            assert written[0][name] == written[1][name], name


def test_saved_weights_predict_as_the_run_did(combined):
    toy, _, outputs, record = combined
    model, classes = load_model(outputs["model"])
    assert classes == CLASSES
    test = variant_frames(toy.split, toy.images, size=SIZE, variant="original", classes=CLASSES)[
        "test"
    ]
    predicted = predict(model, load_image_set(test, list(classes), SIZE), device="cpu")
    assert [list(classes)[i] for i in predicted] == list(test["label"])


def test_a_variant_without_synthetic_images_counts_none(tmp_path, combined):
    toy, _, _, _ = combined
    record, _ = run_arm(
        toy,
        tmp_path,
        variant="original",
        protocol="lesion_grouped",
        settings=replace(SETTINGS, epochs=1),
        synthetic=None,
    )
    assert (record["n_train_real"], record["n_train_synthetic"]) == (12, 0)
    assert record["epochs_run"] == 1 and record["protocol"] == "lesion_grouped"


@pytest.fixture(scope="module")
def paper_composition(tmp_path_factory):
    """The synthetic and combined arms (paper_random) tested on their own images, as the
    paper's were, gathered into Table 3 and Table 2: (records, the tables)."""
    root = tmp_path_factory.mktemp("paper")
    toy = write_toy_dataset(root / "toy")
    records, metrics = [], []
    for variant in ("synthetic", "combined"):
        record, outputs = run_arm(
            toy,
            root / variant,
            variant=variant,
            settings=replace(SETTINGS, epochs=2),
            test_set="paper",
            synthetic_split={"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0},
        )
        records.append(record)
        metrics.append(outputs["metrics"])
    tables = {name: root / f"{name}.csv" for name in ("table", "wide", "table2")}
    gather_table3(
        metrics,
        paper_table3=PAPER_TABLE3,
        table=tables["table"],
        wide=tables["wide"],
        figure=root / "f1.png",
        run="test",
        paper_table2=PAPER_TABLE2,
        table2=tables["table2"],
    )
    read = {name: pd.read_csv(path, dtype={"row": str}) for name, path in tables.items()}
    return records, read


def test_a_paper_composition_run_tests_on_synthetic_images_and_says_so(paper_composition):
    records, _ = paper_composition
    synthetic, combined = records
    for record in records:
        assert record["test_set_composition"] == "paper"
    # six synthetic images: two test, one validates, three train (one per class)
    assert (synthetic["n_test_real"], synthetic["n_test_synthetic"]) == (0, 2)
    assert (synthetic["n_train_synthetic"], synthetic["n_val_synthetic"]) == (3, 1)
    assert synthetic["n_train_real"] == 0 and synthetic["n_val"] == 1
    assert synthetic["test_set"].endswith("(synthetic only)")
    # the combined arm: the split's real images on their sides, and the same synthetic ones
    assert (combined["n_test_real"], combined["n_test_synthetic"]) == (3, 2)
    assert (combined["n_train_real"], combined["n_train_synthetic"]) == (12, 3)
    assert combined["n_val"] == 3 + 1 and combined["n_test"] == 5
    assert combined["test_set"].endswith("(real and synthetic)")


def test_a_paper_composition_run_stands_beside_the_papers_values(paper_composition):
    _, tables = paper_composition
    for name in ("table", "wide", "table2"):
        assert set(tables[name]["test_set_composition"]) == {"paper"}, name
    assert set(tables["table"]["comparable_to_paper"]) == {True}
    assert set(tables["wide"]["comparable_to_paper"]) == {
        "combined_paper_random, synthetic_paper_random"
    }
    wide = tables["wide"].set_index("row")
    assert wide.loc["accuracy", "synthetic_f1_paper"] == 0.80
    assert wide.loc["accuracy", "combined_f1_paper"] == 0.86
    assert (tables["table2"]["paper_ai_f1"].iloc[-3:] == [0.86, 0.76, 0.85]).all()


def test_the_report_lists_every_class_even_one_never_predicted_or_present():
    report = classification_metrics(["mel", "mel", "nv"], ["mel", "nv", "nv"], CLASSES)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["per_class"]["bcc"] == {
        "name": "basal cell carcinoma",
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
    }
    assert report["per_class"]["mel"]["precision"] == 1.0
    assert report["per_class"]["mel"]["recall"] == 0.5
    # macro over the three classes, bcc's zeros included (sklearn with labels=)
    assert report["macro_avg"]["recall"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert report["weighted_avg"]["support"] == 3

"""dermsynth.classify.paper2_figure3 and paper2_ddi_results: many runs' metrics.json gathered into
Figure 3 (one row per real count x source x transforms, mean and 95% CI over seeds), the dose
response, the skin-type and DDI external tables, and the DDI malignancy table, with their figures.
Runs are made up: random logits a little better than chance, shaped by the same functions as a real
run's."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import modules_loaded_by

from dermsynth.classify.paper2_accuracy import external_metrics, held_out_metrics
from dermsynth.classify.paper2_ddi_results import gather_ddi
from dermsynth.classify.paper2_ddi_run import malignancy_metrics
from dermsynth.classify.paper2_figure3 import (
    dose_table,
    external_table,
    fig3_table,
    gather_grid,
    main_synthetic_per_real,
    protocol_table,
    skin_type_table,
)
from dermsynth.design.runs import ddi_runs, grid_runs
from dermsynth.errors import DataError

CLASSES = ["psoriasis", "lichen planus", "basal cell carcinoma", "squamous cell carcinoma"]
SOURCES = ["inpaint-pretrained", "text2img-dreambooth"]
GRID = {
    "protocols": ["authors", "strict"],
    "real_per_class": [1, 4, 8],
    "sources": SOURCES,
    "synthetic_per_real": 10,
    "transforms": [False, True],
    "seeds": 3,
    "dose_response": {"real_per_class": [8], "synthetic_per_real": [10, 25]},
}
N_TEST = 40


def logits_for(labels: np.ndarray, classes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(len(labels), classes))
    logits[np.arange(len(labels)), labels] += 1.0
    return logits


def made_up_grid_record(run, k: int) -> dict:
    y = np.arange(N_TEST) % len(CLASSES)
    labels = [CLASSES[i] for i in y]
    skins = [str(1 + i % 6) for i in range(N_TEST)]
    shared = ["basal cell carcinoma", "squamous cell carcinoma"] * 5
    record = {
        "experiment": "fitzpatrick17k_grid",
        "run_id": run.run_id,
        **asdict(run),
        **held_out_metrics(logits_for(y, 4, k), labels, CLASSES, skins),
        "ddi_external": external_metrics(
            logits_for(np.array([2, 3] * 5), 4, k + 1000), shared, CLASSES, ["12"] * 10
        ),
        "n_test": N_TEST,
        "test_set": "real images only",
    }
    return json.loads(json.dumps(record))


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [made_up_grid_record(run, k) for k, run in enumerate(grid_runs(GRID))]


def test_figure3_has_one_row_per_real_count_source_and_transforms(records):
    table = fig3_table(records)
    assert len(table) == 2 * 3 * (1 + len(SOURCES)) * 2  # protocols x n x sources x transforms
    assert list(table["protocol"].iloc[[0, -1]]) == ["authors", "strict"]
    assert set(table["n_seeds"]) == {3} and set(table["synthetic_per_real"]) == {0, 10}
    assert table["source"].iloc[0] == "none"  # the real-only baseline first
    assert (table["top3_mean"] >= table["top1_mean"]).all()
    assert (
        (table["top1_ci_low"] <= table["top1_mean"]) & (table["top1_mean"] <= table["top1_ci_high"])
    ).all()
    assert set(table["test_set"]) == {"real images only"}


def test_the_mean_is_over_seeds(records):
    table = fig3_table(records)
    cell = table[
        (table["real_per_class"] == 4)
        & (table["source"] == SOURCES[0])
        & table["transforms"]
        & (table["protocol"] == "strict")
    ].iloc[0]
    accuracies = [
        r["top1"]["accuracy"]
        for r in records
        if r["real_per_class"] == 4
        and r["source"] == SOURCES[0]
        and r["transforms"]
        and r["synthetic_per_real"] == 10
        and r["protocol"] == "strict"
    ]
    assert len(accuracies) == 3 and cell["top1_mean"] == pytest.approx(np.mean(accuracies))
    assert cell["seeds"] == "0 1 2" and cell["ci_method"].startswith("Student-t")


def test_a_single_seed_shows_its_runs_wilson_interval(records):
    table = fig3_table([r for r in records if r["seed"] == 0])
    assert set(table["n_seeds"]) == {1} and table["top1_ci_low"].notna().all()
    assert set(table["ci_method"]) == {"Wilson score interval over test images (95%)"}


def test_dose_response_holds_every_synthetic_count_at_its_real_counts(records):
    assert main_synthetic_per_real(records) == 10
    table = dose_table(records)
    assert set(table["real_per_class"]) == {8}
    assert set(table["synthetic_per_real"]) == {0, 10, 25}
    assert len(table) == 2 * (1 + 2 * len(SOURCES)) * 2


def test_skin_type_and_external_tables(records):
    skins = skin_type_table(records)
    assert set(skins["skin_type"]) == {"1", "2", "3", "4", "5", "6"}
    per_cell = skins.groupby(
        ["protocol", "real_per_class", "source", "synthetic_per_real", "transforms"]
    )
    assert (per_cell["n_images"].sum() == N_TEST).all()
    external = external_table(records)
    assert len(external) == len(fig3_table(records)) + 2 * len(SOURCES) * 2  # + the x25 cells
    assert set(external["shared_classes"]) == {"basal cell carcinoma; squamous cell carcinoma"}
    assert set(external["n_images"]) == {10}


def test_gathering_writes_every_table_and_figure(tmp_path, records):
    paths = []
    for record in records:
        path = tmp_path / "runs" / record["protocol"] / record["run_id"] / "metrics.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(record))
        paths.append(path)
    out = {
        name: tmp_path / f"{name}.{'png' if 'figure' in name else 'csv'}"
        for name in (
            "accuracy",
            "accuracy_figure",
            "dose",
            "dose_figure",
            "skin_type",
            "external",
            "protocols",
            "protocols_figure",
        )
    }
    table = gather_grid(paths, run="test", **out)
    assert pd.read_csv(out["accuracy"]).shape[0] == len(table) == 36
    assert pd.read_csv(out["protocols"]).shape[0] == 2 * 3 * len(SOURCES) * 2
    for name in ("accuracy_figure", "dose_figure", "protocols_figure"):
        assert out[name].read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(DataError, match="a second run"):
        gather_grid([paths[0], paths[0]], run="test", **out)


def test_the_protocol_table_is_each_sources_gain_paired_by_seed(records):
    table = protocol_table(records)
    assert set(table["protocol"]) == {"authors", "strict"}
    assert set(table["source"]) == set(SOURCES) and set(table["n_seeds"]) == {3}
    cell = table[
        (table["protocol"] == "authors")
        & (table["real_per_class"] == 1)
        & (table["source"] == SOURCES[1])
        & ~table["transforms"]
    ].iloc[0]

    def top1(source, seed):
        (value,) = [
            r["top1"]["accuracy"]
            for r in records
            if r["protocol"] == "authors"
            and r["real_per_class"] == 1
            and r["source"] == source
            and not r["transforms"]
            and r["seed"] == seed
            and r["synthetic_per_real"] in (0, 10)
        ]
        return value

    gains = [top1(SOURCES[1], seed) - top1("none", seed) for seed in range(3)]
    assert cell["top1_gain_mean"] == pytest.approx(np.mean(gains))
    assert cell["top1_gain_ci_low"] < cell["top1_gain_mean"] < cell["top1_gain_ci_high"]


def test_ddi_malignancy_table_per_arm_and_skin_tone(tmp_path):
    config = {
        "sources": ["inpaint-pretrained"],
        "synthetic_per_real": 10,
        "transforms": [False, True],
        "seeds": 2,
    }
    paths = []
    y = np.arange(30) % 2
    tones = [("12", "34", "56")[i % 3] for i in range(30)]
    for k, run in enumerate(ddi_runs(config)):
        labels = [("benign", "malignant")[i] for i in y]
        record = {
            "experiment": "ddi_malignancy",
            "run_id": run.run_id,
            **asdict(run),
            **malignancy_metrics(logits_for(y, 2, k), labels, tones),
        }
        paths.append(path := tmp_path / f"{run.run_id}.json")
        path.write_text(json.dumps(record))
    table = gather_ddi(paths, table=tmp_path / "ddi.csv", figure=tmp_path / "ddi.png", run="test")
    assert len(table) == 2 * 2 * 4  # sources (none, inpaint) x transforms x (all, 12, 34, 56)
    assert list(table["skin_tone"].iloc[:4]) == ["all", "12", "34", "56"]
    overall = table[table["skin_tone"] == "all"]
    assert set(overall["n_images"]) == {30} and set(overall["n_seeds"]) == {2}
    assert (tmp_path / "ddi.png").read_bytes()[:4] == b"\x89PNG"


def test_gathering_imports_no_torch():
    """The gather job reads metrics.json files into Figure 3 and the DDI table: it must not spend
    seconds importing torch and timm, as the training runs do."""
    assert not {"torch", "timm"} & modules_loaded_by("dermsynth.classify.paper2_figure3")

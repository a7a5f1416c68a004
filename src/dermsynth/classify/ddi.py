"""The DDI experiment of paper 2's released code: EfficientNetV2-M for benign vs malignant on the
Stanford Diverse Dermatology Images' `paper` split, trained on all its real training images with
none or 10 synthetic images per real image (inpaint, in-then-outpaint), with and without image
transforms, over seeds; accuracy with a 95% CI overall and per skin-tone group (FST 1-2, 3-4,
5-6), on real test images only.

A run id is `s{source}_x{per_real}_t{0|1}_seed{k}` (`snone_x0_t1_seed0`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dermsynth.classify.accuracy import CI_METHOD, held_out_metrics
from dermsynth.classify.efficientnet import save_efficientnet
from dermsynth.classify.evaluate import write_metrics
from dermsynth.classify.grid import (
    NO_SYNTHETIC,
    SyntheticInput,
    check_source,
    manifest_paths,
    read_synthetic_manifests,
    real_images,
    seed_list,
    synthetic_images,
)
from dermsynth.classify.grid_run import logits_of, run_settings, train_on_frames, training_record
from dermsynth.classify.settings import GridSettings
from dermsynth.classify.train import pick_device
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table, write_csv

log = logging.getLogger(__name__)
EXPERIMENT = "ddi_malignancy"
DDI_CLASSES = ("benign", "malignant")  # DDI's metadata: malignant True / False
SKIN_TONE_GROUPS = ("12", "34", "56")  # DDI's skin_tone column: FST I-II, III-IV, V-VI
DDI_RUN_ID = re.compile(
    r"s(?P<source>[A-Za-z0-9-]+)_x(?P<per_real>\d+)_t(?P<t>[01])_seed(?P<seed>\d+)"
)
DDI_KEYS = {"sources", "synthetic_per_real", "transforms", "seeds"}


@dataclass(frozen=True)
class DdiRun:
    """One DDI malignancy run: synthetic source and images per real image, transforms, seed."""

    source: str
    synthetic_per_real: int
    transforms: bool
    seed: int

    def __post_init__(self) -> None:
        check_source(self.source, self.synthetic_per_real)

    @property
    def run_id(self) -> str:
        return f"s{self.source}_x{self.synthetic_per_real}_t{int(self.transforms)}_seed{self.seed}"


def parse_ddi_run_id(run_id: str) -> DdiRun:
    """The run a DDI run id names (the inverse of `DdiRun.run_id`)."""
    match = DDI_RUN_ID.fullmatch(run_id)
    if match is None:
        raise ValueError(f"{run_id!r} is not a DDI run id (s<source>_x<k>_t<0|1>_seed<k>)")
    return DdiRun(match["source"], int(match["per_real"]), match["t"] == "1", int(match["seed"]))


def ddi_runs(config: Mapping[str, Any]) -> list[DdiRun]:
    """Every run of a DDI config: `sources` (synthetic; `none` always runs), `synthetic_per_real`
    (e.g. 10), `transforms` (list of booleans), `seeds` (count or list)."""
    unknown = sorted(set(config) - DDI_KEYS)
    if unknown:
        raise ValueError(f"unknown DDI key(s) {unknown}; known: {sorted(DDI_KEYS)}")
    sources = [NO_SYNTHETIC, *(s for s in config["sources"] if s != NO_SYNTHETIC)]
    per_real = int(config["synthetic_per_real"])
    return [
        DdiRun(source, 0 if source == NO_SYNTHETIC else per_real, bool(t), seed)
        for source in sources
        for t in config["transforms"]
        for seed in seed_list(config["seeds"])
    ]


def read_ddi_split(path: str | Path) -> pd.DataFrame:
    """DDI's `paper` split (`image_id, label, split, skin_type`), labels benign or malignant."""
    split = read_table(path, ["image_id", "label", "split", "skin_type"])
    bad = ~split["label"].isin(DDI_CLASSES) | ~split["split"].isin(["train", "val", "test"])
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise DataError(
            path, f"label must be one of {list(DDI_CLASSES)} and split train, val or test",
            line=csv_line(position),
        )  # fmt: skip
    return split


def ddi_training_set(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    synthetic: SyntheticInput = None,
    synthetic_per_real: int = 0,
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source, image_id, skin_type`): every real
    training image and its `synthetic_per_real` synthetic images; val and test real only."""
    if synthetic_per_real and synthetic is None:
        raise ValueError(f"{synthetic_per_real} synthetic per real image need a manifest")
    split = read_ddi_split(split_table)
    frames = {
        name: real_images(split[split["split"] == name], images_dir, size, name)
        for name in ("train", "val", "test")
    }
    for name, frame in frames.items():
        if frame.empty:
            raise DataError(split_table, f"no {name} images")
    if synthetic_per_real:
        manifest = read_synthetic_manifests(synthetic, DDI_CLASSES)
        made = synthetic_images(
            manifest, split, frames["train"], synthetic_per_real,
            source=", ".join(map(str, manifest_paths(synthetic))),
        )  # fmt: skip
        frames["train"] = pd.concat([frames["train"], made], ignore_index=True)
    return frames


def malignancy_metrics(
    logits: np.ndarray, labels: Iterable[str], skin_types: Iterable[str]
) -> dict[str, Any]:
    """Accuracy with its Wilson interval, overall and per skin-tone group, and the per-class
    accuracies (benign: specificity, malignant: sensitivity)."""
    scores = held_out_metrics(logits, list(labels), DDI_CLASSES, list(skin_types))
    return {
        "accuracy": scores["top1"],
        "per_skin_tone": {g: s["top1"] for g, s in scores["per_skin_type"].items()},
        "per_class": {c: s["top1"] for c, s in scores["per_class"].items()},
    }


def run_ddi(
    *,
    split: str | Path,
    images_dir: str | Path,
    size: int,
    run_id: str,
    settings: GridSettings | Mapping[str, Any],
    metrics: str | Path,
    history: str | Path,
    model: str | Path,
    checkpoint: str | Path,
    run: str,
    synthetic: SyntheticInput = None,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the DDI run `run_id` (resuming from `checkpoint`), test it on the split's real test
    images, write metrics.json, the history CSV and the weights, and remove the checkpoint."""
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device)
    ddi_run = parse_ddi_run_id(run_id)
    settings = run_settings(settings, seed=ddi_run.seed, transforms=ddi_run.transforms)
    frames = ddi_training_set(
        split, images_dir, size=size, synthetic=synthetic if ddi_run.synthetic_per_real else None,
        synthetic_per_real=ddi_run.synthetic_per_real,
    )  # fmt: skip
    network, trained, resolved, seconds = train_on_frames(
        frames, DDI_CLASSES, settings, checkpoint=checkpoint, device=device
    )
    test = frames["test"]
    logits = logits_of(network, test, DDI_CLASSES, resolved, device)
    record = {
        "run": run,
        "experiment": EXPERIMENT,
        "run_id": run_id,
        **asdict(ddi_run),
        "classes": list(DDI_CLASSES),
        "ci_method": CI_METHOD,
        **malignancy_metrics(logits, test["label"], test["skin_type"]),
        **training_record(frames, trained, DDI_CLASSES),
        "image_size": resolved.image_size,
        "source_image_size": size,
        "device": str(device),
        "train_seconds": seconds,
        "settings": asdict(resolved),
    }
    log.info(
        "DDI %s: accuracy %.3f [%.3f, %.3f] on %d real test images", run_id,
        record["accuracy"]["accuracy"], record["accuracy"]["ci_low"],
        record["accuracy"]["ci_high"], record["n_test"],
    )  # fmt: skip
    write_csv(trained, history)
    save_efficientnet(network, resolved, DDI_CLASSES, model, extra={"run_id": run_id})
    write_metrics(record, metrics)
    Path(checkpoint).unlink(missing_ok=True)
    return record

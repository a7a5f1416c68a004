"""The DDI experiment of paper 2's released code: EfficientNetV2-M for benign vs malignant on the
Stanford Diverse Dermatology Images' `paper` split, trained on all its real training images with
none or 10 synthetic images per real image (inpaint, in-then-outpaint), with and without image
transforms, over seeds; accuracy with a 95% CI overall and per skin-tone group (FST 1-2, 3-4,
5-6), on real test images only.

A run id is `s{source}_x{per_real}_t{0|1}_seed{k}` (`snone_x0_t1_seed0`). This module holds the
runs and their images (the workflow reads it to list jobs, without torch); `ddi_run` trains one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

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
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table

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

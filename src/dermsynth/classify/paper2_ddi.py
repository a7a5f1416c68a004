"""The DDI experiment of paper 2's released code (`misc/ddi_validation.py`): EfficientNetV2-M for
benign vs malignant on the Stanford Diverse Dermatology Images' `paper` split, trained on all its
real training images with none or 10 synthetic images per real image (inpaint, in-then-outpaint;
the paper config's from the one DreamBooth inpainting model of all DDI, as theirs), with and
without image transforms, over seeds; accuracy with a 95% CI overall and per skin-tone group
(FST 1-2, 3-4, 5-6), on real test images only. The split's validation images are the authors'
draw; its test images are ours, their test file being unreleased (`dermsynth.data.splits`).

Its runs (`s{source}_x{per_real}_t{0|1}_seed{k}`) are `dermsynth.design.runs`'; this module
holds their images, `ddi_run` trains one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dermsynth.classify.paper2_grid import (
    SyntheticInput,
    manifest_paths,
    read_run_synthetic,
    real_images,
    synthetic_images,
)
from dermsynth.design.pools import DDI_CLASSES
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table

EXPERIMENT = "ddi_malignancy"
SKIN_TONE_GROUPS = ("12", "34", "56")  # DDI's skin_tone column: FST I-II, III-IV, V-VI


def read_ddi_split(path: str | Path) -> pd.DataFrame:
    """DDI's `paper` split (`image_id, label, split, skin_type`), labels benign or malignant."""
    split = read_table(path, ["image_id", "label", "split", "skin_type"])
    bad = ~split["label"].isin(DDI_CLASSES) | ~split["split"].isin(["train", "val", "test"])
    if bad.any():
        position = int(bad.to_numpy().argmax())
        raise DataError(
            path,
            f"label must be one of {list(DDI_CLASSES)} and split train, val or test",
            line=csv_line(position),
        )
    return split


def ddi_training_set(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    synthetic: SyntheticInput = None,
    synthetic_per_real: int = 0,
    source: str = "",
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source, image_id, skin_type`): every real
    training image and its `synthetic_per_real` synthetic images (of the run's `source`: our
    shard manifests, or the released index of a `released-...` one); val and test real only."""
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
        manifest = read_run_synthetic(synthetic, source, DDI_CLASSES, split)
        made = synthetic_images(
            manifest,
            split,
            frames["train"],
            synthetic_per_real,
            source=", ".join(map(str, manifest_paths(synthetic))),
        )
        frames["train"] = pd.concat([frames["train"], made], ignore_index=True)
    return frames

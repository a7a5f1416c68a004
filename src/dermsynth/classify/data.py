"""The images of one ablation arm (paper 1, 3.4): lists, decoding, and seeded batches.

A variant says what the network trains on: `original` (the split's real training images),
`synthetic` (every synthetic image, no real one) or `combined` (both). Validation (for early
stopping) and test (for the metrics) are always the split's real images: a synthetic image
never enters either.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from dermsynth.classify.augment import Augmentation, random_affine
from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table
from dermsynth.metrics.images import load_rgb
from dermsynth.seeds import derived_seed

SPLITS = ("train", "val", "test")
VARIANTS = ("original", "synthetic", "combined")
SOURCES = ("real", "synthetic")
FRAME_COLUMNS = ["file", "label", "source"]
# random streams of a training run, each seeded by (seed, stream, epoch, step)
ORDER_STREAM, AUGMENT_STREAM, DROPOUT_STREAM, BATCH_AUGMENT_STREAM, CROP_STREAM = 1, 2, 3, 4, 5


def _check_labels(
    path: str | Path, labels: pd.Series, classes: Mapping[str, str], column: str
) -> None:
    for position, label in enumerate(labels):
        if label not in classes:
            raise DataError(
                path,
                f"{column} {label!r} is not one of the classes {list(classes)}",
                line=csv_line(position),
            )


def read_split(path: str | Path, classes: Mapping[str, str]) -> pd.DataFrame:
    """A split table (`image_id, label, split`), every label a class and every split known."""
    table = read_table(path, ["image_id", "label", "split"])
    _check_labels(path, table["label"], classes, "label")
    for position, split in enumerate(table["split"]):
        if split not in SPLITS:
            raise DataError(
                path, f"split {split!r} is not one of {list(SPLITS)}", line=csv_line(position)
            )
    return table


def read_synthetic(path: str | Path, classes: Mapping[str, str]) -> pd.DataFrame:
    """A synthetic manifest's images (`file, class, ...`) as `file, label`."""
    table = read_table(path, ["file", "class"])
    _check_labels(path, table["class"], classes, "class")
    for position, file in enumerate(table["file"]):
        if not file:
            raise DataError(path, "empty file name", line=csv_line(position))
    return pd.DataFrame({"file": table["file"], "label": table["class"]})


def variant_frames(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    variant: str,
    classes: Mapping[str, str],
    synthetic: str | Path | None = None,
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source`) of `variant` under a split.

    Real images are the split's resized copies of `size` px; `synthetic` is a manifest, needed
    by the `synthetic` and `combined` variants (all its images train). Every class must have a
    training image, and val and test must not be empty.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    if variant != "original" and synthetic is None:
        raise ValueError(f"variant {variant!r} needs a synthetic manifest")
    split = read_split(split_table, classes)

    def real(name: str) -> pd.DataFrame:
        rows = split[split["split"] == name]
        files = [str(resized_path(images_dir, size, image_id)) for image_id in rows["image_id"]]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise DataError(
                missing[0], f"resized image missing ({len(missing)} of the {name} split's); "
                f"is {size} px a preprocess size of this dataset?"
            )  # fmt: skip
        return pd.DataFrame({"file": files, "label": rows["label"].to_numpy(), "source": "real"})

    parts = []
    if variant in ("original", "combined"):
        parts.append(real("train"))
    if variant in ("synthetic", "combined"):
        parts.append(read_synthetic(synthetic, classes).assign(source="synthetic"))
    frames = {
        "train": pd.concat(parts, ignore_index=True)[FRAME_COLUMNS],
        "val": real("val"),
        "test": real("test"),
    }
    sources = {"original": split_table, "synthetic": synthetic}
    missing = [c for c in classes if c not in set(frames["train"]["label"])]
    if missing:
        where = sources.get(variant, f"{split_table} and {synthetic}")
        raise DataError(where, f"no training image of class(es) {missing} ({variant} variant)")
    for name in ("val", "test"):
        if frames[name].empty:
            raise DataError(split_table, f"no {name} images")
    return frames


@dataclass(frozen=True)
class ImageSet:
    """Decoded images (uint8, N x 3 x H x W), their class indices and their `file, label,
    source` rows; classes index `labels` in the given order."""

    images: torch.Tensor
    labels: torch.Tensor
    frame: pd.DataFrame
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """A digest of what the set is (files, labels, classes, image shape), for checkpoints."""
        digest = hashlib.sha256()
        for value in (*self.frame["file"], *self.frame["label"], *self.classes):
            digest.update(value.encode() + b"\0")
        digest.update(str(tuple(self.images.shape)).encode())
        return digest.hexdigest()


def load_image_set(
    frame: pd.DataFrame, classes: Sequence[str], size: int, *, workers: int = 1, desc: str = ""
) -> ImageSet:
    """Decode every image of `frame` once, resized to `size` px where it differs."""
    classes = tuple(classes)
    index = {c: i for i, c in enumerate(classes)}
    images = torch.empty((len(frame), 3, size, size), dtype=torch.uint8)

    def decode(i_file: tuple[int, str]) -> None:
        i, file = i_file
        images[i] = torch.from_numpy(np.array(load_rgb(file, size))).permute(2, 0, 1)

    jobs = enumerate(frame["file"])
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for _ in tqdm(pool.map(decode, jobs), total=len(frame), desc=desc, mininterval=5):
            pass
    labels = torch.tensor([index[label] for label in frame["label"]], dtype=torch.long)
    return ImageSet(images, labels, frame.reset_index(drop=True), classes)


def stream_generator(seed: int, stream: int, epoch: int, step: int) -> torch.Generator:
    """The CPU generator of one random stream at one (epoch, step)."""
    return torch.Generator().manual_seed(derived_seed(seed, stream, epoch, step))


class Batches:
    """An image set in batches of float pixels / 255 and class indices.

    `epoch(k)` shuffles (if asked) with a generator seeded by (seed, k) and augments each batch
    with one seeded by (seed, k, step), so an epoch's batches are fixed by the seed and k alone.
    """

    def __init__(
        self,
        data: ImageSet,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = False,
        augmentation: Augmentation | None = None,
        max_steps: int | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.images = data.images.to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.augmentation = augmentation
        steps = math.ceil(len(data) / batch_size)
        self.steps = steps if max_steps is None else min(steps, max_steps)

    def __len__(self) -> int:
        return self.steps

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=stream_generator(self.seed, ORDER_STREAM, epoch, 0))
        else:
            order = torch.arange(n)
        order = order.to(self.device)
        for step in range(self.steps):
            rows = order[step * self.batch_size : (step + 1) * self.batch_size]
            x = self.images[rows].float() / 255
            if self.augmentation is not None:
                generator = stream_generator(self.seed, AUGMENT_STREAM, epoch, step)
                x = random_affine(x, self.augmentation, generator)
            yield x, self.labels[rows]

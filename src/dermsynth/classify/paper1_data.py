"""The images of one ablation arm (paper 1, 3.4): lists, decoding, and seeded batches.

A variant says which images an arm loads: `original` (the split's real images), `synthetic`
(every synthetic image, no real one) or `combined` (both). The test set composition says where
the loaded images go:

- `real` (ours): the synthetic images all train; validation (for early stopping) and test (for
  the metrics) are the split's real images, so a synthetic image is never validated or tested
  on, and every arm of a protocol is tested on the same images.
- `paper` (section 2.4: "We loaded the dataset of images and their respective labels (10,015
  original and 10,015 synthetic images) ... We divided the dataset into training and testing
  sets with an 80–20% ratio"): the arm's loaded images are split, so the synthetic and combined
  arms test on synthetic images too. Real images keep their side of the protocol's split
  (`paper_random` is our reading of the paper's division: by image, at random); synthetic
  images are split at random in the protocol's proportions (`paper_sides`). The paper names a
  validation-loss monitor but no validation set; we take it from the training side, as the
  protocol's split does, so that the test images stay unseen until the end.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from dermsynth.classify.evaluate import TEST_SET
from dermsynth.classify.paper1_augment import Augmentation, random_affine
from dermsynth.classify.streams import AUGMENT_STREAM, ORDER_STREAM, stream_generator
from dermsynth.data.preprocess import resized_files
from dermsynth.errors import DataError, csv_line
from dermsynth.images import load_rgb
from dermsynth.io import read_table

SPLITS = ("train", "val", "test")
VARIANTS = ("original", "synthetic", "combined")
SOURCES = ("real", "synthetic")
TEST_SETS = ("real", "paper")  # the test set composition (see the module docstring)
# image_id: a real image's id in its split (None for synthetic images)
FRAME_COLUMNS = ["file", "label", "source", "image_id"]


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


def paper_sides(
    labels: Sequence[str], *, test_fraction: float, val_fraction: float, seed: int
) -> list[str]:
    """Each image's side (`train`, `val`, `test`) in a seeded random split of `labels`' images,
    by image and unstratified as `dermsynth.data.splits.paper_random` splits the real ones, with
    its counts: ceil(test_fraction * n) test images, then ceil(val_fraction / (1 - test_fraction)
    * the rest) validation images. An image that is the last of its class on the training side
    stays there (which matters on tiny sets only), so the counts may fall short."""
    n = len(labels)
    n_test = math.ceil(test_fraction * n)
    n_val = math.ceil(val_fraction / (1 - test_fraction) * (n - n_test)) if val_fraction else 0
    sides = ["train"] * n
    training = Counter(labels)
    wanted = ["test"] * n_test + ["val"] * n_val
    for i in np.random.default_rng(seed).permutation(n):
        if not wanted:
            break
        if training[labels[i]] > 1:
            sides[i] = wanted.pop(0)
            training[labels[i]] -= 1
    return sides


def describe_test_set(test_set: str, variant: str) -> str:
    """What the test set of `variant` holds under composition `test_set`, in words."""
    if test_set not in TEST_SETS:
        raise ValueError(f"test_set must be one of {TEST_SETS}, not {test_set!r}")
    if test_set == "real":
        return TEST_SET
    held = {
        "original": "real only",
        "synthetic": "synthetic only",
        "combined": "real and synthetic",
    }
    return f"the arm's own images, split as paper 1 split them ({held[variant]})"


def variant_frames(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    variant: str,
    classes: Mapping[str, str],
    synthetic: str | Path | None = None,
    test_set: str = "real",
    synthetic_split: Mapping[str, Any] | None = None,
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source, image_id`) of `variant` under a
    split.

    Real images are the split's resized copies of `size` px; `synthetic` is a manifest, needed
    by the `synthetic` and `combined` variants. With `test_set` `real`, every synthetic image
    trains; with `paper`, they are split by `paper_sides` with `synthetic_split`'s
    `test_fraction`, `val_fraction` and `seed` (the protocol's). Every class must have a
    training image, and val and test must not be empty.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    if test_set not in TEST_SETS:
        raise ValueError(f"test_set must be one of {TEST_SETS}, not {test_set!r}")
    if variant != "original" and synthetic is None:
        raise ValueError(f"variant {variant!r} needs a synthetic manifest")
    if variant != "original" and test_set == "paper" and synthetic_split is None:
        raise ValueError("test_set 'paper' splits the synthetic images: give synthetic_split")
    split = read_split(split_table, classes)

    def real(name: str) -> pd.DataFrame:
        rows = split[split["split"] == name]
        files = resized_files(images_dir, size, rows["image_id"], of=f"the {name} split's")
        return pd.DataFrame(
            {
                "file": files,
                "label": rows["label"].to_numpy(),
                "source": "real",
                "image_id": rows["image_id"].to_numpy(),
            }
        )

    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in SPLITS}
    if variant in ("original", "combined"):
        for name in SPLITS:
            parts[name].append(real(name))
    elif test_set == "real":  # synthetic images train; the split's real ones validate and test
        for name in ("val", "test"):
            parts[name].append(real(name))
    if variant in ("synthetic", "combined"):
        images = read_synthetic(synthetic, classes).assign(source="synthetic", image_id=None)
        if test_set == "real":
            parts["train"].append(images)
        else:
            sides = np.array(
                paper_sides(
                    list(images["label"]),
                    test_fraction=float(synthetic_split["test_fraction"]),
                    val_fraction=float(synthetic_split["val_fraction"]),
                    seed=int(synthetic_split["seed"]),
                )
            )
            for name in SPLITS:
                parts[name].append(images[sides == name])
    frames = {name: pd.concat(parts[name], ignore_index=True)[FRAME_COLUMNS] for name in SPLITS}
    sources = {"original": split_table, "synthetic": synthetic}
    missing = [c for c in classes if c not in set(frames["train"]["label"])]
    if missing:
        where = sources.get(variant, f"{split_table} and {synthetic}")
        raise DataError(where, f"no training image of class(es) {missing} ({variant} variant)")
    for name in ("val", "test"):
        if frames[name].empty:
            where = split_table if test_set == "real" else sources.get(variant, split_table)
            raise DataError(where, f"no {name} images ({variant} variant, test_set {test_set})")
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

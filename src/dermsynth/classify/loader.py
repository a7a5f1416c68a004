"""Paper 2's training images, read from their files: a DataLoader whose workers decode each image
once per epoch (the grid's largest sets, 228 real + 75 synthetic per real image and class, do not
fit in memory at 224 px), in batches fixed by the seed alone.

A loader item is a whole batch, named by (epoch, step, rows): the rows come from a permutation
seeded by (seed, epoch), the transforms from a stream seeded by (seed, epoch, step); so the
batches are the same with any number of workers, and a resumed run sees what an unkilled one did.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from dermsynth.classify.data import AUGMENT_STREAM, ORDER_STREAM, stream_generator
from dermsynth.classify.transforms import transform_batch
from dermsynth.metrics.images import load_rgb


@dataclass(frozen=True)
class FileImageSet:
    """Image files (`frame`: `file, label, ...`) with their class indices into `classes`, read at
    `image_size` px (resized on decoding where a file differs)."""

    frame: pd.DataFrame
    labels: torch.Tensor
    classes: tuple[str, ...]
    image_size: int

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """A digest of what the set is (files, labels, classes, size), for checkpoints."""
        digest = hashlib.sha256()
        for value in (*self.frame["file"], *self.frame["label"], *self.classes):
            digest.update(str(value).encode() + b"\0")
        digest.update(str(self.image_size).encode())
        return digest.hexdigest()


def file_image_set(frame: pd.DataFrame, classes: Sequence[str], image_size: int) -> FileImageSet:
    """The images of `frame` (every label one of `classes`), to be read at `image_size` px."""
    classes = tuple(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise ValueError(f"label(s) {unknown} are not among the classes {list(classes)}")
    labels = torch.tensor([index[label] for label in frame["label"]], dtype=torch.long)
    return FileImageSet(frame.reset_index(drop=True), labels, classes, int(image_size))


class _BatchDecoder(Dataset):
    """Item (epoch, step, rows) -> the rows' images (uint8, transformed) and class indices."""

    def __init__(self, data: FileImageSet, transform: v2.Transform | None, seed: int) -> None:
        self.files = list(data.frame["file"])
        self.labels = data.labels
        self.size = data.image_size
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int, list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, step, rows = item
        images = torch.from_numpy(
            np.stack([load_rgb(self.files[i], self.size) for i in rows])
        ).permute(0, 3, 1, 2)
        images = transform_batch(
            images, self.transform, seed=self.seed, stream=AUGMENT_STREAM, epoch=epoch, step=step
        )
        return images.contiguous(), self.labels[rows]


class FileBatches:
    """An image file set in batches of float pixels / 255 and class indices, on `device`.

    `epoch(k)` shuffles (if asked) with a generator seeded by (seed, k) and transforms each batch
    with one seeded by (seed, k, step), as `data.Batches` does for decoded images.
    """

    def __init__(
        self,
        data: FileImageSet,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = False,
        transform: v2.Transform | None = None,
        max_steps: int | None = None,
        device: torch.device | str = "cpu",
        workers: int = 0,
    ) -> None:
        self.data = data
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.workers = workers
        self.decoder = _BatchDecoder(data, transform, seed)
        steps = math.ceil(len(data) / batch_size)
        self.steps = steps if max_steps is None else min(steps, max_steps)

    def __len__(self) -> int:
        return self.steps

    def plan(self, epoch: int) -> list[tuple[int, int, list[int]]]:
        """The epoch's loader items: (epoch, step, rows) per step."""
        n = len(self.data)
        if self.shuffle:
            order = torch.randperm(n, generator=stream_generator(self.seed, ORDER_STREAM, epoch, 0))
        else:
            order = torch.arange(n)
        return [
            (epoch, step, order[step * self.batch_size : (step + 1) * self.batch_size].tolist())
            for step in range(self.steps)
        ]

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = DataLoader(
            self.decoder,
            batch_size=None,  # an item is already a batch
            sampler=self.plan(epoch),
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            # the loader's own seed draw must not move torch's global random state
            generator=torch.Generator().manual_seed(self.seed),
        )
        for images, labels in loader:
            x = images.to(self.device, non_blocking=True).float() / 255
            yield x, labels.to(self.device, non_blocking=True)

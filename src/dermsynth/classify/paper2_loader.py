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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from dermsynth.classify.paper2_transforms import transform_batch
from dermsynth.classify.streams import (
    AUGMENT_STREAM,
    BATCH_AUGMENT_STREAM,
    CROP_STREAM,
    ORDER_STREAM,
    stream_generator,
)
from dermsynth.data.preprocess import square_at
from dermsynth.errors import DataError
from dermsynth.images import load_rgb, open_rgb
from dermsynth.seeds import derived_seed


@dataclass(frozen=True)
class FileImageSet:
    """Image files (`frame`: `file, label, ...`) with their class indices into `classes`, read at
    `image_size` px (resized on decoding where a file differs). With `random_crop`, each read
    takes the largest square of the image's `whole_file` (its copy with the aspect kept; the
    file itself where there is none) at a random position, as fastai's `Resize` does for a
    training set."""

    frame: pd.DataFrame
    labels: torch.Tensor
    classes: tuple[str, ...]
    image_size: int
    random_crop: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def fingerprint(self) -> str:
        """A digest of what the set is (files, labels, classes, size), for checkpoints."""
        digest = hashlib.sha256()
        for value in (*self.frame["file"], *self.frame["label"], *self.classes):
            digest.update(str(value).encode() + b"\0")
        digest.update(f"{self.image_size} {self.random_crop}".encode())
        return digest.hexdigest()


def file_image_set(
    frame: pd.DataFrame, classes: Sequence[str], image_size: int, random_crop: bool = False
) -> FileImageSet:
    """The images of `frame` (every label one of `classes`), to be read at `image_size` px
    (with `random_crop`: squares cut at random from their `whole_file`s)."""
    classes = tuple(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise ValueError(f"label(s) {unknown} are not among the classes {list(classes)}")
    labels = torch.tensor([index[label] for label in frame["label"]], dtype=torch.long)
    return FileImageSet(frame.reset_index(drop=True), labels, classes, int(image_size), random_crop)


def load_square_at(path: str | Path, size: int, position: Sequence[float]) -> np.ndarray:
    """fastai's `Resize` on a training image: the largest square of the image, its left and
    top edges at fractions `position` of the room left beside and below it, resized (bicubic)
    to `size` px if it is not that size already; RGB uint8 (size, size, 3)."""
    image = square_at(open_rgb(path), position)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


class _BatchDecoder(Dataset):
    """Item (epoch, step, rows) -> the rows' images (uint8, transformed) and class indices."""

    def __init__(self, data: FileImageSet, transform: v2.Transform | None, seed: int) -> None:
        self.files = list(data.frame["file"])
        self.whole = None
        if data.random_crop:
            whole = data.frame.get("whole_file", pd.Series("", index=data.frame.index))
            self.whole = [
                w if isinstance(w, str) and w else f for w, f in zip(whole, self.files, strict=True)
            ]
        self.labels = data.labels
        self.size = data.image_size
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int, list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, step, rows = item
        if self.whole is None:
            pixels = [load_rgb(self.files[i], self.size) for i in rows]
        else:
            where = stream_generator(self.seed, CROP_STREAM, epoch, step)
            positions = torch.rand((len(rows), 2), generator=where, dtype=torch.float64)
            pixels = [
                load_square_at(self._whole(i), self.size, positions[k].tolist())
                for k, i in enumerate(rows)
            ]
        images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)
        images = transform_batch(
            images, self.transform, seed=self.seed, stream=AUGMENT_STREAM, epoch=epoch, step=step
        )
        return images.contiguous(), self.labels[rows]

    def _whole(self, i: int) -> str:
        path = self.whole[i]
        if not Path(path).is_file():
            raise DataError(
                path,
                "whole-image copy missing: the authors' regime crops training squares "
                "from copies with the aspect kept (config preprocess.short_side)",
            )
        return path


class FileBatches:
    """An image file set in batches of float pixels / 255 and class indices, on `device`.

    `epoch(k)` shuffles (if asked) with a generator seeded by (seed, k) and transforms each
    image (`transform`, uint8, in the decoding worker) and then each batch on its device
    (`batch_transform`, float) with random states seeded by (seed, k, step), as `data.Batches`
    does for decoded images. `drop_last` drops the last partial batch of an epoch.
    """

    def __init__(
        self,
        data: FileImageSet,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = False,
        transform: v2.Transform | None = None,
        batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        drop_last: bool = False,
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
        self.batch_transform = batch_transform
        steps = (len(data) // batch_size) if drop_last else math.ceil(len(data) / batch_size)
        if steps == 0:
            raise ValueError(
                f"{len(data)} images make no whole batch of {batch_size} (the last partial "
                "batch is dropped)"
            )
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
        for step, (images, labels) in enumerate(loader):
            x = images.to(self.device, non_blocking=True).float() / 255
            if self.batch_transform is not None:
                x = self._transformed(x, epoch, step)
            yield x, labels.to(self.device, non_blocking=True)

    def _transformed(self, x: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """`batch_transform(x)` with torch's random state (of x's device too) seeded by
        (seed, epoch, step) and restored afterwards."""
        cuda = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(derived_seed(self.seed, BATCH_AUGMENT_STREAM, epoch, step))
            return self.batch_transform(x)

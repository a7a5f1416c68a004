"""Paper 2's training images in seeded batches, from one of two inputs (`GridSettings.input`):

- `cache` (the default): the images decoded once into memory-mapped caches
  (`dermsynth.classify.image_cache`; the grid's largest sets, 228 real + 75 synthetic per real
  image and class, do not fit in memory at 224 px, but fit on disk); a batch is rows of the
  memmap, and the transforms run on the batch, on the model's device.
- `files`: a DataLoader whose workers decode each image file once per epoch (kept to compare
  and to check the cache against).

A loader item is a whole batch, named by (epoch, step, rows): the rows come from a permutation
seeded by (seed, epoch), the transforms from a stream seeded by (seed, epoch, step); so the
batches are the same with any number of workers, and a resumed run sees what an unkilled one did.

The two inputs give the same batches, byte for byte, on a CPU: a cache row is what the file
loader decodes (`load_rgb`'s resized square, or the whole-image copy that the authors' regime
cuts its random-position square from, at the position drawn from the same stream, resized only
where its side differs from the input size, as `load_square_at` does), and our regime's
per-image transforms run on the same uint8 images with the same seeds (in the workers, as the
file loader runs them). On a GPU the authors' regime is unchanged (fastai's `aug_transforms()`
ran on the device already), while our regime's per-image transforms run on the GPU: the same
random draws (they come from the CPU generator), but the GPU's resampling kernels (crop resize,
rotation, perspective) may round a pixel one level differently from the CPU's.
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
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import v2

from dermsynth.classify.image_cache import ImageCache, frame_references
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
from dermsynth.images import image_exists, load_rgb, open_rgb
from dermsynth.seeds import derived_seed


@dataclass(frozen=True)
class FileImageSet:
    """Image files (`frame`: `file, label, ...`) with their class indices into `classes`, read at
    `image_size` px (resized on decoding where a file differs). With `random_crop`, each read
    takes the largest square of the image's `whole_file` (its copy with the aspect kept; the
    file itself where there is none) at a random position, as fastai's `Resize` does for a
    training set. With a `cache`, the images are read from it instead of decoded (the same
    pixels: module docstring)."""

    frame: pd.DataFrame
    labels: torch.Tensor
    classes: tuple[str, ...]
    image_size: int
    random_crop: bool = False
    cache: ImageCache | None = None

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
    frame: pd.DataFrame,
    classes: Sequence[str],
    image_size: int,
    random_crop: bool = False,
    cache: ImageCache | None = None,
) -> FileImageSet:
    """The images of `frame` (every label one of `classes`), to be read at `image_size` px
    (with `random_crop`: squares cut at random from their `whole_file`s), from their files or
    from `cache` (which must hold every image read: else an error naming the first it lacks)."""
    classes = tuple(classes)
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(frame["label"]) - set(index))
    if unknown:
        raise ValueError(f"label(s) {unknown} are not among the classes {list(classes)}")
    labels = torch.tensor([index[label] for label in frame["label"]], dtype=torch.long)
    if cache is not None and cache.size != int(image_size):
        raise ValueError(f"an image cache for {cache.size} px input; the set reads {image_size} px")
    return FileImageSet(
        frame.reset_index(drop=True), labels, classes, int(image_size), random_crop, cache
    )


def load_square_at(path: str | Path, size: int, position: Sequence[float]) -> np.ndarray:
    """fastai's `Resize` on a training image: the largest square of the image, its left and
    top edges at fractions `position` of the room left beside and below it, resized (bicubic)
    to `size` px if it is not that size already; RGB uint8 (size, size, 3)."""
    image = square_at(open_rgb(path), position)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


class _BatchDecoder(Dataset):
    """Item (epoch, step, rows) -> the rows' images (uint8, transformed) and class indices,
    decoded from their files."""

    def __init__(self, data: FileImageSet, transform: v2.Transform | None, seed: int) -> None:
        self.files = list(data.frame["file"])
        self.whole = frame_references(data.frame, random_crop=True) if data.random_crop else None
        self.labels = data.labels
        self.size = data.image_size
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: tuple[int, int, list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, step, rows = item
        if self.whole is None:
            pixels = [self._square(i) for i in rows]
        else:
            where = stream_generator(self.seed, CROP_STREAM, epoch, step)
            positions = torch.rand((len(rows), 2), generator=where, dtype=torch.float64)
            pixels = [self._square_at(i, positions[k].tolist()) for k, i in enumerate(rows)]
        images = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2)
        images = transform_batch(
            images, self.transform, seed=self.seed, stream=AUGMENT_STREAM, epoch=epoch, step=step
        )
        return images.contiguous(), self.labels[rows]

    def _square(self, i: int) -> np.ndarray:
        return load_rgb(self.files[i], self.size)

    def _square_at(self, i: int, position: Sequence[float]) -> np.ndarray:
        return load_square_at(self._whole(i), self.size, position)

    def _whole(self, i: int) -> str:
        path = self.whole[i]
        if not image_exists(path):  # a file, or a synthetic image's `<shard.tar>#<member>`
            raise DataError(
                path,
                "whole-image copy missing: the authors' regime crops training squares "
                "from copies with the aspect kept (config preprocess.short_side)",
            )
        return path


class _CachedBatchDecoder(_BatchDecoder):
    """`_BatchDecoder` reading the rows of an image cache instead of decoding files: each image
    is located in the cache once, here, so that a missing one fails before training starts."""

    def __init__(self, data: FileImageSet, transform: v2.Transform | None, seed: int) -> None:
        super().__init__(data, transform, seed)
        self.cache = data.cache
        self.rows = self.cache.locate(self.whole if data.random_crop else self.files)

    def _square(self, i: int) -> np.ndarray:
        return self.cache.square(self.rows[i])

    def _square_at(self, i: int, position: Sequence[float]) -> np.ndarray:
        return self.cache.square_at(self.rows[i], position)


class _Items(Sampler):
    """The loader items of the epoch being read, set before each epoch: one DataLoader (and its
    worker processes) serves every epoch."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, list[int]]] = []

    def __iter__(self) -> Iterator[tuple[int, int, list[int]]]:
        return iter(list(self.items))

    def __len__(self) -> int:
        return len(self.items)


class FileBatches:
    """An image file set in batches of float pixels / 255 and class indices, on `device`.

    `epoch(k)` shuffles (if asked) with a generator seeded by (seed, k) and transforms each
    image (`transform`, uint8: in the decoding worker, or for a cached set on a GPU on the
    device) and then each batch on its device (`batch_transform`, float) with random states
    seeded by (seed, k, step), as `data.Batches` does for decoded images. `drop_last` drops the
    last partial batch of an epoch. A set with a cache is read from it (module docstring).
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
        # a cached set's per-image transforms run on the GPU when there is one; on a CPU in the
        # workers, which are then the only parallelism, as for files
        on_device = data.cache is not None and self.device.type != "cpu"
        self.device_transform = transform if on_device else None
        decoder = _BatchDecoder if data.cache is None else _CachedBatchDecoder
        self.decoder = decoder(data, None if on_device else transform, seed)
        self.batch_transform = batch_transform
        steps = (len(data) // batch_size) if drop_last else math.ceil(len(data) / batch_size)
        if steps == 0:
            raise ValueError(
                f"{len(data)} images make no whole batch of {batch_size} (the last partial "
                "batch is dropped)"
            )
        self.steps = steps if max_steps is None else min(steps, max_steps)
        self._items = _Items()
        self._loader: DataLoader | None = None

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
        if self._loader is None:
            self._loader = DataLoader(
                self.decoder,
                batch_size=None,  # an item is already a batch
                sampler=self._items,
                num_workers=self.workers,
                # workers started once, not every epoch (a cached epoch is short)
                persistent_workers=self.workers > 0,
                pin_memory=self.device.type == "cuda",
                # the loader's own seed draw must not move torch's global random state
                generator=torch.Generator().manual_seed(self.seed),
            )
        self._items.items = self.plan(epoch)
        for step, (images, labels) in enumerate(self._loader):
            images = images.to(self.device, non_blocking=True)
            if self.device_transform is not None:
                images = self._transformed_images(images, epoch, step)
            x = images.float().div_(255)
            if self.batch_transform is not None:
                x = self._transformed(x, epoch, step)
            yield x, labels.to(self.device, non_blocking=True)

    def _transformed_images(self, images: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """The per-image `transform` of uint8 images on their device, drawing from the stream
        the decoding workers draw from (torch's random state of the device restored after)."""
        cuda = [images.device.index or 0] if images.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            return transform_batch(
                images,
                self.device_transform,
                seed=self.seed,
                stream=AUGMENT_STREAM,
                epoch=epoch,
                step=step,
            )

    def _transformed(self, x: torch.Tensor, epoch: int, step: int) -> torch.Tensor:
        """`batch_transform(x)` with torch's random state (of x's device too) seeded by
        (seed, epoch, step) and restored afterwards."""
        cuda = [x.device.index or 0] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(derived_seed(self.seed, BATCH_AUGMENT_STREAM, epoch, step))
            return self.batch_transform(x)

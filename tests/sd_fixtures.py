"""Helpers of the Stable Diffusion tests: real training images in the resized copies' layout."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path


def write_resized_images(
    folder: Path, image_ids: Iterable[str], *, size: int = 64, flat: bool = False
) -> Path:
    """A `size` px copy of each image id under `folder`, as `resize_images` lays them out: random
    noise, or one random colour per image with `flat` (seeded: the same images every time)."""
    rng = np.random.default_rng(0)
    for image_id in image_ids:
        if flat:
            pixels = np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (size, size, 3))
        else:
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = resized_path(folder, size, image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, np.ascontiguousarray(pixels))
    return folder

"""Image files decoded as RGB pixels, for every step that reads images: a file that cannot be
decoded is an error naming it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dermsynth.errors import DataError


def open_rgb(path: str | Path) -> Image.Image:
    """Decode an image as RGB; a file that cannot be decoded is an error naming it."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        raise DataError(path, f"cannot decode image: {err}") from err


def load_rgb(path: str | Path, size: int) -> np.ndarray:
    """Decode an image as RGB uint8 (size, size, 3); resized (bicubic) only if it differs."""
    image = open_rgb(path)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)

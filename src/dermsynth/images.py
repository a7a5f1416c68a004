"""Image files decoded as RGB pixels, for every step that reads images: a file that cannot be
decoded is an error naming it.

An image is a plain path or a WebDataset reference `<shard.tar>#<member>`
(`dermsynth.webdataset`): every reader goes through `image_source`, so synthetic sets stored as
tars are read where loose files were, member by member, never unpacked.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from dermsynth.errors import DataError
from dermsynth.webdataset import has_member, read_member, split_ref


def image_source(ref: str | Path) -> str | Path | BinaryIO:
    """What `PIL.Image.open` reads for an image reference: the path, or a tar member's bytes."""
    parts = split_ref(ref)
    return ref if parts is None else io.BytesIO(read_member(*parts))


def image_exists(ref: str | Path) -> bool:
    """Whether a plain image file, or a tar's member, exists (not whether it decodes)."""
    parts = split_ref(ref)
    return Path(ref).is_file() if parts is None else has_member(*parts)


def image_stem(ref: str | Path) -> str:
    """An image's name without its extension: a file's stem, or a tar member's."""
    parts = split_ref(ref)
    return Path(ref if parts is None else parts[1]).stem


def open_rgb(path: str | Path) -> Image.Image:
    """Decode an image (a path or a tar reference) as RGB; one that cannot be found or decoded
    is an error naming it."""
    try:
        with Image.open(image_source(path)) as image:
            return image.convert("RGB")
    # Pillow raises SyntaxError for some broken files (a bad PNG chunk), OSError for the rest
    except (OSError, UnidentifiedImageError, SyntaxError) as err:
        raise DataError(path, f"cannot decode image: {err}") from err


def load_rgb(path: str | Path, size: int) -> np.ndarray:
    """Decode an image as RGB uint8 (size, size, 3); resized (bicubic) only if it differs."""
    image = open_rgb(path)
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)

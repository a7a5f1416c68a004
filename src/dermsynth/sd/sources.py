"""The real images the Stable Diffusion track starts from (read), and the prompts it writes.

Which images a pool or DreamBooth model uses is `dermsynth.design.draws.pool_sources`'s: a pool
is made from images of split `train` (Fitzpatrick17k's released training file, DDI's `paper`
training images); a DreamBooth model learns from those, or on DDI as the authors' did from their
whole training file, validation images too (`sd.dreambooth.ddi.splits`); never from a test image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError
from dermsynth.images import image_exists, open_rgb

TRAIN = "train"
TEST = "test"
PROMPT = "An image of {label}, a skin disease"  # the authors' instance prompt


def skin_type_phrase(skin_type) -> str:
    """Fitzpatrick type as the prompt writes it: "4"; DDI's groups "12" -> "1-2"; else unknown."""
    text = "" if skin_type is None or pd.isna(skin_type) else str(skin_type).strip()
    if text.endswith(".0"):
        text = text[:-2]
    if text in {"1", "2", "3", "4", "5", "6"}:
        return text
    if len(text) == 2 and text.isdigit():
        return f"{text[0]}-{text[1]}"
    return "unknown"


def prompt_name(label: str, disease="") -> str:
    """What a prompt calls an image: its disease, hyphens as spaces, where its row names one
    (DDI), else its class label; as the authors' `generation/dataset.py` names it:
    `entry.disease.replace('-', ' ') if hasattr(entry, 'disease') else entry.label`."""
    text = "" if disease is None or pd.isna(disease) else str(disease)
    return text.replace("-", " ") if text else label


def prompt_for(
    label: str,
    skin_type=None,
    *,
    disease="",
    template: str = PROMPT,
    with_skin_type: bool = False,
) -> str:
    """ "An image of {name}, a skin disease", `name` the image's disease or else its class
    (`prompt_name`), optionally ", Fitzpatrick skin type {n}"."""
    prompt = template.format(label=prompt_name(label, disease))
    if with_skin_type:
        prompt += f", Fitzpatrick skin type {skin_type_phrase(skin_type)}"
    return prompt


def read_rgb(path: str | Path) -> np.ndarray:
    """An image (a file or a shard's `<tar>#<member>`) as (H, W, 3) uint8, failing with its
    name."""
    return np.asarray(open_rgb(path))


def square_rgb(path: str | Path, resolution: int) -> np.ndarray:
    """A square image file at `resolution` px, resized bicubic if it has another size (the demo
    keeps 224 px copies and generates at 64 px)."""
    if not image_exists(path):
        raise DataError(path, "image not found (preprocess this size first)")
    array = read_rgb(path)
    if array.shape[0] != array.shape[1]:
        raise DataError(path, f"expected a square image, found {array.shape[1]}x{array.shape[0]}")
    if array.shape[0] != resolution:
        resized = Image.fromarray(array).resize((resolution, resolution), Image.Resampling.BICUBIC)
        array = np.asarray(resized)
    return array


def source_image(
    images_dir: str | Path, image_id: str, resolution: int, source_size: int | None = None
) -> np.ndarray:
    """The `resolution` px copy of a real image, from its preprocessed `source_size` px file."""
    return square_rgb(resized_path(images_dir, source_size or resolution, image_id), resolution)

"""glide-finetune's training crop: a random square of each image, resized (paper 1, section 2.1).

glide-finetune's loader (GitHub afiaka87/glide-finetune, `glide_finetune/loader.py`, as of
commit 3f31280, April 2022) cuts every training image with
`T.RandomResizedCrop(shape, scale=(resize_ratio, 1.0), ratio=(1.0, 1.0))`: a square whose area
is a uniform fraction in [resize_ratio, 1] of the image's, at a uniform position (where no such
square fits in 10 tries, as on HAM10000's 600x450 originals at 0.8, torchvision falls back to
the centre square; we crop square copies, where it always fits), resized
(bilinear) to 64 px for the base model or to 256 px for the upsampler, whose 64 px input is
that crop resized again with `PIL.Image.BICUBIC`. Here the draws come from a generator passed
in, so that a step's crops are a function of (seed, step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

Box = tuple[int, int, int, int]  # top, left, height, width, as torchvision's get_params


def random_resized_crop_box(
    height: int,
    width: int,
    scale: Sequence[float],
    generator: torch.Generator,
    ratio: Sequence[float] = (1.0, 1.0),
) -> Box:
    """torchvision's `RandomResizedCrop.get_params`, drawing from `generator`.

    Ten tries at an area fraction in `scale` and an aspect ratio in `ratio` (log-uniform);
    the first that fits is placed uniformly. If none fits, the centre crop of the largest box
    of an aspect ratio within `ratio` (for a 4:3 image and ratio 1: its centre square).
    """
    area = height * width
    log_ratio = torch.log(torch.tensor(ratio))
    for _ in range(10):
        target_area = area * torch.empty(1).uniform_(scale[0], scale[1], generator=generator).item()
        drawn = torch.empty(1).uniform_(log_ratio[0], log_ratio[1], generator=generator)
        aspect_ratio = torch.exp(drawn).item()
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - w + 1, size=(1,), generator=generator).item())
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(height * max(ratio))), height
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def resized_crop(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The `box` of an (H, W, 3) uint8 image resized to size x size (PIL bilinear, as
    torchvision's `resized_crop` of a PIL image with RandomResizedCrop's default filter)."""
    top, left, h, w = box
    cropped = Image.fromarray(image).crop((left, top, left + w, top + h))
    return np.asarray(cropped.resize((size, size), Image.Resampling.BILINEAR))


def bicubic_resize(image: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) uint8 image resized to size x size with PIL's bicubic filter."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))


def random_crops(
    sources: torch.Tensor,
    size: int,
    resize_ratio: float,
    generator: torch.Generator,
    low_res_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One random square per image of `sources` (N, 3, H, W) uint8, drawn in order, resized to
    `size`; with `low_res_size`, also each crop's bicubic copy at that size (the upsampler's
    input)."""
    height, width = sources.shape[2:]
    boxes = [
        random_resized_crop_box(height, width, (resize_ratio, 1.0), generator) for _ in sources
    ]
    return crops(sources, boxes, size, low_res_size)


def whole_views(
    sources: torch.Tensor, size: int, low_res_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each image of `sources` uncropped (area fraction 1), resized as a random crop is: what a
    preview shows beside the samples."""
    height, width = sources.shape[2:]
    return crops(sources, [(0, 0, height, width)] * len(sources), size, low_res_size)


def crops(
    sources: torch.Tensor, boxes: Sequence[Box], size: int, low_res_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The box of each image of `sources` (N, 3, H, W) uint8 resized to `size`, and with
    `low_res_size`, that crop's bicubic copy at the smaller size; both (N, 3, s, s) uint8."""
    images, lows = [], []
    for source, box in zip(sources, boxes, strict=True):
        crop = resized_crop(np.ascontiguousarray(source.permute(1, 2, 0).numpy()), box, size)
        images.append(crop)
        if low_res_size is not None:
            lows.append(bicubic_resize(crop, low_res_size))
    return _stack(images), (_stack(lows) if low_res_size is not None else None)


def _stack(arrays: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()

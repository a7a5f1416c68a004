"""Keras ImageDataGenerator-like augmentation (paper 1, 2.4: rotation, width and height shift,
zoom, horizontal flip), applied to a batch on the fly.

As Keras does, each image draws its own angle, shifts, x and y zoom and flip; the output pixel p
samples the input at c + R(Z(p - c) + t) (c the centre), bilinearly, with edge pixels repeated
outside the image (Keras's default fill_mode "nearest"); the flip comes last. The draws come from
the generator passed in, so a batch's transforms are fixed by its seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dermsynth.classify.settings import CNNSettings


@dataclass(frozen=True)
class Augmentation:
    rotation_range: float = 20.0  # degrees
    width_shift_range: float = 0.1  # fraction of the width
    height_shift_range: float = 0.1
    zoom_range: float = 0.1
    horizontal_flip: bool = True

    @classmethod
    def from_settings(cls, settings: CNNSettings) -> Augmentation | None:
        """The settings' augmentation, or None when augmentation is off."""
        if not settings.augment:
            return None
        return cls(
            rotation_range=settings.rotation_range,
            width_shift_range=settings.width_shift_range,
            height_shift_range=settings.height_shift_range,
            zoom_range=settings.zoom_range,
            horizontal_flip=settings.horizontal_flip,
        )


def affine_matrices(
    n: int, height: int, width: int, augmentation: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """`n` random (2, 3) matrices for `F.affine_grid` (normalised output -> input coordinates)."""
    u = torch.rand((n, 6), generator=generator, dtype=torch.float64) * 2 - 1  # uniform [-1, 1)
    angle = u[:, 0] * math.radians(augmentation.rotation_range)
    shift_x = u[:, 1] * augmentation.width_shift_range * 2  # normalised units: the width is 2
    shift_y = u[:, 2] * augmentation.height_shift_range * 2
    zoom_x = 1 + u[:, 3] * augmentation.zoom_range
    zoom_y = 1 + u[:, 4] * augmentation.zoom_range
    flip = (u[:, 5] < 0) & augmentation.horizontal_flip
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation in pixel units: D^-1 R D with D = diag(width / 2, height / 2)
    aspect = height / width
    rotation = torch.stack(
        [torch.stack([cos, -sin * aspect], -1), torch.stack([sin / aspect, cos], -1)], -2
    )
    zoom = torch.diag_embed(torch.stack([zoom_x, zoom_y], -1))
    flip_x = torch.diag_embed(
        torch.stack([torch.where(flip, -1.0, 1.0).double(), torch.ones(n, dtype=torch.float64)], -1)
    )
    linear = rotation @ zoom @ flip_x
    translation = rotation @ torch.stack([shift_x, shift_y], -1)[..., None]
    return torch.cat([linear, translation], -1).float()


def random_affine(
    images: torch.Tensor, augmentation: Augmentation, generator: torch.Generator
) -> torch.Tensor:
    """Transform a float batch (N, C, H, W), each image by its own random affine transform."""
    n, _, height, width = images.shape
    theta = affine_matrices(n, height, width, augmentation, generator).to(images.device)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

"""Paper 2's "transforms" axis: no augmentation, or "an image transform augmentation utility"
(slides, Figure 3: random flipping, cropping, rotating, warping and lighting changes), applied to
real and synthetic training images alike, never to validation or test images.

Each image of a batch draws its own transform, from a random stream seeded by (seed, epoch,
step) alone, so a batch's pixels do not depend on which process decodes it.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from dermsynth.classify.settings import GridSettings
from dermsynth.seeds import derived_seed


def standard_transforms(settings: GridSettings) -> v2.Transform | None:
    """The settings' augmentation for uint8 images (3, S, S), or None when transforms is off:
    random resized crop, horizontal flip, rotation, perspective warp and lighting (brightness
    and contrast), each at the settings' strength; the output keeps the input's size."""
    if not settings.transforms:
        return None
    size = settings.image_size
    return v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=settings.crop_scale, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.RandomRotation(settings.rotation)], p=settings.p_affine),
            v2.RandomPerspective(distortion_scale=settings.warp, p=settings.p_affine),
            v2.RandomApply(
                [v2.ColorJitter(brightness=settings.lighting, contrast=settings.lighting)],
                p=settings.p_lighting,
            ),
        ]
    )


def transform_batch(
    images: torch.Tensor,
    transform: v2.Transform | None,
    *,
    seed: int,
    stream: int,
    epoch: int,
    step: int,
) -> torch.Tensor:
    """Each uint8 image of (N, 3, H, W) through `transform`, with torch's random state seeded by
    (seed, stream, epoch, step) for the batch and restored afterwards."""
    if transform is None:
        return images
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, stream, epoch, step))
        return torch.stack([transform(image) for image in images])

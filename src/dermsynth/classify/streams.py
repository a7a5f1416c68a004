"""The random streams of a classifier's training run, shared by both papers' batches: each draw
(shuffling, augmentation, dropout, batch transforms, crop positions) comes from a CPU generator
seeded by (seed, stream, epoch, step), so a run's random numbers are fixed by its seed alone
and a resumed run draws what an unbroken one would."""

from __future__ import annotations

import torch

from dermsynth.seeds import derived_seed

ORDER_STREAM, AUGMENT_STREAM, DROPOUT_STREAM, BATCH_AUGMENT_STREAM, CROP_STREAM = 1, 2, 3, 4, 5


def stream_generator(seed: int, stream: int, epoch: int, step: int) -> torch.Generator:
    """The CPU generator of one random stream at one (epoch, step)."""
    return torch.Generator().manual_seed(derived_seed(seed, stream, epoch, step))

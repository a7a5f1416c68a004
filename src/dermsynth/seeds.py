"""Seeds derived from keys, so that a random stream belongs to what it makes (an image, a step),
not to the order in which things run."""

from __future__ import annotations

import numpy as np


def derived_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (stable across runs and platforms)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> 1)

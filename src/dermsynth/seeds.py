"""Seeds derived from keys, so that a random stream belongs to what it makes (an image, a step),
not to the order in which things run."""

from __future__ import annotations

import hashlib

import numpy as np


def derived_seed(*keys: int) -> int:
    """A 63-bit seed derived from integer keys (stable across runs and platforms)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> 1)


def text_key(text: str) -> int:
    """A stable integer key for a string (an image id, a file name), for derived_seed."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1

"""Percentile bootstrap confidence intervals, resampling images with replacement."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_values(
    statistic: Callable[..., float | Sequence[float]],
    sizes: Sequence[int],
    *,
    resamples: int,
    seed: int,
) -> np.ndarray:
    """`statistic(*indices)` over resamples, drawing one index array per set (with replacement,
    of the set's size): shape (resamples,) or (resamples, k) for k statistics at once.
    Empty sets or no resamples give no rows."""
    if resamples < 1 or any(n < 1 for n in sizes):
        return np.empty((0,))
    rng = np.random.default_rng(seed)
    return np.array(
        [statistic(*(rng.integers(0, n, size=n) for n in sizes)) for _ in range(resamples)],
        dtype=np.float64,
    )


def percentile_interval(
    values: np.ndarray, level: float = 0.95, *, centre: float | None = None
) -> tuple[float, float]:
    """(low, high) percentiles of the finite replicate values; (nan, nan) with fewer than 2.

    With `centre` (the estimate on the full sets), the replicates are first shifted so that
    their mean is the estimate. A resample holds each image ~0.63 times on average and the rest
    as duplicates, which biases FID and IS upwards and PRDC away from the estimate; unshifted,
    their percentile interval can miss the estimate altogether. For unbiased statistics (means,
    KID) the shift is close to 0.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), float("nan")
    if centre is not None and np.isfinite(centre):
        values = values + (centre - values.mean())
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def counts(indices: np.ndarray, size: int) -> np.ndarray:
    """How often each of `size` items was drawn."""
    return np.bincount(indices, minlength=size)

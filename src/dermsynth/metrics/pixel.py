"""Pixel metrics of synthetic-real pairs (SSIM, PSNR, MSE) on one declared pixel scale.

Scales (config metrics.pixel_scale):
- `unit`: pixels in [0, 1]; MSE in those units; PSNR = 10 log10(1 / MSE). The default.
- `uint8`: pixels in [0, 255]; MSE in those units; PSNR = 10 log10(255^2 / MSE) (the same PSNR).
- `paper_compat`: MSE on [0, 1] but PSNR with a peak of 255, i.e. 10 log10(255^2 / MSE_unit):
  48.13 dB above the true PSNR. This mix gives paper 1's Table 1 pairs (PSNR ~62 dB with
  MSE ~0.05). MSE and PSNR both on [0, 255] would too, but an MSE of 0.05 there means
  near-identical images, which the table's own SSIM of 0.06-0.22 excludes. It exists to compare
  with the paper, never as a measurement.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from skimage.metrics import structural_similarity

from dermsynth.seeds import derived_seed, text_key

PIXEL_SCALES = ("unit", "uint8", "paper_compat")
PAIRINGS = ("random_same_class", "nearest_same_class")

SCALE_NOTES = {
    "unit": "pixels on [0,1]; PSNR = 10 log10(1/MSE)",
    "uint8": "pixels on [0,255]; PSNR = 10 log10(255^2/MSE)",
    "paper_compat": (
        "paper_compat: MSE on [0,1] with PSNR peak 255 (inflates PSNR by 48.13 dB; "
        "reproduces the paper's inconsistent pair, not a true PSNR)"
    ),
}


def pixel_metrics(synthetic: np.ndarray, real: np.ndarray, scale: str) -> dict[str, float]:
    """SSIM (per colour channel, averaged), PSNR and MSE of one pair of uint8 RGB images."""
    if scale not in PIXEL_SCALES:
        raise ValueError(f"pixel scale {scale!r}: expected one of {PIXEL_SCALES}")
    if synthetic.shape != real.shape:
        raise ValueError(f"pair of different shapes {synthetic.shape} and {real.shape}")
    unit_a = synthetic.astype(np.float64) / 255.0
    unit_b = real.astype(np.float64) / 255.0
    ssim = structural_similarity(unit_a, unit_b, channel_axis=2, data_range=1.0)
    mse_unit = float(np.mean((unit_a - unit_b) ** 2))
    mse = mse_unit * 255.0**2 if scale == "uint8" else mse_unit
    peak = 1.0 if scale == "unit" else 255.0
    psnr = math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)
    return {"ssim": float(ssim), "psnr": psnr, "mse": mse}


def pair_images(
    synthetic_ids: np.ndarray,
    synthetic_classes: np.ndarray,
    real_classes: np.ndarray,
    *,
    rule: str,
    seed: int,
    synthetic_thumbnails: np.ndarray | None = None,
    real_thumbnails: np.ndarray | None = None,
) -> np.ndarray:
    """For each synthetic image, the index of its real partner of the same class (-1: none).

    `random_same_class`: drawn uniformly, seeded by (seed, synthetic id), so a pair does not
    depend on the order or number of other images. `nearest_same_class`: the real image with the
    smallest mean squared difference of 32x32 thumbnails (a cheap proxy for pixel MSE).
    """
    if rule not in PAIRINGS:
        raise ValueError(f"pairing {rule!r}: expected one of {PAIRINGS}")
    partners = np.full(len(synthetic_ids), -1, dtype=np.int64)
    for position, (image_id, cls) in enumerate(zip(synthetic_ids, synthetic_classes, strict=True)):
        candidates = np.flatnonzero(real_classes == cls)
        if candidates.size == 0:
            continue
        if rule == "random_same_class":
            rng = np.random.default_rng(derived_seed(seed, text_key(str(image_id))))
            partners[position] = candidates[rng.integers(candidates.size)]
        else:
            query = synthetic_thumbnails[position].astype(np.float32)
            pool = real_thumbnails[candidates].astype(np.float32)
            distances = ((pool - query) ** 2).reshape(candidates.size, -1).mean(axis=1)
            partners[position] = candidates[int(np.argmin(distances))]
    return partners


def pair_table(
    synthetic_ids: np.ndarray,
    synthetic_files: np.ndarray,
    real_ids: np.ndarray,
    real_files: np.ndarray,
    classes: np.ndarray,
    partners: np.ndarray,
    load,
    scale: str,
) -> pd.DataFrame:
    """One row per paired synthetic image: both ids and the pair's SSIM, PSNR and MSE.

    `load(file)` decodes an image to uint8 RGB at the evaluation size.
    """
    rows = []
    for position in np.flatnonzero(partners >= 0):
        partner = partners[position]
        metrics = pixel_metrics(load(synthetic_files[position]), load(real_files[partner]), scale)
        rows.append(
            {
                "synthetic_id": synthetic_ids[position],
                "real_id": real_ids[partner],
                "class": classes[position],
                **metrics,
            }
        )
    return pd.DataFrame(rows, columns=["synthetic_id", "real_id", "class", "ssim", "psnr", "mse"])

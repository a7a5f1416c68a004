"""The inpainting masks of paper 2 (the authors' generation code, `create_square_mask`).

Inpainting repaints a centred square; in-then-outpainting then repaints everything around it
except a thin frame at the image's edge. The square is built on the latent grid (64 x 64 for
512 px images; the tiny demo models' 16 x 16 for 64 px) and upscaled nearest to the image, so it
covers whole latent cells and diffusers' nearest downscaling of the mask gives it back exactly.

The authors' code used one square for every image (a 0.25 margin on each side: half of each
side), which a side-fraction range of [0.5, 0.5] gives (both shipped configs); with a wider range
each image draws its side fraction, uniform in the range ([0.25, 0.75] by default), from its own
seed, snapped to the latent grid so the square stays centred (side = grid - 2 x margin).
The outpaint frame is 16 px at 512 px (the authors' `s = 16`), scaled with the resolution.
"""

from __future__ import annotations

import math

import numpy as np

from dermsynth.seeds import derived_seed

PAPER_RESOLUTION = 512
PAPER_BORDER = 16  # px kept at the image's edge by the outpaint pass, at 512 px


def draw_side_fraction(seed: int, low: float = 0.25, high: float = 0.75) -> float:
    """The side fraction of one image's square, uniform in [low, high], from its seed."""
    if not 0 < low <= high <= 1:
        raise ValueError(f"need 0 < low <= high <= 1, got [{low}, {high}]")
    rng = np.random.default_rng(derived_seed(seed, 0x6D61736B))  # "mask": its own stream
    return float(rng.uniform(low, high))


def square_margin(grid: int, fraction: float, low: float = 0.0, high: float = 1.0) -> int:
    """Latent cells between the square and each edge, for a side fraction, within [low, high].

    The side is grid - 2 x margin (a centred square on an even grid has an even side); the
    margin is rounded to the nearest cell and then kept inside the allowed range.
    """
    margin = round(grid * (1 - fraction) / 2)
    smallest = math.ceil(grid * (1 - high) / 2 - 1e-9)  # the largest square allowed
    largest = min(math.floor(grid * (1 - low) / 2 + 1e-9), (grid - 1) // 2)  # the smallest
    return int(min(max(margin, smallest), largest))


def latent_square(grid: int, margin: int) -> np.ndarray:
    """A (grid, grid) float32 mask: 1 inside the centred square (repaint), 0 outside (keep)."""
    if not 0 <= margin < grid / 2:
        raise ValueError(f"margin {margin} leaves no square on a {grid}-cell grid")
    mask = np.zeros((grid, grid), np.float32)
    mask[margin : grid - margin, margin : grid - margin] = 1
    return mask


def upscale_nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscaling of a square latent-grid mask to `size` px."""
    grid = mask.shape[0]
    if size % grid:
        raise ValueError(f"image size {size} is not a multiple of the latent grid {grid}")
    factor = size // grid
    return np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)


def inpaint_mask(size: int, grid: int, fraction: float, low=0.25, high=0.75) -> np.ndarray:
    """The (size, size) inpainting mask of a side fraction, on the latent grid."""
    return upscale_nearest(latent_square(grid, square_margin(grid, fraction, low, high)), size)


def border_px(size: int) -> int:
    """The outpaint pass's kept frame at `size` px: 16 px at 512, scaled, at least 1 px."""
    return max(1, round(PAPER_BORDER * size / PAPER_RESOLUTION))


def outpaint_mask(inpaint: np.ndarray, border: int) -> np.ndarray:
    """Repaint what inpainting kept, except a frame of `border` px at the image's edge."""
    mask = 1 - inpaint
    mask[:border], mask[-border:] = 0, 0
    mask[:, :border], mask[:, -border:] = 0, 0
    return mask

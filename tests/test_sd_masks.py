"""dermsynth.sd.masks: a centred square covering a side fraction in [0.25, 0.75], built on the
latent grid and upscaled nearest; the outpaint mask is its inverse but keeps a frame at the edge.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dermsynth.sd.masks import (
    border_px,
    draw_side_fraction,
    inpaint_mask,
    latent_square,
    outpaint_mask,
    square_margin,
    upscale_nearest,
)

SIZES = [(512, 64), (64, 16)]  # (image px, latent grid): the paper's, the tiny demo models'


def covered_fraction(mask: np.ndarray) -> float:
    """The side of a centred square mask as a fraction of the image's side."""
    return float(mask.any(axis=0).sum() / mask.shape[1])


def test_drawn_side_fractions_stay_in_range_and_spread_over_it():
    drawn = np.array([draw_side_fraction(seed) for seed in range(2000)])
    assert drawn.min() >= 0.25 and drawn.max() <= 0.75
    assert drawn.min() < 0.27 and drawn.max() > 0.73  # uniform, not stuck at one value


def test_a_seed_always_draws_the_same_fraction_and_seeds_differ():
    assert draw_side_fraction(7) == draw_side_fraction(7)
    assert len({draw_side_fraction(s) for s in range(50)}) == 50


@pytest.mark.parametrize(("size", "grid"), SIZES)
@pytest.mark.parametrize("fraction", [0.25, 0.3, 0.5, 0.61, 0.75])
def test_the_mask_is_a_centred_square_covering_about_the_fraction(size, grid, fraction):
    mask = inpaint_mask(size, grid, fraction)
    assert mask.shape == (size, size) and set(np.unique(mask)) == {0.0, 1.0}
    assert np.array_equal(mask, mask[::-1]) and np.array_equal(mask, mask[:, ::-1])  # centred
    assert np.array_equal(mask, mask.T)  # square
    rows = np.flatnonzero(mask.any(axis=1))
    assert mask[rows[0] : rows[-1] + 1, rows[0] : rows[-1] + 1].all()  # filled
    side = covered_fraction(mask)
    assert 0.25 <= side <= 0.75
    assert abs(side - fraction) <= 1 / grid  # nearest centred square on the grid


@pytest.mark.parametrize(("size", "grid"), SIZES)
def test_the_mask_lies_on_the_latent_grid_and_downscales_back_to_it(size, grid):
    factor = size // grid
    for fraction in np.linspace(0.25, 0.75, 11):
        margin = square_margin(grid, float(fraction), 0.25, 0.75)
        mask = inpaint_mask(size, grid, float(fraction))
        blocks = mask.reshape(grid, factor, grid, factor)
        assert (blocks == blocks[:, :1, :, :1]).all()  # constant over each latent cell
        # diffusers' inpainting pipelines shrink the mask to the latents by nearest interpolation
        small = F.interpolate(torch.from_numpy(mask)[None, None], size=(grid, grid))[0, 0]
        assert np.array_equal(small.numpy(), latent_square(grid, margin))


def test_fractions_outside_the_range_are_kept_inside_it():
    assert 16 - 2 * square_margin(16, 0.05, 0.25, 0.75) == 4
    assert 16 - 2 * square_margin(16, 0.99, 0.25, 0.75) == 12


def test_upscaling_refuses_an_image_size_off_the_grid():
    with pytest.raises(ValueError, match="multiple"):
        upscale_nearest(latent_square(16, 4), 70)


def test_the_outpaint_frame_is_16_px_at_512_and_scales_with_the_resolution():
    assert border_px(512) == 16 and border_px(64) == 2 and border_px(16) == 1


@pytest.mark.parametrize(("size", "grid"), SIZES)
def test_the_outpaint_mask_is_the_inverse_inside_the_frame_and_keeps_the_frame(size, grid):
    inpaint = inpaint_mask(size, grid, 0.5)
    border = border_px(size)
    outpaint = outpaint_mask(inpaint, border)
    inner = (slice(border, size - border),) * 2
    assert np.array_equal(outpaint[inner], 1 - inpaint[inner])
    frame = np.ones((size, size), bool)
    frame[inner] = False
    assert not outpaint[frame].any()  # the frame is kept (0: not repainted)
    assert not (outpaint * inpaint).any()  # never repaints the inpainted square again
    assert np.array_equal(inpaint, inpaint_mask(size, grid, 0.5))  # the input is left as it was


def authors_square_masks(resolution: int, mask_fraction: float = 0.25, border: int = 16):
    """The authors' `create_square_mask` (synthetic-derm generation/generate.py), in numpy."""
    lat = resolution // 8
    mask = np.zeros((lat, lat), np.float32)
    start, end = int(lat * mask_fraction), int(lat * (1 - mask_fraction))
    mask[start:end, start:end] = 1
    inpaint = np.repeat(np.repeat(mask, 8, axis=0), 8, axis=1)
    outpaint = 1 - inpaint
    outpaint[:border], outpaint[-border:] = 0, 0
    outpaint[:, :border], outpaint[:, -border:] = 0, 0
    return inpaint, outpaint


def test_a_side_fraction_range_of_one_half_is_the_authors_fixed_square():
    """config: sd.generate.settings.mask_fraction [0.5, 0.5] gives every image the square of
    the authors' `mask_fraction = 0.25` (a quarter of the side kept on each edge)."""
    from dermsynth.sd.generate import GenerateSettings, Item, mask_side

    settings = GenerateSettings(mask_fraction=(0.5, 0.5))
    inpaint, outpaint = authors_square_masks(512)
    for index in range(20):
        item = Item(f"image{index}", index, index % 3, "", "")
        side = mask_side(settings, "psoriasis", item, 64)
        ours = inpaint_mask(512, 64, side, 0, 1)
        np.testing.assert_array_equal(ours, inpaint)
        np.testing.assert_array_equal(outpaint_mask(ours, border_px(512)), outpaint)

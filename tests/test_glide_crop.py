"""dermsynth.glide.crop: glide-finetune's RandomResizedCrop, checked against torchvision itself
(the crop's position and size drawn from the same seed, and the resize of a PIL image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from PIL import Image

from dermsynth.glide.crop import (
    bicubic_resize,
    crops,
    random_crops,
    random_resized_crop_box,
    resized_crop,
    whole_views,
)

SQUARE = (1.0, 1.0)  # glide-finetune's ratio


def image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("height,width", [(128, 128), (450, 600), (600, 450), (37, 100)])
@pytest.mark.parametrize("scale", [(0.8, 1.0), (0.08, 1.0), (0.5, 0.6)])
@pytest.mark.parametrize("ratio", [SQUARE, (3 / 4, 4 / 3)])
def test_the_crop_box_is_torchvisions_random_resized_crop_drawn_from_the_same_seed(
    height, width, scale, ratio
):
    reference = torch.empty(3, height, width)
    for seed in range(20):
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            expected = T.RandomResizedCrop.get_params(reference, list(scale), list(ratio))
        assert random_resized_crop_box(height, width, scale, generator(seed), ratio) == expected


def test_a_4_by_3_image_at_resize_ratio_0_8_always_falls_back_to_its_centre_square():
    # HAM10000's 600 x 450: a square of >= 80 % of the area has a side over 450 px
    boxes = {random_resized_crop_box(450, 600, (0.8, 1.0), generator(s)) for s in range(50)}
    assert boxes == {(0, 75, 450, 450)}


def test_square_crops_of_a_square_image_cover_the_scale_range_at_varied_positions():
    boxes = [random_resized_crop_box(128, 128, (0.8, 1.0), generator(s)) for s in range(200)]
    assert all(h == w for _, _, h, w in boxes)
    assert len({h for _, _, h, _ in boxes}) > 5
    assert min(h for _, _, h, _ in boxes) >= round(128 * 0.8**0.5)
    assert max(h for _, _, h, _ in boxes) <= 128
    assert len({(top, left) for top, left, _, _ in boxes}) > 10


@pytest.mark.parametrize("box", [(0, 0, 128, 128), (3, 10, 114, 114), (14, 0, 114, 114)])
@pytest.mark.parametrize("size", [32, 64, 256])
def test_resized_crop_is_torchvisions_resized_crop_of_a_pil_image(box, size):
    source = image(128, 128)
    expected = TF.resized_crop(
        Image.fromarray(source), *box, [size, size], T.InterpolationMode.BILINEAR
    )
    np.testing.assert_array_equal(resized_crop(source, box, size), np.asarray(expected))


def test_random_crops_pair_each_crop_with_its_bicubic_low_res_copy():
    sources = torch.from_numpy(np.stack([image(128, 128, s) for s in range(3)])).permute(0, 3, 1, 2)

    high, low = random_crops(sources, 128, 0.8, generator(0), low_res_size=64)

    assert high.shape == (3, 3, 128, 128) and low.shape == (3, 3, 64, 64)
    assert high.dtype == low.dtype == torch.uint8
    for crop, small in zip(high, low, strict=True):
        expected = bicubic_resize(crop.permute(1, 2, 0).numpy().copy(), 64)
        np.testing.assert_array_equal(small.permute(1, 2, 0).numpy(), expected)


def test_random_crops_are_drawn_in_order_from_the_generator():
    sources = torch.from_numpy(np.stack([image(128, 128, s) for s in range(3)])).permute(0, 3, 1, 2)
    draws = generator(7)
    boxes = [random_resized_crop_box(128, 128, (0.8, 1.0), draws) for _ in range(3)]

    same, none = random_crops(sources, 32, 0.8, generator(7))
    other, _ = random_crops(sources, 32, 0.8, generator(8))

    assert none is None
    assert torch.equal(same, crops(sources, boxes, 32)[0])
    assert not torch.equal(same, other)


def test_whole_views_resize_each_image_uncropped():
    sources = torch.from_numpy(np.stack([image(128, 128, s) for s in range(2)])).permute(0, 3, 1, 2)

    views, low = whole_views(sources, 64, low_res_size=32)

    for source, view in zip(sources, views, strict=True):
        expected = resized_crop(source.permute(1, 2, 0).numpy().copy(), (0, 0, 128, 128), 64)
        np.testing.assert_array_equal(view.permute(1, 2, 0).numpy(), expected)
    assert low.shape == (2, 3, 32, 32)

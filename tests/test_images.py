"""dermsynth.images: image files decoded to RGB uint8 at one size."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dermsynth.data.png import write_png
from dermsynth.errors import DataError
from dermsynth.images import load_rgb


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_load_rgb_keeps_an_image_of_the_requested_size_pixel_for_pixel(tmp_path):
    image = noise_image(8, 8)
    write_png(tmp_path / "x.png", image)
    loaded = load_rgb(tmp_path / "x.png", 8)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, image)


def test_load_rgb_resizes_other_sizes_bicubically_to_a_square(tmp_path):
    image = noise_image(12, 16)
    write_png(tmp_path / "x.png", image)
    expected = Image.fromarray(image).resize((8, 8), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(load_rgb(tmp_path / "x.png", 8), np.asarray(expected))


def test_load_rgb_converts_grey_images_to_rgb(tmp_path):
    Image.fromarray(np.full((4, 4), 77, np.uint8), mode="L").save(tmp_path / "grey.png")
    loaded = load_rgb(tmp_path / "grey.png", 4)
    assert loaded.shape == (4, 4, 3)
    assert (loaded == 77).all()


def test_load_rgb_of_a_corrupt_file_raises_naming_the_file(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    with pytest.raises(DataError, match=r"broken.png: cannot decode image"):
        load_rgb(tmp_path / "broken.png", 8)

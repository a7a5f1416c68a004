"""dermsynth.data.png: our fast PNG writer gives exactly the pixels it was handed."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dermsynth.data.png import encode_png, write_png


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert (image.format, image.mode) == ("PNG", "RGB")
        return np.asarray(image)


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 5), (5, 7), (64, 64)])
def test_encode_png_round_trips_random_pixels_exactly(height, width):
    image = random_image(height, width)
    np.testing.assert_array_equal(decoded(encode_png(image)), image)


def test_encode_png_round_trips_the_extremes_where_the_up_filter_wraps():
    # rows alternating 0 and 255: each "Up" difference wraps around mod 256
    image = np.zeros((6, 4, 3), np.uint8)
    image[1::2] = 255
    np.testing.assert_array_equal(decoded(encode_png(image)), image)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_encode_png_round_trips_at_every_compression_level(level):
    image = random_image(9, 11, seed=level)
    np.testing.assert_array_equal(decoded(encode_png(image, level=level)), image)


def test_encode_png_encodes_a_view_as_the_pixels_it_shows():
    image = random_image(16, 16)
    view = image[2:9:2, ::-1]  # strided and reversed: not C-contiguous
    np.testing.assert_array_equal(decoded(encode_png(view)), view)


def test_write_png_writes_a_file_pil_reads_back(tmp_path):
    image = random_image(7, 5)
    write_png(tmp_path / "x.png", image)
    np.testing.assert_array_equal(decoded((tmp_path / "x.png").read_bytes()), image)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4, 3), np.float32),  # not uint8
        np.zeros((4, 4, 3), np.uint16),
        np.zeros((4, 4), np.uint8),  # grey, no channel axis
        np.zeros((4, 4, 1), np.uint8),
        np.zeros((4, 4, 4), np.uint8),  # RGBA
    ],
    ids=["float32", "uint16", "grey", "one-channel", "rgba"],
)
def test_encode_png_rejects_anything_but_an_rgb_uint8_array(image):
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 array"):
        encode_png(image)

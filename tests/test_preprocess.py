"""dermsynth.data.preprocess: square PNG copies at every size, all or nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dermsynth.data.preprocess import (
    center_square,
    load_square,
    resize_images,
    resized_files,
    resized_path,
    short_side_path,
    square_at,
)
from dermsynth.errors import DataError

RED, BLUE = (220, 30, 30), (30, 30, 220)
SOURCE = "results/data/demo/pairs.csv"


def some_pairs(*tables: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    """The first `n` rows (image_id, path) of each pairs table, one after the other."""
    return pd.concat([t[["image_id", "path"]].head(n) for t in tables], ignore_index=True)


def with_bad_image(pairs: pd.DataFrame, position: int, path: Path) -> pd.DataFrame:
    bad = pd.DataFrame({"image_id": ["bad"], "path": [str(path)]})
    return pd.concat([pairs.iloc[:position], bad, pairs.iloc[position:]], ignore_index=True)


def truncated_jpeg(source: str, path: Path) -> Path:
    data = Path(source).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def random_bytes_jpeg(path: Path) -> Path:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), np.int16)


def red_blue_red(path: Path, size=(40, 20)) -> Path:
    """A wide image: red on the outer quarters, blue in the middle half."""
    image = np.empty((size[1], size[0], 3), np.uint8)
    image[:] = BLUE
    image[:, : size[0] // 4] = RED
    image[:, -size[0] // 4 :] = RED
    Image.fromarray(image).save(path)
    return path


# --- what a good run writes -----------------------------------------------------------------


def test_resize_images_writes_every_image_at_every_size_as_a_square_png(
    tmp_path, ham_pairs, ddi_pairs
):
    pairs = some_pairs(ham_pairs, ddi_pairs)  # JPEG and PNG sources
    out = tmp_path / "images"
    resize_images(pairs, out, sizes=[16, 32])
    for size in (16, 32):
        assert sorted(p.name for p in (out / str(size)).iterdir()) == sorted(
            pairs["image_id"] + ".png"
        )
        for image_id in pairs["image_id"]:
            with Image.open(resized_path(out, size, image_id)) as image:
                assert (image.format, image.mode, image.size) == ("PNG", "RGB", (size, size))


def test_resize_images_index_lists_each_source_size_and_the_sizes_largest_first(
    tmp_path, f17k_pairs
):
    pairs = some_pairs(f17k_pairs, n=5)  # F17k images differ in size
    index = resize_images(pairs, tmp_path / "images", sizes=[16, 32])
    on_disk = pd.read_csv(tmp_path / "images" / "index.csv", dtype=str)
    assert on_disk.equals(index.astype(str))
    assert index["image_id"].tolist() == pairs["image_id"].tolist()
    for row, path in zip(index.itertuples(), pairs["path"], strict=True):
        with Image.open(path) as image:
            assert (row.source_width, row.source_height) == image.size
    assert set(index["sizes"]) == {"32 16"}


def test_resize_images_gives_the_same_files_with_two_workers_as_with_one(tmp_path, ham_pairs):
    pairs = some_pairs(ham_pairs, n=20)
    resize_images(pairs, tmp_path / "one", sizes=[16], workers=1)
    resize_images(pairs, tmp_path / "two", sizes=[16], workers=2)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")


def test_resize_images_center_crop_drops_the_sides_and_squash_keeps_them(tmp_path):
    pairs = pd.DataFrame({"image_id": ["wide"], "path": [str(red_blue_red(tmp_path / "w.png"))]})
    resize_images(pairs, tmp_path / "center", sizes=[8], crop="center")
    resize_images(pairs, tmp_path / "squash", sizes=[8], crop="squash")
    center = pixels(resized_path(tmp_path / "center", 8, "wide"))
    squash = pixels(resized_path(tmp_path / "squash", 8, "wide"))
    assert np.abs(center - BLUE).max() <= 8  # the middle half, all blue
    assert np.abs(squash[:, [0, -1]] - RED).max() <= 8  # red edges kept, squeezed
    assert np.abs(squash[:, 3:5] - BLUE).max() <= 8


def test_resize_images_rejects_an_unknown_crop(tmp_path, ham_pairs):
    with pytest.raises(ValueError, match="crop must be one of"):
        resize_images(some_pairs(ham_pairs), tmp_path / "images", [16], crop="pad")
    assert not (tmp_path / "images").exists()


@pytest.mark.parametrize(("position", "left"), [((0.0, 0.0), 0), ((0.5, 0.5), 1), ((1.0, 1.0), 3)])
def test_square_at_puts_the_largest_square_at_a_fraction_of_the_room_beside_it(position, left):
    columns = np.broadcast_to(np.arange(7, dtype=np.uint8)[None, :, None], (4, 7, 3))
    square = np.asarray(square_at(Image.fromarray(np.ascontiguousarray(columns)), position))
    assert square.shape == (4, 4, 3)
    assert square[0, :, 0].tolist() == list(range(left, left + 4))  # room 3: left 0, 1 or 3


def test_the_centre_square_is_the_square_at_the_middle_position():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (5, 10, 3), np.uint8))
    centred = np.asarray(center_square(image))
    np.testing.assert_array_equal(centred, np.asarray(image)[:, 2:7])  # (10 - 5) // 2 = 2
    np.testing.assert_array_equal(centred, np.asarray(square_at(image, (0.5, 0.5))))


def test_load_square_turns_the_image_as_its_exif_orientation_says(tmp_path):
    # stored red left, blue right; orientation 6 says: turn 90 degrees clockwise to view
    stored = np.empty((20, 40, 3), np.uint8)
    stored[:, :20], stored[:, 20:] = RED, BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    square, width, height = load_square(path, 8, crop="squash")
    viewed = np.asarray(square.resize((8, 8)), np.int16)
    assert np.abs(viewed[0] - RED).max() <= 24  # top row red
    assert np.abs(viewed[-1] - BLUE).max() <= 24  # bottom row blue
    assert (width, height) == (40, 20)


def test_draft_mode_decode_is_close_to_a_full_decode(f17k_pairs):
    differences = []
    for path in f17k_pairs["path"].head(8):
        square, width, height = load_square(path, 64)
        # decoded at a reduced DCT scale, but never below the largest size asked for
        assert 64 <= square.width <= min(width, height) / 2
        fast = np.asarray(square.resize((64, 64), Image.Resampling.BICUBIC), np.float32)
        with Image.open(path) as image:
            full = image.convert("RGB")
        side = min(full.size)
        left, top = (full.width - side) // 2, (full.height - side) // 2
        full = full.crop((left, top, left + side, top + side))
        exact = np.asarray(full.resize((64, 64), Image.Resampling.BICUBIC), np.float32)
        differences.append(np.abs(fast - exact).mean())
    # grey levels of 255; measured 0.3-2.4 per image here, 1.4 on average (3.7 at most on
    # any of 300 demo images); decoding at 1/8 scale instead gives 1.2-4.6, 3.0 on average
    assert max(differences) < 4
    assert np.mean(differences) < 2


# --- a file that cannot be decoded ----------------------------------------------------------

BAD_FILES = {"truncated": "truncated", "random_bytes": "random bytes"}


def bad_file(kind: str, folder: Path, good_jpeg: str) -> Path:
    if kind == "truncated":
        return truncated_jpeg(good_jpeg, folder / "truncated.jpg")
    return random_bytes_jpeg(folder / "random.jpg")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kind", ["truncated", "random_bytes"])
def test_undecodable_image_is_an_error_naming_the_file_and_its_pairs_line(
    tmp_path, ham_pairs, kind, workers
):
    bad = bad_file(kind, tmp_path, ham_pairs["path"].iloc[0])
    pairs = with_bad_image(some_pairs(ham_pairs, n=4), position=2, path=bad)
    with pytest.raises(DataError) as err:
        resize_images(pairs, tmp_path / "out" / "images", [32, 16], workers=workers, source=SOURCE)
    assert str(err.value).startswith(f"{bad}: cannot decode image 'bad' ({SOURCE}, line 4): ")


@pytest.mark.parametrize("kind", ["truncated", "random_bytes"])
def test_undecodable_image_leaves_no_output_behind(tmp_path, ham_pairs, kind):
    bad = bad_file(kind, tmp_path, ham_pairs["path"].iloc[0])
    pairs = with_bad_image(some_pairs(ham_pairs, n=4), position=2, path=bad)
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError):
        resize_images(pairs, tmp_path / "out" / "images", [32, 16])
    assert list((tmp_path / "out").iterdir()) == []  # no output and no staging folder


@pytest.mark.parametrize("kind", ["truncated", "random_bytes"])
def test_undecodable_image_leaves_a_previous_good_output_unchanged(tmp_path, ham_pairs, kind):
    good = some_pairs(ham_pairs, n=4)
    out = tmp_path / "out" / "images"
    resize_images(good, out, [32, 16])
    before = snapshot(out)
    bad = bad_file(kind, tmp_path, ham_pairs["path"].iloc[0])
    with pytest.raises(DataError):
        resize_images(with_bad_image(good, position=2, path=bad), out, [32, 16])
    assert snapshot(out) == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["images"]


def test_short_side_copies_keep_the_whole_image_at_its_aspect(tmp_path):
    pairs = pd.DataFrame({"image_id": ["wide"], "path": [str(red_blue_red(tmp_path / "w.png"))]})
    resize_images(pairs, tmp_path / "images", sizes=[8], short_sides=[8, 4])
    whole = pixels(short_side_path(tmp_path / "images", 8, "wide"))
    assert whole.shape[0] == 8 and whole.shape[1] > 8  # shorter side 8, the width kept in ratio
    assert np.abs(whole[:, [0, -1]] - RED).max() <= 8  # the red edges a centre crop drops
    assert pixels(short_side_path(tmp_path / "images", 4, "wide")).shape[0] == 4
    assert np.abs(pixels(resized_path(tmp_path / "images", 8, "wide")) - BLUE).max() <= 8


def test_resized_files_are_found_in_order_or_the_first_missing_is_named(tmp_path):
    pairs = pd.DataFrame(
        {"image_id": ["a", "b"], "path": [str(red_blue_red(tmp_path / "w.png"))] * 2}
    )
    resize_images(pairs, tmp_path / "images", sizes=[8])
    found = resized_files(tmp_path / "images", 8, ["b", "a"])
    assert found == [str(resized_path(tmp_path / "images", 8, i)) for i in ("b", "a")]
    missing = r"images/8/c\.png: resized image missing \(2 of the test images\); is 8 px"
    with pytest.raises(DataError, match=missing):
        resized_files(tmp_path / "images", 8, ["a", "c", "d"], of="the test images")
    with pytest.raises(DataError, match=r"images/16/a\.png: resized image missing \(1 in all\)"):
        resized_files(tmp_path / "images", 16, ["a"])

"""dermsynth.metrics.images: image sets read from CSV, decoded once to RGB at one size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermsynth.data.png import write_png
from dermsynth.errors import DataError
from dermsynth.metrics.images import read_image_set, real_image_set, thumbnail


def write_csv(path: Path, rows: list[dict]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


# --- read_image_set ---------------------------------------------------------------------------


def test_a_manifest_without_ids_takes_the_file_stems_as_ids_sorted(tmp_path):
    manifest = write_csv(
        tmp_path / "manifest.csv",
        [
            {"file": "out/mel/mel-0002.png", "class": "mel"},
            {"file": "out/bcc/bcc-0001.png", "class": "bcc"},
            {"file": "out/mel/mel-0001.png", "class": "mel"},
        ],
    )
    frame = read_image_set(manifest)
    assert frame.columns.tolist() == ["id", "file", "class"]
    assert frame["id"].tolist() == ["bcc-0001", "mel-0001", "mel-0002"]
    assert frame["file"].tolist() == [
        "out/bcc/bcc-0001.png",
        "out/mel/mel-0001.png",
        "out/mel/mel-0002.png",
    ]
    assert frame["class"].tolist() == ["bcc", "mel", "mel"]


def test_a_shard_members_id_is_its_key_as_a_loose_files_was(tmp_path):
    manifest = write_csv(
        tmp_path / "manifest.csv",
        [
            {"file": "out/mel/shard-1.tar#mel_000002.png", "class": "mel"},
            {"file": "out/mel/shard-0.tar#mel_000001.png", "class": "mel"},
        ],
    )
    assert read_image_set(manifest)["id"].tolist() == ["mel_000001", "mel_000002"]


def test_an_id_column_is_kept_and_sorted_by(tmp_path):
    image_set = write_csv(
        tmp_path / "set.csv",
        [
            {"id": "z", "file": "a.png", "class": "nv", "split": "train"},
            {"id": "m", "file": "b.png", "class": "mel", "split": "train"},
        ],
    )
    frame = read_image_set(image_set)
    assert frame.values.tolist() == [["m", "b.png", "mel"], ["z", "a.png", "nv"]]


def test_a_duplicate_id_raises_naming_its_line(tmp_path):
    manifest = write_csv(
        tmp_path / "manifest.csv",
        [
            {"file": "a/x-1.png", "class": "mel"},
            {"file": "a/x-2.png", "class": "mel"},
            {"file": "b/x-1.png", "class": "nv"},  # line 4: same stem as line 2
        ],
    )
    with pytest.raises(DataError, match=r"manifest.csv, line 4: duplicate image id 'x-1'"):
        read_image_set(manifest)


@pytest.mark.parametrize("empty", ["file", "class"])
def test_an_empty_file_or_class_raises_naming_its_line(tmp_path, empty):
    rows = [{"file": "a.png", "class": "mel"}, {"file": "b.png", "class": "nv"}]
    rows[1][empty] = ""
    with pytest.raises(DataError, match=r"line 3: empty file or class"):
        read_image_set(write_csv(tmp_path / "manifest.csv", rows))


# --- thumbnail --------------------------------------------------------------------------------


def test_thumbnail_is_the_mean_of_each_block():
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[:2, :2] = 40  # top-left block
    pixels[0, 0] = 100  # block mean (100 + 3 * 40) / 4 = 55
    pixels[2:, 2:] = 200
    thumb = thumbnail(pixels, 2)
    assert thumb.shape == (2, 2, 3)
    np.testing.assert_array_equal(thumb[..., 0], [[55, 0], [0, 200]])


# --- real_image_set ---------------------------------------------------------------------------


def split_table(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "split.csv",
        [
            {"image_id": "ISIC_3", "label": "mel", "split": "train"},
            {"image_id": "ISIC_1", "label": "nv", "split": "test"},
            {"image_id": "ISIC_2", "label": "bcc", "split": "train"},
            {"image_id": "ISIC_4", "label": "nv", "split": "val"},
        ],
    )


def resized_images(tmp_path: Path, ids: list[str], size: int = 16) -> Path:
    images = tmp_path / "images"
    (images / str(size)).mkdir(parents=True)
    for image_id in ids:
        write_png(images / str(size) / f"{image_id}.png", noise_image(size, size))
    return images


def test_real_image_set_keeps_only_the_requested_splits_and_points_at_the_resized_copies(
    tmp_path,
):
    images = resized_images(tmp_path, ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4"])
    frame = real_image_set(split_table(tmp_path), images, size=16, splits=["train", "val"])
    assert frame.columns.tolist() == ["id", "file", "class", "split"]
    assert frame[["id", "class", "split"]].values.tolist() == [
        ["ISIC_3", "mel", "train"],
        ["ISIC_2", "bcc", "train"],
        ["ISIC_4", "nv", "val"],
    ]
    assert frame["file"].tolist() == [str(images / "16" / f"{i}.png") for i in frame["id"]]


def test_real_image_set_raises_naming_a_missing_resized_file(tmp_path):
    images = resized_images(tmp_path, ["ISIC_3"])  # ISIC_2 (train) was not resized
    with pytest.raises(DataError, match=r"16/ISIC_2.png: resized image missing \(1 in all\)"):
        real_image_set(split_table(tmp_path), images, size=16, splits=["train"])


def test_real_image_set_raises_when_a_split_has_no_images(tmp_path):
    images = resized_images(tmp_path, ["ISIC_1", "ISIC_2", "ISIC_3", "ISIC_4"])
    with pytest.raises(DataError, match=r"no images in split\(s\) \['holdout'\]"):
        real_image_set(split_table(tmp_path), images, size=16, splits=["holdout"])


def test_real_image_set_of_a_pairs_table_takes_every_row(tmp_path):
    pairs = write_csv(
        tmp_path / "pairs.csv",
        [
            {"image_id": "a", "label": "mel", "caption": "x"},
            {"image_id": "b", "label": "nv", "caption": "y"},
        ],
    )
    images = resized_images(tmp_path, ["a", "b"], size=8)
    frame = real_image_set(pairs, images, size=8, splits=None)
    assert frame[["id", "class", "split"]].values.tolist() == [
        ["a", "mel", "all"],
        ["b", "nv", "all"],
    ]

"""dermsynth.classify.image_cache: every image decoded once into a memory-mapped cache whose rows
are what the file loader decodes (`load_rgb`'s square, `load_square_at`'s random-position square),
the same bytes for the same images; an image that cannot be decoded, or is not in the cache, is
an error naming it; a grid run reads the same pixels, and trains to the same bytes, from caches as
from files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from classify_fixtures import (
    GRID_SIZE,
    TINY_GRID_SETTINGS,
    noisy_image,
    run_toy_grid,
    write_grid_toy,
)

from dermsynth.classify.image_cache import (
    ImageCache,
    frame_references,
    pixels_path,
    real_references,
    synthetic_references,
    write_image_cache,
)
from dermsynth.classify.paper2_loader import load_square_at
from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path, short_side_path
from dermsynth.errors import DataError
from dermsynth.images import load_rgb

SIZE = 16
POSITIONS = [(0.0, 0.0), (0.3, 0.9), (0.999, 0.5), (1.0, 1.0)]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Images of every shape a cache meets: squares at the input size and larger (synthetic
    images), whole-image copies whose shorter side is the input size (tall and wide) or larger."""
    root = tmp_path_factory.mktemp("images")
    shapes = {
        "square": (SIZE, SIZE),
        "square_large": (3 * SIZE + 1, 3 * SIZE + 1),
        "tall": (SIZE + 7, SIZE),
        "wide": (SIZE, SIZE + 11),
        "wide_large": (2 * SIZE, 3 * SIZE),
    }
    files = {}
    for k, (name, (height, width)) in enumerate(shapes.items()):
        pixels = noisy_image((100 + 20 * k, 90, 80), k, size=max(height, width))[:height, :width]
        files[name] = str(root / f"{name}.png")
        write_png(files[name], np.ascontiguousarray(pixels))
    return files


def make_cache(folder, references, size=SIZE, workers=1) -> ImageCache:
    index = folder / "index.csv"
    write_image_cache(
        references, pixels=pixels_path(index), index=index, size=size, workers=workers
    )
    return ImageCache([index], size)


def test_the_same_images_give_the_same_cache_bytes_with_any_number_of_workers(images, tmp_path):
    references = list(images.values())
    for name, workers in (("one", 1), ("again", 1), ("two", 2)):
        (tmp_path / name).mkdir()
        make_cache(tmp_path / name, references, workers=workers)
    for name in ("again", "two"):
        for file in ("index.csv", "pixels.npy"):
            assert (tmp_path / name / file).read_bytes() == (tmp_path / "one" / file).read_bytes()
    leftovers = {p.name for p in tmp_path.rglob("*")} - {"one", "again", "two"}
    assert leftovers == {"index.csv", "pixels.npy"}  # written under temporary names, renamed


def test_the_pixels_are_one_uint8_numpy_array_that_memory_maps(images, tmp_path):
    cache = make_cache(tmp_path, list(images.values()))
    pixels = np.load(tmp_path / "pixels.npy", mmap_mode="r")
    index = pd.read_csv(tmp_path / "index.csv")
    assert isinstance(pixels, np.memmap) and pixels.dtype == np.uint8 and pixels.ndim == 1
    assert list(index.columns) == ["reference", "size", "height", "width", "offset"]
    assert len(pixels) == (index["height"] * index["width"] * 3).sum()
    assert list(index["reference"]) == list(images.values()) and len(cache) == len(images)
    # squares are stored at the input size, any other shape as decoded
    stored = {r: (h, w) for r, h, w in index[["reference", "height", "width"]].to_numpy()}
    assert stored[images["square_large"]] == (SIZE, SIZE)
    assert stored[images["wide_large"]] == (2 * SIZE, 3 * SIZE)


def test_a_row_is_the_image_as_the_file_loader_decodes_it(images, tmp_path):
    cache = make_cache(tmp_path, list(images.values()))
    rows = cache.locate(list(images.values()))
    for row, file in zip(rows, images.values(), strict=True):
        assert np.array_equal(cache.square(row), load_rgb(file, SIZE))
        for position in POSITIONS:
            assert np.array_equal(
                cache.square_at(row, position), load_square_at(file, SIZE, position)
            ), (file, position)


def test_a_crop_is_a_view_of_the_memmap_when_the_shorter_side_is_the_input_size(images, tmp_path):
    cache = make_cache(tmp_path, [images["tall"], images["square_large"]])
    tall, square = cache.locate([images["tall"], images["square_large"]])
    assert not cache.square_at(tall, (0.5, 0.5)).flags.owndata
    assert not cache.square_at(square, (0.2, 0.7)).flags.owndata


def test_references_are_found_however_their_path_is_spelled(images, tmp_path):
    cache = make_cache(tmp_path, [images["square"]])
    folder, name = images["square"].rsplit("/", 1)
    assert list(cache.locate([f"{folder}/./{name}"])) == [0]


def test_an_image_missing_from_the_cache_is_an_error_naming_it(images, tmp_path):
    cache = make_cache(tmp_path, [images["square"]])
    with pytest.raises(DataError, match=r"wide\.png: not in the image cache \(2 of 3 images"):
        cache.locate([images["square"], images["wide"], images["tall"]])


@pytest.mark.parametrize("bad", ["broken", "missing"])
def test_an_image_that_cannot_be_decoded_stops_the_cache_naming_it(images, tmp_path, bad):
    file = tmp_path / f"{bad}.png"
    if bad == "broken":
        file.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    out = tmp_path / "cache"
    for workers in (1, 2):
        with pytest.raises(
            DataError, match=rf"{bad}\.png: cannot decode image for the image cache"
        ):
            write_image_cache(
                [images["square"], str(file), images["tall"]],
                pixels=out / "pixels.npy",
                index=out / "index.csv",
                size=SIZE,
                workers=workers,
            )
        assert not out.exists() or not list(out.iterdir())  # nothing left behind


def test_a_cache_for_another_input_size_is_refused(images, tmp_path):
    make_cache(tmp_path, [images["square"]])
    with pytest.raises(DataError, match=r"index\.csv: a cache for 16 px input; this run reads 24"):
        ImageCache([tmp_path / "index.csv"], 24)


def test_pixels_that_do_not_match_their_index_are_an_error_naming_the_file(images, tmp_path):
    cache = make_cache(tmp_path, [images["square"], images["tall"]])
    np.save(tmp_path / "pixels.npy", np.zeros(10, np.uint8))
    with pytest.raises(DataError, match=r"pixels\.npy: holds \(10,\) uint8.*remake the cache"):
        cache.square(0)
    (tmp_path / "pixels.npy").unlink()
    with pytest.raises(DataError, match=r"pixels\.npy: image cache pixels missing"):
        ImageCache([tmp_path / "index.csv"], SIZE).square(0)


def test_a_cache_opened_in_a_worker_process_maps_its_own_files(images, tmp_path):
    import pickle

    cache = make_cache(tmp_path, [images["square"]])
    first = cache.square(0).copy()
    copy = pickle.loads(pickle.dumps(cache))
    assert copy._arrays == {} and np.array_equal(copy.square(0), first)


def test_which_images_a_cache_holds(tmp_path):
    toy = write_grid_toy(tmp_path / "toy")
    image_ids = pd.read_csv(toy.split)["image_id"]
    image_ids.to_frame().to_csv(toy.images / "index.csv", index=False)
    squares = real_references(toy.images, GRID_SIZE, whole=False)
    assert squares == [str(resized_path(toy.images, GRID_SIZE, i)) for i in image_ids]
    both = real_references(toy.images, GRID_SIZE, whole=True)
    assert both[len(squares) :] == [
        str(short_side_path(toy.images, GRID_SIZE, i)) for i in image_ids
    ]
    manifest = pd.read_csv(toy.synthetic)
    assert synthetic_references([toy.synthetic, toy.synthetic]) == list(manifest["file"])
    frame = pd.DataFrame({"file": ["a.png", "b.png"], "whole_file": ["a-whole.png", np.nan]})
    assert frame_references(frame) == ["a.png", "b.png"]
    assert frame_references(frame, random_crop=True) == ["a-whole.png", "b.png"]


# --- a grid run from caches, as the workflow runs it, against the same run from files --------


# our regime with its per-image transforms (the authors' random crops are held to files in
# test_classify_paper2_loader.py: its EfficientNetV2-M takes seconds per run even at 32 px)
@pytest.mark.usefixtures("one_torch_thread")
def test_a_grid_run_from_caches_writes_the_bytes_of_a_run_from_files(tmp_path):
    settings = TINY_GRID_SETTINGS | {"transforms": True, "epochs": 1}
    toy = write_grid_toy(tmp_path / "toy")
    pd.read_csv(toy.split)[["image_id"]].to_csv(toy.images / "index.csv", index=False)
    pd.DataFrame({"image_id": pd.read_csv(toy.ddi_external)["image_id"]}).to_csv(
        toy.ddi_images / "index.csv", index=False
    )
    caches = []
    for name, references in (
        ("real", real_references(toy.images, GRID_SIZE, whole=True)),
        ("ddi", real_references(toy.ddi_images, GRID_SIZE, whole=False)),
        ("synthetic", synthetic_references([toy.synthetic])),
    ):
        index = tmp_path / "caches" / name / "index.csv"
        write_image_cache(references, pixels=pixels_path(index), index=index, size=GRID_SIZE)
        caches.append(index)

    def run(name, input_, caches=None):
        _, files = run_toy_grid(
            toy,
            tmp_path / name,
            settings=settings | {"input": input_},
            ddi_split=toy.ddi_external,
            ddi_images=toy.ddi_images,
            caches=caches,
        )
        metrics = json.loads(files.metrics.read_text())
        assert metrics["settings"].pop("input") == input_
        weights = torch.load(files.model, weights_only=False)["state_dict"]
        return metrics, files.history.read_bytes(), weights

    def same(a, b):
        return a[:2] == b[:2] and all(torch.equal(a[2][k], b[2][k]) for k in a[2])

    files = run("files", "files")
    assert same(run("cached", "cache", caches), files)
    assert same(run("run_cache", "cache"), files)  # no caches given: one made for the run

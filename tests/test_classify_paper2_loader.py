"""dermsynth.classify.paper2_loader: batches decoded from files, every image once per epoch, in an
order and with transforms fixed by the seed and epoch, the same with or without worker processes;
and from an image cache, the same batches as from the files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from classify_fixtures import GRID_CLASSES, GRID_SIZE, toy_grid_frames, write_grid_toy
from PIL import Image
from prerequisites import require_import

from dermsynth.classify.image_cache import (
    ImageCache,
    frame_references,
    pixels_path,
    write_image_cache,
)
from dermsynth.classify.paper2_loader import FileBatches, file_image_set, load_square_at
from dermsynth.classify.paper2_transforms import standard_transforms
from dermsynth.classify.settings import GridSettings
from dermsynth.errors import DataError
from dermsynth.images import load_rgb

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    toy = write_grid_toy(tmp_path_factory.mktemp("loader"))
    frames = toy_grid_frames(toy, 2)
    return file_image_set(frames["train"], GRID_CLASSES, GRID_SIZE)


def epoch(batches: FileBatches, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches.epoch(k), strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_an_epoch_is_every_image_once_decoded_over_255(data):
    batches = FileBatches(data, 3, seed=0, shuffle=True)
    plan = batches.plan(1)
    rows = [r for _, _, step_rows in plan for r in step_rows]
    assert sorted(rows) == list(range(len(data))) and len(batches) == len(plan) == 3
    x, y = epoch(batches, 1)
    assert torch.equal(y, data.labels[rows])
    first = torch.tensor(load_rgb(data.frame["file"][rows[0]], GRID_SIZE)).permute(2, 0, 1)
    assert torch.equal(x[0], first.float() / 255)


def test_order_is_fixed_by_seed_and_epoch(data):
    def order(seed, k):
        return [
            r for _, _, rows in FileBatches(data, 3, seed=seed, shuffle=True).plan(k) for r in rows
        ]

    assert order(0, 1) == order(0, 1) != order(0, 2)
    assert order(0, 1) != order(1, 1)
    assert [r for _, _, rows in FileBatches(data, 3).plan(4) for r in rows] == list(range(8))


def test_batches_are_the_same_with_worker_processes(data):
    settings = GridSettings(regime="ours", image_size=GRID_SIZE, transforms=True)
    transform = standard_transforms(settings)
    here = FileBatches(data, 4, seed=3, shuffle=True, transform=transform)
    workers = FileBatches(data, 4, seed=3, shuffle=True, transform=transform, workers=2)
    (x0, y0), (x1, y1) = epoch(here, 2), epoch(workers, 2)
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(x0, epoch(FileBatches(data, 4, seed=3, shuffle=True), 2)[0])


def test_max_steps_caps_an_epoch(data):
    batches = FileBatches(data, 3, shuffle=True, max_steps=2)
    assert len(batches) == 2 and epoch(batches, 1)[1].numel() == 6


def test_an_unknown_label_is_refused(data):
    with pytest.raises(ValueError, match=r"label\(s\) \['psoriasis'\] are not among"):
        file_image_set(data.frame, GRID_CLASSES[1:], GRID_SIZE)


def test_random_crops_cut_the_whole_image_at_a_seeded_position(data):
    cropped = file_image_set(data.frame, GRID_CLASSES, GRID_SIZE, random_crop=True)
    batches = FileBatches(cropped, 4, seed=0, shuffle=True)
    x1, y1 = epoch(batches, 1)
    assert torch.equal(x1, epoch(FileBatches(cropped, 4, seed=0, shuffle=True), 1)[0])
    assert torch.equal(y1, epoch(FileBatches(data, 4, seed=0, shuffle=True), 1)[1])
    assert not torch.equal(x1, epoch(FileBatches(data, 4, seed=0, shuffle=True), 1)[0])
    assert not torch.equal(x1, epoch(batches, 2)[0])  # a new position every epoch
    workers = FileBatches(cropped, 4, seed=0, shuffle=True, workers=2)
    assert torch.equal(x1, epoch(workers, 1)[0])


@pytest.mark.parametrize("position", [(0.0, 0.0), (0.3, 0.9), (0.999, 0.5)])
def test_load_square_at_is_fastais_resize_on_a_training_image(tmp_path, position):
    fastai_augment = require_import("fastai.vision.augment")  # a test dependency
    from fastai.vision.core import PILImage

    pixels = np.random.default_rng(0).integers(0, 256, (GRID_SIZE + 7, GRID_SIZE, 3), np.uint8)
    path = tmp_path / "tall.png"
    Image.fromarray(pixels).save(path)
    resize = fastai_augment.Resize(GRID_SIZE)
    resize.pcts = position  # what its before_call draws for a training image
    theirs = np.asarray(resize.encodes(PILImage.create(path)))
    assert np.array_equal(load_square_at(path, GRID_SIZE, position), theirs)


# --- the same batches from an image cache (dermsynth.classify.image_cache) ---------------------


def cached(data, tmp_path, random_crop=False):
    """`data` read from a cache of every image it reads (squares, or whole-image copies)."""
    index = tmp_path / "cache" / "index.csv"
    write_image_cache(
        frame_references(data.frame, random_crop),
        pixels=pixels_path(index),
        index=index,
        size=data.image_size,
    )
    return file_image_set(
        data.frame, data.classes, data.image_size, random_crop, ImageCache([index], data.image_size)
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_a_cache_gives_the_batches_of_the_files_with_our_transforms(data, tmp_path, workers):
    settings = GridSettings(regime="ours", image_size=GRID_SIZE, transforms=True)
    options = {"seed": 3, "shuffle": True, "transform": standard_transforms(settings)}
    files = FileBatches(data, 4, **options)
    from_cache = FileBatches(cached(data, tmp_path), 4, workers=workers, **options)
    for k in (1, 2):
        (x0, y0), (x1, y1) = epoch(files, k), epoch(from_cache, k)
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_a_cache_gives_the_authors_random_crops_and_batch_transforms_of_the_files(data, tmp_path):
    require_import("fastai.vision.augment")  # a test dependency
    from dermsynth.classify.authors import fastai_augment

    crops = file_image_set(data.frame, GRID_CLASSES, GRID_SIZE, random_crop=True)
    options = {"seed": 5, "shuffle": True, "drop_last": True, "batch_transform": fastai_augment()}
    files = FileBatches(crops, 3, **options)
    from_cache = FileBatches(cached(crops, tmp_path, random_crop=True), 3, **options)
    for k in (1, 2):  # a new position every epoch, the same in both
        (x0, y0), (x1, y1) = epoch(files, k), epoch(from_cache, k)
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_crops_of_whole_images_larger_than_the_input_are_resized_as_from_files(data, tmp_path):
    # the toy's whole-image copies have a 32 px shorter side: read at 24 px, each crop is resized
    small = file_image_set(data.frame, GRID_CLASSES, 24, random_crop=True)
    files, from_cache = (
        FileBatches(s, 4, seed=1, shuffle=True) for s in (small, cached(small, tmp_path, True))
    )
    assert torch.equal(epoch(files, 1)[0], epoch(from_cache, 1)[0])


def test_an_image_the_cache_lacks_stops_the_loader_before_training_naming_it(data, tmp_path):
    some = file_image_set(data.frame.iloc[:3], GRID_CLASSES, GRID_SIZE)
    cache = cached(some, tmp_path).cache
    with pytest.raises(DataError, match=rf"{data.frame['file'][3]}: not in the image cache"):
        FileBatches(file_image_set(data.frame, GRID_CLASSES, GRID_SIZE, cache=cache), 4)
    with pytest.raises(ValueError, match="an image cache for 32 px input; the set reads 24 px"):
        file_image_set(data.frame, GRID_CLASSES, 24, cache=cache)

"""dermsynth.classify.data: which images each variant trains, validates and tests on (synthetic
images train only), decoding once at the run's size, and seeded batches.

The toy dataset is paper 1's of classify_fixtures (three classes of six flat-coloured 24 px
real images each, two 40 px synthetic images per class).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from classify_fixtures import CLASSES, COLOURS, SIZE, Toy, write_toy_dataset

from dermsynth.classify.augment import Augmentation
from dermsynth.classify.data import Batches, ImageSet, load_image_set, variant_frames
from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError

VARIANTS_IN_ORDER = ("original", "synthetic", "combined")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    """Read-only."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def frames(toy: Toy, variant: str, **changes) -> dict[str, pd.DataFrame]:
    arguments = {
        "size": SIZE, "variant": variant, "classes": CLASSES,
        "synthetic": None if variant == "original" else toy.synthetic,
    }  # fmt: skip
    return variant_frames(toy.split, toy.images, **{**arguments, **changes})


def real_files(toy: Toy, split: str) -> set[str]:
    table = pd.read_csv(toy.split)
    ids = table.loc[table["split"] == split, "image_id"]
    return {str(resized_path(toy.images, SIZE, i)) for i in ids}


@pytest.mark.parametrize("variant", ["original", "synthetic", "combined"])
def test_val_and_test_are_the_splits_real_images_whatever_the_variant(toy, variant):
    chosen = frames(toy, variant)
    synthetic = set(pd.read_csv(toy.synthetic)["file"])
    for split in ("val", "test"):
        assert set(chosen[split]["source"]) == {"real"}
        assert set(chosen[split]["file"]) == real_files(toy, split)
        assert not synthetic & set(chosen[split]["file"])


def test_combined_trains_on_the_original_and_every_synthetic_image(toy):
    original, synthetic, combined = (frames(toy, v)["train"] for v in VARIANTS_IN_ORDER)
    assert len(combined) == len(original) + len(synthetic) == 12 + 6
    assert set(combined["file"]) == set(original["file"]) | set(synthetic["file"])
    assert combined.groupby("source").size().to_dict() == {"real": 12, "synthetic": 6}


def test_original_trains_on_real_and_synthetic_on_synthetic_images_only(toy):
    original, synthetic = frames(toy, "original")["train"], frames(toy, "synthetic")["train"]
    assert set(original["file"]) == real_files(toy, "train")
    assert set(original["source"]) == {"real"}
    assert set(synthetic["file"]) == set(pd.read_csv(toy.synthetic)["file"])
    assert set(synthetic["source"]) == {"synthetic"}
    assert list(synthetic.columns) == ["file", "label", "source"]


def test_synthetic_variants_need_a_manifest(toy):
    with pytest.raises(ValueError, match="needs a synthetic manifest"):
        frames(toy, "combined", synthetic=None)
    with pytest.raises(ValueError, match="variant must be one of"):
        frames(toy, "real_only")


def test_an_unknown_label_is_named_with_its_file_and_line(toy, tmp_path):
    split = pd.read_csv(toy.split)
    split.loc[2, "label"] = "scc"
    split.to_csv(bad := tmp_path / "split.csv", index=False)
    with pytest.raises(DataError, match=rf"{bad}, line 4: label 'scc' is not one of"):
        variant_frames(bad, toy.images, size=SIZE, variant="original", classes=CLASSES)
    manifest = pd.read_csv(toy.synthetic)
    manifest.loc[0, "class"] = "MEL"
    manifest.to_csv(bad_manifest := tmp_path / "manifest.csv", index=False)
    with pytest.raises(DataError, match=rf"{bad_manifest}, line 2: class 'MEL'"):
        frames(toy, "synthetic", synthetic=bad_manifest)


def test_a_class_without_training_images_is_an_error(toy, tmp_path):
    manifest = pd.read_csv(toy.synthetic)
    manifest[manifest["class"] != "nv"].to_csv(partial := tmp_path / "m.csv", index=False)
    with pytest.raises(DataError, match=r"no training image of class\(es\) \['nv'\]"):
        frames(toy, "synthetic", synthetic=partial)
    # the real training images of nv make up for it when combined
    assert (frames(toy, "combined", synthetic=partial)["train"]["label"] == "nv").sum() == 4


def test_a_missing_resized_image_is_named(toy):
    with pytest.raises(DataError, match=r"/32/ISIC_.*resized image missing \(12 of the train"):
        frames(toy, "original", size=32)


def test_images_are_decoded_once_at_the_runs_size(toy):
    train = frames(toy, "combined")["train"]
    data = load_image_set(train, list(CLASSES), SIZE, workers=2)
    assert data.images.shape == (18, 3, SIZE, SIZE) and data.images.dtype == torch.uint8
    # real image 1 of bcc (4 lighter than its class colour), and a 40 px synthetic one resized:
    # a flat colour stays that colour
    assert train["file"][1].endswith("ISIC_bcc_1.png") and train["source"][12] == "synthetic"
    assert (data.images[1] == torch.tensor(np.add(COLOURS["bcc"], 4))[:, None, None]).all()
    colour = torch.tensor(COLOURS[train["label"][12]], dtype=torch.uint8)
    assert (data.images[12] == colour[:, None, None]).all()
    assert data.labels.tolist() == [list(CLASSES).index(c) for c in train["label"]]


def noise_set(n: int = 10, size: int = 8, seed: int = 0) -> ImageSet:
    """`n` images of uniform noise; image i's label is i (so a batch row names its image)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    frame = pd.DataFrame({"file": [f"{i}.png" for i in range(n)], "label": "x", "source": "real"})
    return ImageSet(images, torch.arange(n), frame, tuple(str(i) for i in range(n)))


def epoch(batches: Batches, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches.epoch(k), strict=True)
    return torch.cat(xs), torch.cat(ys)


def test_batches_without_augmentation_are_every_image_once_over_255():
    data = noise_set()
    x, y = epoch(Batches(data, 3, seed=1, shuffle=True), 1)
    assert sorted(y.tolist()) == list(range(10))
    assert torch.equal(x, data.images[y].float() / 255)
    x, y = epoch(Batches(data, 4), 5)  # no shuffle: in order
    assert y.tolist() == list(range(10))


def test_batch_order_is_fixed_by_seed_and_epoch():
    data = noise_set()

    def order(seed, k):
        return epoch(Batches(data, 3, seed=seed, shuffle=True), k)[1].tolist()

    assert order(0, 1) == order(0, 1)
    assert order(0, 1) != order(0, 2)
    assert order(0, 1) != order(1, 1)


def test_augmentation_is_fixed_by_seed_and_epoch_and_changes_the_pixels():
    data = noise_set()

    def augmented(seed, k):
        return epoch(Batches(data, 4, seed=seed, shuffle=True, augmentation=Augmentation()), k)

    (x1, y1), (x2, y2) = augmented(3, 2), augmented(3, 2)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(x1, data.images[y1].float() / 255)
    x3, y3 = augmented(3, 4)
    assert not torch.equal(x3[y3.argsort()], x1[y1.argsort()])
    assert x1.min() >= 0 and x1.max() <= 1


def test_max_steps_caps_an_epoch():
    batches = Batches(noise_set(), 3, shuffle=True, max_steps=2)
    assert len(batches) == 2
    assert epoch(batches, 1)[1].numel() == 6
    assert len(Batches(noise_set(), 3)) == 4

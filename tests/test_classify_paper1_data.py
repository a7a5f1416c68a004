"""dermsynth.classify.paper1_data: which images each variant trains, validates and tests on (test
set `real`: synthetic images train only; `paper`: each arm's own images split 80/20), decoding once
at the run's size, and seeded batches.

The toy dataset is paper 1's of classify_fixtures (three classes of six flat-coloured 24 px
real images each, two 40 px synthetic images per class).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from classify_fixtures import CLASSES, COLOURS, SIZE, Toy, write_toy_dataset

from dermsynth.classify.paper1_augment import Augmentation
from dermsynth.classify.paper1_data import (
    Batches,
    ImageSet,
    load_image_set,
    paper_sides,
    variant_frames,
)
from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path
from dermsynth.data.splits import paper_random
from dermsynth.errors import DataError

VARIANTS_IN_ORDER = ("original", "synthetic", "combined")
# the demo's and the paper config's splits.ham10000.paper_random
SYNTHETIC_SPLIT = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Toy:
    """Read-only."""
    return write_toy_dataset(tmp_path_factory.mktemp("toy"))


def frames(toy: Toy, variant: str, **changes) -> dict[str, pd.DataFrame]:
    arguments = {
        "size": SIZE,
        "variant": variant,
        "classes": CLASSES,
        "synthetic": None if variant == "original" else toy.synthetic,
    }
    return variant_frames(toy.split, toy.images, **{**arguments, **changes})


def real_files(toy: Toy, split: str) -> set[str]:
    table = pd.read_csv(toy.split)
    ids = table.loc[table["split"] == split, "image_id"]
    return {str(resized_path(toy.images, SIZE, i)) for i in ids}


@pytest.mark.parametrize("variant", ["original", "synthetic", "combined"])
def test_val_and_test_are_the_splits_real_images_whatever_the_variant(toy, variant):
    """The default composition, `real`."""
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
    assert list(synthetic.columns) == ["file", "label", "source", "image_id"]


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


def test_paper_sides_split_by_image_with_the_counts_of_the_real_random_split():
    labels = [f"class{i % 7}" for i in range(10_015)]  # HAM10000's count
    sides = paper_sides(labels, **SYNTHETIC_SPLIT)
    # paper_random's counts: ceil(0.2 n) test, then ceil(0.1 / 0.8 of the rest) validation
    real = paper_random(
        pd.DataFrame({"image_id": range(10_015), "label": labels}), **SYNTHETIC_SPLIT
    )
    expected = real["split"].value_counts().to_dict()
    assert expected == {"train": 7010, "val": 1002, "test": 2003}
    assert pd.Series(sides).value_counts().to_dict() == expected
    assert sides == paper_sides(labels, **SYNTHETIC_SPLIT)
    assert sides != paper_sides(labels, **{**SYNTHETIC_SPLIT, "seed": 1})


def test_paper_sides_never_take_the_last_training_image_of_a_class():
    labels = [c for c in "abcdefg" for _ in range(2)]  # the demo: two images per class
    for seed in range(20):
        sides = paper_sides(labels, **{**SYNTHETIC_SPLIT, "seed": seed})
        assert sides.count("test") == 3 and sides.count("val") == 2  # ceil(2.8), ceil(1.375)
        trained = {label for label, side in zip(labels, sides, strict=True) if side == "train"}
        assert trained == set(labels)


def paper_frames(toy: Toy, variant: str) -> dict[str, pd.DataFrame]:
    return frames(toy, variant, test_set="paper", synthetic_split=SYNTHETIC_SPLIT)


def test_the_papers_composition_leaves_the_original_arm_as_it_was(toy):
    paper, real = paper_frames(toy, "original"), frames(toy, "original")
    for split in ("train", "val", "test"):
        assert paper[split].equals(real[split])


def test_the_papers_composition_tests_the_synthetic_arm_on_synthetic_images_only(toy):
    chosen = paper_frames(toy, "synthetic")
    synthetic = set(pd.read_csv(toy.synthetic)["file"])
    # six synthetic images: ceil(1.2) = 2 test, ceil(0.5) = 1 validation, one per class trains
    assert {s: len(f) for s, f in chosen.items()} == {"train": 3, "val": 1, "test": 2}
    assert set(chosen["train"]["label"]) == set(CLASSES)
    for frame in chosen.values():
        assert set(frame["source"]) == {"synthetic"}
    files = [set(frame["file"]) for frame in chosen.values()]
    assert set().union(*files) == synthetic and sum(map(len, files)) == len(synthetic)


def test_the_papers_composition_tests_the_combined_arm_on_real_and_synthetic_images(toy):
    combined, synthetic = paper_frames(toy, "combined"), paper_frames(toy, "synthetic")
    for split, n_real in (("train", 12), ("val", 3), ("test", 3)):
        real = combined[split][combined[split]["source"] == "real"]
        assert set(real["file"]) == real_files(toy, split)
        made = combined[split][combined[split]["source"] == "synthetic"]
        # the same synthetic images on each side as in the synthetic arm
        assert set(made["file"]) == set(synthetic[split]["file"])
        assert len(real) == n_real
    assert combined["test"]["source"].value_counts().to_dict() == {"real": 3, "synthetic": 2}


@pytest.fixture(scope="module")
def fifths(tmp_path_factory) -> Toy:
    """60 real images (a paper_random split: 42 train, 6 val, 12 test) and a manifest of 60
    synthetic ones (never decoded, so never written), 20 of each class."""
    root = tmp_path_factory.mktemp("fifths")
    labels = [list(CLASSES)[i % 3] for i in range(60)]
    pairs = pd.DataFrame({"image_id": [f"ISIC_{i:03d}" for i in range(60)], "label": labels})
    for image_id in pairs["image_id"]:
        path = resized_path(root / "images", SIZE, image_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png(path, np.zeros((SIZE, SIZE, 3), dtype=np.uint8))
    paper_random(pairs, **SYNTHETIC_SPLIT).to_csv(split := root / "split.csv", index=False)
    manifest = pd.DataFrame({"file": [f"made/{i}.png" for i in range(60)], "class": labels})
    manifest.to_csv(synthetic := root / "manifest.csv", index=False)
    return Toy(split, root / "images", synthetic)


@pytest.mark.parametrize(
    ("variant", "loaded", "tested"),
    [
        ("original", 60, {"real"}),
        ("synthetic", 60, {"synthetic"}),
        ("combined", 120, {"real", "synthetic"}),
    ],
)
def test_the_papers_composition_tests_each_arm_on_a_fifth_of_its_own_images(
    fifths, variant, loaded, tested
):
    chosen = paper_frames(fifths, variant)
    assert sum(len(frame) for frame in chosen.values()) == loaded
    assert len(chosen["test"]) == loaded // 5
    assert len(chosen["val"]) == loaded // 10  # out of the training side
    assert set(chosen["test"]["source"]) == tested
    # and under `real` every arm tests on the same twelve real images
    assert set(frames(fifths, variant)["test"]["source"]) == {"real"}
    assert len(frames(fifths, variant)["test"]) == 12


def test_the_papers_composition_needs_the_synthetic_split_and_a_known_name(toy):
    with pytest.raises(ValueError, match="give synthetic_split"):
        frames(toy, "synthetic", test_set="paper")
    with pytest.raises(ValueError, match="test_set must be one of"):
        frames(toy, "original", test_set="synthetic")


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

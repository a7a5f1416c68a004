"""dermsynth.design.paper1: which images each protocol's GLIDE learns from, and how many of a
CNN's test images it saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dermsynth.data.splits import lesion_grouped, paper_random
from dermsynth.design.paper1 import (
    GlideSet,
    glide_sets,
    glide_training_images,
    parse_glide_set,
    seen_by_generator,
)
from dermsynth.errors import DataError

TRAIN_ON = {"paper_random": "all", "lesion_grouped": ["train"]}


def config(train_on=None, variants=("original", "synthetic", "combined")) -> dict:
    return {
        "glide": {"train_on": TRAIN_ON if train_on is None else train_on},
        "splits": {"ham10000": {"paper_random": {}, "lesion_grouped": {}}},
        "classify": {
            "paper_cnn": {
                "variants": list(variants),
                "protocols": ["paper_random", "lesion_grouped"],
            }
        },
    }


def ham_pairs(lesions: int = 60, seed: int = 0) -> pd.DataFrame:
    """Lesions of one to three images each, in three classes, as HAM10000's pairs table."""
    rng = np.random.default_rng(seed)
    rows = []
    for lesion in range(lesions):
        label = ("mel", "nv", "bkl")[lesion % 3]
        for k in range(int(rng.integers(1, 4))):
            rows.append(
                {
                    "image_id": f"ISIC_{lesion:03d}_{k}",
                    "label": label,
                    "group_id": f"HAM_{lesion:03d}",
                    "caption": f"a {label}",
                }
            )
    return pd.DataFrame(rows)


def test_each_protocol_gets_its_own_glide_set_named_after_it():
    sets = glide_sets(config())

    assert sets == {
        "paper_random": GlideSet("paper_random", None),
        "lesion_grouped": GlideSet("lesion_grouped", ("train",)),
    }
    assert [s.name for s in sets.values()] == ["glide-paper_random", "glide-lesion_grouped"]
    assert sets["paper_random"].trained_on == "all HAM10000 images (paper 1, section 2.1)"
    assert sets["lesion_grouped"].trained_on == "lesion_grouped split: train"
    assert parse_glide_set("glide-lesion_grouped") == "lesion_grouped"
    assert parse_glide_set("glide") is None
    assert parse_glide_set("inpaint-dreambooth-ddi") is None


@pytest.mark.parametrize(
    ("train_on", "variants", "message"),
    [
        (
            {"paper_random": "all", "grouped": ["train"]},
            ("original",),
            r"glide.train_on.grouped: 'grouped' is not a HAM10000 split protocol",
        ),
        ({"paper_random": "every"}, ("original",), r"glide.train_on.paper_random: 'every'"),
        ({"paper_random": ["train", "holdout"]}, ("original",), r"glide.train_on.paper_random"),
        ({"paper_random": []}, ("original",), r"expected 'all' or a list"),
        (
            {"paper_random": "all"},
            ("original", "combined"),
            r"reads the GLIDE sets of protocols \['lesion_grouped'\]",
        ),
    ],
)
def test_a_bad_train_on_names_its_key(train_on, variants, message):
    with pytest.raises(ValueError, match=message):
        glide_sets(config(train_on, variants))


def test_the_original_arm_alone_needs_no_glide():
    assert glide_sets(config({}, ("original",))) == {}


def test_paper_random_glide_learns_from_every_image_and_records_its_split():
    pairs = ham_pairs()
    split = paper_random(pairs, test_fraction=0.2, val_fraction=0.1, seed=0)

    images = glide_training_images(pairs, split, GlideSet("paper_random", None))

    assert list(images.columns) == ["image_id", "label", "group_id", "split"]
    assert list(images["image_id"]) == list(pairs["image_id"])
    assert list(images["split"]) == list(split["split"])
    assert (
        seen_by_generator(split.loc[split["split"] == "test", "image_id"], images)
        == (split["split"] == "test").sum()
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_lesion_grouped_test_or_val_lesion_is_in_its_glides_training_images(seed):
    pairs = ham_pairs(seed=seed)
    split = lesion_grouped(pairs, test_fraction=0.2, val_fraction=0.1, seed=seed)

    images = glide_training_images(pairs, split, GlideSet("lesion_grouped", ("train",)))

    held_out = split["split"] != "train"
    held_out_lesions = set(pairs.loc[held_out.to_numpy(), "group_id"])
    assert held_out_lesions  # the split holds lesions out
    assert not held_out_lesions & set(images["group_id"])
    assert set(images["split"]) == {"train"}
    assert list(images["image_id"]) == list(pairs.loc[~held_out.to_numpy(), "image_id"])
    assert seen_by_generator(split.loc[split["split"] == "test", "image_id"], images) == 0


def test_an_image_without_a_split_or_an_empty_choice_names_the_table():
    pairs = ham_pairs(lesions=6)
    split = paper_random(pairs, test_fraction=0.2, val_fraction=0.0, seed=0)

    with pytest.raises(DataError, match=r"splits/paper_random.csv: 1 images of the pairs table"):
        glide_training_images(
            pairs,
            split.iloc[1:],
            GlideSet("paper_random", None),
            split_name="splits/paper_random.csv",
        )
    with pytest.raises(DataError, match=r"glide-paper_random: no image in paper_random split: val"):
        glide_training_images(pairs, split, GlideSet("paper_random", ("val",)))

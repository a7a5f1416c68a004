"""dermsynth.data.splits: each protocol's promise about which image lands on which side."""

from __future__ import annotations

import pandas as pd
import pytest

from dermsynth.data.splits import (
    SPLITS,
    ddi_external,
    ddi_paper,
    fitzpatrick_paper,
    lesion_grouped,
    make_split,
    paper_random,
    shared_label,
)
from dermsynth.errors import DataError


def splits_per_group(pairs: pd.DataFrame, split: pd.DataFrame) -> pd.Series:
    """How many different splits the images of each group (HAM10000: lesion) are in."""
    with_group = split.assign(group_id=pairs["group_id"].values)
    return with_group.groupby("group_id")["split"].nunique()


def share(split: pd.DataFrame, name: str) -> float:
    return float((split["split"] == name).mean())


def small_f17k_pairs(images_per_class: dict[str, int]) -> pd.DataFrame:
    """A pairs table with `images_per_class` images of each label, classes interleaved."""
    rows = [
        {"image_id": f"{label.split()[0]}-{i:02d}", "label": label, "skin_type": str(1 + i % 6)}
        for label, n in images_per_class.items()
        for i in range(n)
    ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)


# --- every protocol ---------------------------------------------------------------------------

PROTOCOLS = [
    ("ham10000", "paper_random"),
    ("ham10000", "lesion_grouped"),
    ("fitzpatrick17k", "paper"),
    ("ddi", "paper"),
    ("ddi", "external"),
]


@pytest.mark.parametrize(("dataset", "protocol"), PROTOCOLS)
def test_every_protocol_lists_each_image_once_in_pairs_order_with_its_label(
    dataset, protocol, config, ham_pairs, f17k_pairs, ddi_pairs
):
    pairs = {"ham10000": ham_pairs, "fitzpatrick17k": f17k_pairs, "ddi": ddi_pairs}[dataset]
    split = make_split(dataset, protocol, pairs, config["splits"][dataset][protocol])
    assert split["image_id"].tolist() == pairs["image_id"].tolist()
    assert split["label"].tolist() == pairs["label"].tolist()
    assert split["split"].isin(SPLITS).all()


def test_make_split_rejects_an_unknown_protocol(ham_pairs):
    with pytest.raises(ValueError, match="no split protocol 'by_hospital'"):
        make_split("ham10000", "by_hospital", ham_pairs, {})


def test_make_split_rejects_a_protocol_of_another_dataset(ham_pairs):
    with pytest.raises(ValueError, match="'paper_random' for dataset 'ddi'"):
        make_split("ddi", "paper_random", ham_pairs, {"test_fraction": 0.2})


# --- HAM10000: lesion_grouped ----------------------------------------------------------------


def test_demo_ham10000_has_lesions_with_several_images(ham_pairs):
    # the premise of the two HAM10000 protocols' tests below
    assert ham_pairs["group_id"].duplicated().sum() > 50


def test_lesion_grouped_split_puts_no_lesion_on_both_sides(ham_pairs):
    split = lesion_grouped(ham_pairs, test_fraction=0.2, val_fraction=0.1, seed=0)
    assert (splits_per_group(ham_pairs, split) == 1).all()


def test_lesion_grouped_split_has_every_class_in_test_and_val(ham_pairs, ham_classes):
    split = lesion_grouped(ham_pairs, test_fraction=0.2, val_fraction=0.1, seed=0)
    for name in ("test", "val"):
        assert set(split.loc[split["split"] == name, "label"]) == set(ham_classes), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lesion_grouped_split_meets_the_fractions_to_within_three_points(ham_pairs, seed):
    split = lesion_grouped(ham_pairs, test_fraction=0.2, val_fraction=0.1, seed=seed)
    assert share(split, "test") == pytest.approx(0.2, abs=0.03)
    assert share(split, "val") == pytest.approx(0.1, abs=0.03)


def test_lesion_grouped_split_without_val_fraction_has_no_val(ham_pairs):
    split = lesion_grouped(ham_pairs, test_fraction=0.2, val_fraction=0.0, seed=0)
    assert set(split["split"]) == {"train", "test"}


def test_lesion_grouped_split_is_the_same_for_a_seed_and_differs_across_seeds(ham_pairs):
    first = lesion_grouped(ham_pairs, 0.2, 0.1, seed=0)
    pd.testing.assert_frame_equal(first, lesion_grouped(ham_pairs, 0.2, 0.1, seed=0))
    assert not first["split"].equals(lesion_grouped(ham_pairs, 0.2, 0.1, seed=1)["split"])


# --- HAM10000: paper_random ------------------------------------------------------------------


def test_paper_random_split_holds_out_a_fifth_for_test_and_a_tenth_for_val(ham_pairs):
    split = paper_random(ham_pairs, test_fraction=0.2, val_fraction=0.1, seed=0)
    one_image = 1 / len(split)
    assert share(split, "test") == pytest.approx(0.2, abs=one_image)
    assert share(split, "val") == pytest.approx(0.1, abs=one_image)


def test_paper_random_split_puts_views_of_some_lesion_on_both_sides(ham_pairs):
    # the leak paper 1 made: this split is kept to reproduce it, not to be used
    split = paper_random(ham_pairs, test_fraction=0.2, val_fraction=0.1, seed=0)
    assert (splits_per_group(ham_pairs, split) > 1).sum() >= 20


def test_paper_random_split_is_the_same_for_a_seed_and_differs_across_seeds(ham_pairs):
    first = paper_random(ham_pairs, 0.2, 0.1, seed=0)
    pd.testing.assert_frame_equal(first, paper_random(ham_pairs, 0.2, 0.1, seed=0))
    assert not first["split"].equals(paper_random(ham_pairs, 0.2, 0.1, seed=1)["split"])


# --- Fitzpatrick17k: paper 2's split --------------------------------------------------------

SMALL_F17K = {"psoriasis": 12, "lichen planus": 9, "sarcoidosis": 20}


def test_fitzpatrick_paper_split_holds_out_exactly_test_and_val_per_class_counts():
    pairs = small_f17k_pairs(SMALL_F17K)
    split = fitzpatrick_paper(pairs, list(SMALL_F17K), test_per_class=3, val_per_class=2, seed=0)
    counts = pd.crosstab(split["label"], split["split"])
    assert counts.to_dict() == {
        "test": {"lichen planus": 3, "psoriasis": 3, "sarcoidosis": 3},
        "val": {"lichen planus": 2, "psoriasis": 2, "sarcoidosis": 2},
        "train": {"lichen planus": 4, "psoriasis": 7, "sarcoidosis": 15},
    }


def test_fitzpatrick_paper_pool_rank_numbers_each_class_training_pool_from_zero():
    pairs = small_f17k_pairs(SMALL_F17K)
    split = fitzpatrick_paper(pairs, list(SMALL_F17K), test_per_class=3, val_per_class=2, seed=0)
    train = split[split["split"] == "train"]
    for label, part in train.groupby("label"):
        assert sorted(part["pool_rank"]) == list(range(len(part))), label
    assert split.loc[split["split"] != "train", "pool_rank"].isna().all()


def test_fitzpatrick_paper_pool_rank_below_n_takes_n_per_class_and_grows_by_adding_images():
    pairs = small_f17k_pairs(SMALL_F17K)
    split = fitzpatrick_paper(pairs, list(SMALL_F17K), test_per_class=3, val_per_class=2, seed=0)
    pool_sizes = {"psoriasis": 7, "lichen planus": 4, "sarcoidosis": 15}
    previous: set[str] = set()
    for n in (1, 2, 4, 8):
        chosen = split[(split["pool_rank"] < n).fillna(False)]
        assert chosen["label"].value_counts().to_dict() == {
            label: min(n, size) for label, size in pool_sizes.items()
        }
        assert previous <= set(chosen["image_id"])
        previous = set(chosen["image_id"])


def test_fitzpatrick_paper_split_of_a_class_does_not_depend_on_the_other_classes():
    both = small_f17k_pairs(SMALL_F17K)
    alone = both[both["label"] == "psoriasis"].reset_index(drop=True)
    with_others = fitzpatrick_paper(both, list(SMALL_F17K), 3, 2, seed=0)
    on_its_own = fitzpatrick_paper(alone, ["psoriasis"], 3, 2, seed=0)
    psoriasis = with_others[with_others["label"] == "psoriasis"].reset_index(drop=True)
    pd.testing.assert_frame_equal(psoriasis, on_its_own)


def test_fitzpatrick_paper_split_is_the_same_for_a_seed_and_differs_across_seeds():
    pairs = small_f17k_pairs(SMALL_F17K)
    first = fitzpatrick_paper(pairs, list(SMALL_F17K), 3, 2, seed=0)
    pd.testing.assert_frame_equal(first, fitzpatrick_paper(pairs, list(SMALL_F17K), 3, 2, seed=0))
    assert not first["split"].equals(fitzpatrick_paper(pairs, list(SMALL_F17K), 3, 2, 1)["split"])


def test_fitzpatrick_paper_split_keeps_each_image_skin_type():
    pairs = small_f17k_pairs(SMALL_F17K)
    split = fitzpatrick_paper(pairs, list(SMALL_F17K), 3, 2, seed=0)
    assert split["skin_type"].tolist() == pairs["skin_type"].tolist()


def test_fitzpatrick_paper_split_names_a_class_with_too_few_images():
    pairs = small_f17k_pairs({"psoriasis": 12, "sarcoidosis": 5})
    with pytest.raises(DataError, match=r"class 'sarcoidosis' has 5 images.*at least 6") as err:
        fitzpatrick_paper(pairs, ["psoriasis", "sarcoidosis"], 3, 2, seed=0, source="pairs.csv")
    assert err.value.path == "pairs.csv"


# --- DDI: the authors' split ----------------------------------------------------------------


def test_ddi_paper_split_holds_out_exactly_test_and_val_per_skin_tone_group(ddi_pairs):
    split = ddi_paper(ddi_pairs, test_per_group=6, val_per_group=4, seed=0)
    counts = pd.crosstab(split["skin_type"], split["split"])
    group_sizes = ddi_pairs["skin_type"].value_counts()
    assert counts.to_dict() == {
        "test": {"12": 6, "34": 6, "56": 6},
        "val": {"12": 4, "34": 4, "56": 4},
        "train": {group: int(group_sizes[group]) - 10 for group in ("12", "34", "56")},
    }


def test_ddi_paper_split_stratifies_each_group_test_and_val_by_malignancy(ddi_pairs):
    split = ddi_paper(ddi_pairs, test_per_group=6, val_per_group=4, seed=0)
    for group, part in split.groupby("skin_type"):
        malignant_share = (part["label"] == "malignant").mean()
        for name, size in (("test", 6), ("val", 4)):
            held_out = part[part["split"] == name]
            assert set(held_out["label"]) == {"benign", "malignant"}, (group, name)
            # stratified: the held-out share is the group's share, to within one image
            held_out_share = (held_out["label"] == "malignant").mean()
            assert held_out_share == pytest.approx(malignant_share, abs=1 / size), (group, name)


def test_ddi_paper_split_is_the_same_for_a_seed_and_differs_across_seeds(ddi_pairs):
    first = ddi_paper(ddi_pairs, 6, 4, seed=0)
    pd.testing.assert_frame_equal(first, ddi_paper(ddi_pairs, 6, 4, seed=0))
    assert not first["split"].equals(ddi_paper(ddi_pairs, 6, 4, seed=1)["split"])


def test_ddi_paper_split_names_a_skin_tone_group_with_too_few_images(ddi_pairs):
    pairs = ddi_pairs[(ddi_pairs["skin_type"] != "56") | (ddi_pairs.index % 3 == 0)]
    with pytest.raises(DataError, match="skin-tone group '56' has 8 images"):
        ddi_paper(pairs.reset_index(drop=True), test_per_group=6, val_per_group=4, seed=0)


# --- DDI as an external test set ------------------------------------------------------------


def test_ddi_external_puts_every_image_in_test(ddi_pairs, ddi_class_map):
    split = ddi_external(ddi_pairs, ddi_class_map)
    assert (split["split"] == "test").all()
    assert len(split) == len(ddi_pairs)


@pytest.mark.parametrize(
    ("disease", "f17k_label"),
    [
        ("basal-cell-carcinoma-nodular", "basal cell carcinoma"),
        ("basal-cell-carcinoma", "basal cell carcinoma"),
        ("squamous-cell-carcinoma-in-situ", "squamous cell carcinoma"),
        ("melanoma-in-situ", ""),
        ("seborrheic-keratosis", ""),
        # patterns match the whole name, not a part of it
        ("metastatic-basal-cell-carcinoma", ""),
    ],
)
def test_shared_label_maps_a_ddi_disease_to_its_f17k9_class(disease, f17k_label, ddi_class_map):
    assert shared_label(disease, ddi_class_map) == f17k_label


def test_ddi_external_names_the_shared_f17k9_class_of_each_row(
    ddi_pairs, ddi_class_map, f17k_classes
):
    split = ddi_external(ddi_pairs, ddi_class_map)
    by_disease = split.groupby("disease")["shared_label"].unique().map(list).to_dict()
    assert by_disease["basal-cell-carcinoma-nodular"] == ["basal cell carcinoma"]
    assert by_disease["squamous-cell-carcinoma-in-situ"] == ["squamous cell carcinoma"]
    assert by_disease["melanoma-in-situ"] == [""]
    assert set(split["shared_label"]) - {""} <= set(f17k_classes)
    assert split["skin_type"].tolist() == ddi_pairs["skin_type"].tolist()

"""dermsynth.data.splits: each protocol's promise about which image lands on which side."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermsynth.data.ingest import ingest_ddi
from dermsynth.data.splits import (
    DDI_DRAWS,
    SPLITS,
    ddi_external,
    ddi_group_draw,
    ddi_paper,
    fitzpatrick_paper,
    lesion_grouped,
    make_split,
    paper_random,
    shared_label,
)
from dermsynth.design.draws import RELEASED_FILES
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

SMALL_F17K = {"psoriasis": 12, "lichen planus": 9, "sarcoidosis": 20, "folliculitis": 6}
CLASSES = ["psoriasis", "lichen planus", "sarcoidosis"]  # folliculitis: the released tenth label


@pytest.fixture
def released(tmp_path):
    """Small released split files (the authors' layout) over SMALL_F17K, 3 held out per label."""
    from dermsynth.data.demo import write_released_split

    pairs = small_f17k_pairs(SMALL_F17K)
    table = pairs.rename(columns={"image_id": "md5hash"})
    write_released_split(tmp_path, table, labels=list(SMALL_F17K), held_out_per_label=3)
    return pairs, tmp_path / RELEASED_FILES["training"], tmp_path / RELEASED_FILES["held_out"]


def test_fitzpatrick_paper_split_is_the_released_files_rows_of_the_classes(released):
    pairs, training, held_out = released
    split = fitzpatrick_paper(pairs, CLASSES, training, held_out)
    counts = pd.crosstab(split["label"], split["split"]).to_dict()
    assert counts == {
        "test": {"lichen planus": 3, "psoriasis": 3, "sarcoidosis": 3},
        "train": {"lichen planus": 6, "psoriasis": 9, "sarcoidosis": 17},
    }
    train = pd.read_csv(training, dtype=str)
    train = train[train["label"].isin(CLASSES)]
    ours = split[split["split"] == "train"]
    assert list(ours["image_id"]) == list(train["md5hash"])  # in the file's order
    assert list(ours["released_row"]) == list(train.index)  # its row in the file
    skin = pairs.set_index("image_id")["skin_type"]
    assert list(split["skin_type"]) == list(skin[split["image_id"]])


def test_a_released_image_missing_from_pairs_is_named_with_its_line(released):
    pairs, training, held_out = released
    gone = pd.read_csv(training, dtype=str)["md5hash"][4]
    with pytest.raises(DataError, match=rf"{training}, line 6: md5hash '{gone}' is not among"):
        fitzpatrick_paper(pairs[pairs["image_id"] != gone], CLASSES, training, held_out)


def test_a_released_file_that_contradicts_pairs_or_the_other_file_is_refused(released, tmp_path):
    pairs, training, held_out = released
    relabelled = pairs.copy()
    rows = pd.read_csv(held_out, dtype=str)
    position = int(rows.index[rows["label"] == "lichen planus"][0])
    relabelled.loc[relabelled["image_id"] == rows["md5hash"][position], "label"] = "sarcoidosis"
    with pytest.raises(DataError, match=rf"{held_out}, line {position + 2}: .* but 'sarcoidosis'"):
        fitzpatrick_paper(relabelled, CLASSES, training, held_out)
    both = pd.read_csv(held_out, dtype=str)
    both.loc[position, "md5hash"] = pd.read_csv(training, dtype=str)["md5hash"][0]
    both.loc[position, "label"] = pd.read_csv(training, dtype=str)["label"][0]
    both.to_csv(bad := tmp_path / "held_out.csv", index=False)
    line = position + 2
    with pytest.raises(DataError, match=rf"{bad}, line {line}: .* in the training file too"):
        fitzpatrick_paper(pairs, CLASSES, training, bad)
    with pytest.raises(DataError, match="no rows of class"):
        fitzpatrick_paper(pairs, [*CLASSES, "photodermatoses"], training, held_out)
    with pytest.raises(DataError, match="file not found"):
        fitzpatrick_paper(pairs, CLASSES, tmp_path / "absent.csv", held_out)


# --- DDI: the paper split -----------------------------------------------------------------

AUTHORS_RANDOM_STATE = 94894  # misc/ddi_validation.py


def ddi_like_metadata(folder: Path, per_group: dict[int, int]) -> Path:
    """A DDI-like `ddi_metadata.csv` (with the distributed file's unnamed index column) of
    `per_group` images per skin tone, tones interleaved, and an empty file per image."""
    rng = np.random.default_rng(3)
    tones = rng.permutation([tone for tone, n in per_group.items() for _ in range(n)])
    diseases = [
        "melanoma-in-situ",
        "basal-cell-carcinoma-nodular",
        "seborrheic-keratosis",
        "verruca-vulgaris",
        "melanocytic-nevi",
    ]
    rows = [
        {
            "DDI_ID": i + 1,
            "DDI_file": f"{i + 1:06d}.png",
            "skin_tone": int(tone),
            "malignant": bool(i % 3 == 0),
            "disease": diseases[i % len(diseases)],
        }
        for i, tone in enumerate(tones)
    ]
    (folder / "images").mkdir(parents=True)
    for row in rows:
        (folder / "images" / row["DDI_file"]).touch()  # ingestion only looks the file up
    pd.DataFrame(rows).to_csv(folder / "ddi_metadata.csv")
    return folder / "ddi_metadata.csv"


def authors_ddi_draw(metadata_csv: Path) -> dict[str, pd.DataFrame]:
    """misc/ddi_validation.py's lines, as written, on `metadata_csv`: its commented-out test draw
    (in place of the ddi_heldout.csv it reads) and its validation draw."""
    random_state = AUTHORS_RANDOM_STATE
    generation_folder = "generations-inpaint-ddi/all"
    # fmt: off

    def generate_synthetic_metadata(train_val_df, generation_type, n_synthetic_per_real=10, folder=generation_folder):  # noqa: E501
        df = pd.concat([train_val_df]*n_synthetic_per_real, ignore_index=True)
        df['n'] = df.groupby('DDI_ID').cumcount()
        df['location'] = folder + '/' + generation_type +'/0' + df['n'].astype(str) + '/' + df['DDI_file']  # noqa: E501
        df['synthetic'] = True
        df['Qc'] = ''
        df = df.drop(columns=['n'])
        return df

    metadata = pd.read_csv(metadata_csv)
    metadata['location'] = 'Stanford_DDI/ddi_images/' + metadata['DDI_file']
    metadata['synthetic'] = False
    metadata['FST_bin'] = metadata['skin_tone'].apply(lambda x: "FST_12" if x in [12] else "FST_34" if x in [34] else "FST_56" if x in [56] else 'unknown')  # noqa: E501
    test_data = pd.DataFrame(metadata.groupby(['FST_bin']).apply(lambda x: x.sample(n=32, random_state=random_state)).reset_index(drop=True))  # noqa: E501
    train_val_data = pd.DataFrame(metadata[~metadata['DDI_ID'].isin(test_data['DDI_ID'])])
    synthetic_metadata = generate_synthetic_metadata(train_val_data, generation_type='inpaint', n_synthetic_per_real=10, folder = generation_folder)  # noqa: E501
    train_val_data = pd.concat([train_val_data, synthetic_metadata]).reset_index(drop=True)
    real_train_val_data = train_val_data[train_val_data['synthetic'] == False]  # noqa: E712
    val_data = pd.DataFrame(real_train_val_data.groupby(['FST_bin']).apply(lambda x: x.sample(n=32, random_state=random_state, replace=False)).reset_index(drop=True))  # noqa: E501
    train_data = pd.DataFrame(train_val_data[~train_val_data['DDI_ID'].isin(val_data['DDI_ID'])])
    # fmt: on
    return {"test": test_data, "val": val_data, "train": train_data[~train_data["synthetic"]]}


def test_ddi_paper_authors_draw_is_the_authors_pandas_lines_row_for_row(tmp_path, config):
    metadata_csv = ddi_like_metadata(tmp_path / "ddi", {12: 90, 34: 110, 56: 80})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' notices about groupby(...).apply
        theirs = authors_ddi_draw(metadata_csv)
    pairs = ingest_ddi(tmp_path / "ddi", config["datasets"]["ddi"]["caption"])
    seed = AUTHORS_RANDOM_STATE
    split = ddi_paper(pairs, 32, 32, seed, draw="authors")

    def ids(frame):
        return frame["DDI_file"].str.removesuffix(".png").tolist()

    # in their order: group by group, each in the order pandas' sample returns
    test = ddi_group_draw(pairs, 32, seed)
    assert pairs.loc[test, "image_id"].tolist() == ids(theirs["test"])
    val = ddi_group_draw(pairs.drop(index=test), 32, seed)
    assert pairs.loc[val, "image_id"].tolist() == ids(theirs["val"])
    # and the split table's sides are those rows, training rows in the metadata's order
    for side in ("test", "val", "train"):
        ours = split.loc[split["split"] == side, "image_id"]
        assert sorted(ours) == sorted(ids(theirs[side])), side
    assert split.loc[split["split"] == "train", "image_id"].tolist() == ids(theirs["train"])


def test_ddi_paper_split_holds_out_exactly_test_and_val_per_skin_tone_group(ddi_pairs):
    for draw in DDI_DRAWS:
        split = ddi_paper(ddi_pairs, test_per_group=6, val_per_group=4, seed=0, draw=draw)
        counts = pd.crosstab(split["skin_type"], split["split"])
        group_sizes = ddi_pairs["skin_type"].value_counts()
        assert counts.to_dict() == {
            "test": {"12": 6, "34": 6, "56": 6},
            "val": {"12": 4, "34": 4, "56": 4},
            "train": {group: int(group_sizes[group]) - 10 for group in ("12", "34", "56")},
        }, draw


def test_ddi_paper_split_keeps_each_images_disease(ddi_pairs):
    split = ddi_paper(ddi_pairs, test_per_group=6, val_per_group=4, seed=0)
    assert split["disease"].tolist() == ddi_pairs["disease"].tolist()


def test_ddi_paper_stratified_draw_stratifies_each_group_test_and_val_by_malignancy(ddi_pairs):
    split = ddi_paper(ddi_pairs, test_per_group=6, val_per_group=4, seed=0, draw="stratified")
    for group, part in split.groupby("skin_type"):
        malignant_share = (part["label"] == "malignant").mean()
        for name, size in (("test", 6), ("val", 4)):
            held_out = part[part["split"] == name]
            assert set(held_out["label"]) == {"benign", "malignant"}, (group, name)
            # stratified: the held-out share is the group's share, to within one image
            held_out_share = (held_out["label"] == "malignant").mean()
            assert held_out_share == pytest.approx(malignant_share, abs=1 / size), (group, name)


@pytest.mark.parametrize("draw", DDI_DRAWS)
def test_ddi_paper_split_is_the_same_for_a_seed_and_differs_across_seeds(ddi_pairs, draw):
    first = ddi_paper(ddi_pairs, 6, 4, seed=0, draw=draw)
    pd.testing.assert_frame_equal(first, ddi_paper(ddi_pairs, 6, 4, seed=0, draw=draw))
    assert not first["split"].equals(ddi_paper(ddi_pairs, 6, 4, seed=1, draw=draw)["split"])


def test_ddi_paper_split_names_a_skin_tone_group_with_too_few_images(ddi_pairs):
    pairs = ddi_pairs[(ddi_pairs["skin_type"] != "56") | (ddi_pairs.index % 3 == 0)]
    with pytest.raises(DataError, match="skin-tone group '56' has 8 images"):
        ddi_paper(pairs.reset_index(drop=True), test_per_group=6, val_per_group=4, seed=0)


def test_ddi_paper_split_refuses_an_unknown_draw(ddi_pairs):
    with pytest.raises(ValueError, match="DDI draw must be one of"):
        ddi_paper(ddi_pairs, 6, 4, seed=0, draw="by_disease")


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

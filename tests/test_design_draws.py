"""dermsynth.design.draws: the real images each run and generator reads, drawn exactly as the
authors' scripts draw them from their released split files (shared/fixtures/synderm/)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prerequisites import require

from dermsynth.design.draws import (
    RELEASED_FILES,
    class_draw,
    draw,
    pool_sources,
    run_real_images,
)
from dermsynth.design.runs import GridRun
from dermsynth.errors import DataError

SYNDERM = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "synderm"
F17K9 = [
    "psoriasis",
    "squamous cell carcinoma",
    "lichen planus",
    "basal cell carcinoma",
    "allergic contact dermatitis",
    "lupus erythematosus",
    "sarcoidosis",
    "neutrophilic dermatoses",
    "photodermatoses",
]
SLIDES = {
    "psoriasis": 624,
    "squamous cell carcinoma": 480,
    "lichen planus": 452,
    "basal cell carcinoma": 446,
    "allergic contact dermatitis": 398,
    "lupus erythematosus": 337,
    "sarcoidosis": 326,
    "neutrophilic dermatoses": 324,
    "photodermatoses": 312,
}


@pytest.fixture(scope="module")
def released() -> dict[str, Path]:
    paths = {kind: SYNDERM / name for kind, name in RELEASED_FILES.items()}
    absent = [p.name for p in paths.values() if not p.is_file()]
    require(not absent, f"the authors' released split files {', '.join(absent)} in {SYNDERM}")
    return paths


@pytest.fixture(scope="module")
def split(released) -> pd.DataFrame:
    """The split our `split` rule writes from the released files (data.splits)."""
    from dermsynth.data.splits import fitzpatrick_paper

    rows = pd.concat([pd.read_csv(p, dtype=str) for p in released.values()], ignore_index=True)
    # ingestion keeps every image of the nine classes: the public CSV has 392 more than the
    # authors' files name (4,091 against 3,699), and images of other labels are dropped
    extra = [(f"extra{i:03d}", F17K9[i % 9]) for i in range(392)]
    pairs = pd.DataFrame(
        {
            "image_id": [*rows["md5hash"], *(e[0] for e in extra)],
            "label": [*rows["label"], *(e[1] for e in extra)],
            "skin_type": [*rows["fitzpatrick_scale"], *("" for _ in extra)],
        }
    )
    pairs = pairs[pairs["label"].isin(F17K9)].sample(frac=1.0, random_state=0)
    return fitzpatrick_paper(pairs, F17K9, released["training"], released["held_out"])


def authors_lines(released: dict[str, Path], random_state: int, n_per_label: int):
    """The authors' draw, their pandas lines (skin_classification_with_augmentation.py,
    dose_response.py), with their synthetic rows left out (they never reach a draw)."""
    metadata = pd.read_csv(released["training"])
    top_n_labels = metadata["label"].value_counts().index[:9]
    metadata = metadata[metadata["label"].isin(top_n_labels)].reset_index(drop=True)
    test_data = pd.read_csv(released["held_out"])
    test_data = test_data[test_data["label"].isin(top_n_labels)].reset_index(drop=True)
    train_val_data = pd.DataFrame(metadata[~metadata["md5hash"].isin(test_data["md5hash"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' notes on apply over the grouping column
        val_data = pd.DataFrame(
            train_val_data.groupby(["label"])
            .apply(lambda x: x.sample(n=40, random_state=random_state, replace=False))
            .reset_index(drop=True)
        )
        in_val = train_val_data["md5hash"].isin(val_data["md5hash"])
        train_data = pd.DataFrame(train_val_data[~in_val])
        n_per_label_data = pd.DataFrame(
            train_data.groupby(["label"])
            .apply(lambda x: x.sample(n=n_per_label, random_state=random_state))
            .reset_index(drop=True)
        )
    return set(val_data["md5hash"]), set(n_per_label_data["md5hash"]), set(test_data["md5hash"])


def test_the_released_split_is_360_test_images_and_the_slides_counts(split, released):
    assert (split["split"] == "test").sum() == 360
    assert (split["split"] == "train").sum() == 3339
    assert not split["image_id"].str.startswith("extra").any()
    held_out = pd.read_csv(released["held_out"], dtype=str)
    nine = set(held_out.loc[held_out["label"].isin(F17K9), "md5hash"])
    assert set(split.loc[split["split"] == "test", "image_id"]) == nine
    assert split["label"].value_counts().to_dict() == SLIDES
    assert set(split.loc[split["split"] == "test", "label"].value_counts()) == {40}


@pytest.mark.parametrize("random_state", [111108, 119108])
@pytest.mark.parametrize("n", [1, 8, 228])
def test_the_authors_protocol_draws_the_rows_their_pandas_lines_draw(
    released, split, random_state, n
):
    val, chosen, test = authors_lines(released, random_state, n)
    run = GridRun("authors", n, "none", 0, True, random_state)
    ours = run_real_images(split, run, F17K9, val_per_class=40, split_seed=0)
    assert set(ours["val"]["image_id"]) == val
    assert set(ours["train"]["image_id"]) == chosen
    assert set(ours["test"]["image_id"]) == test


def test_an_authors_draw_is_nested_in_n_and_moves_with_the_seed(split):
    def train(n, seed, protocol="authors"):
        run = GridRun(protocol, n, "none", 0, True, seed)
        frames = run_real_images(split, run, F17K9, val_per_class=40, split_seed=7)
        return set(frames["train"]["image_id"]), set(frames["val"]["image_id"])

    assert train(8, 111108)[0] < train(16, 111108)[0] < train(228, 111108)[0]
    assert train(8, 111108)[0] != train(8, 111109)[0]
    assert train(8, 111108)[1] != train(8, 111109)[1]
    # strict draws once, with the split seed, whatever the run's seed
    assert train(8, 111108, "strict") == train(8, 111109, "strict") == train(8, 7)


def test_a_class_draw_is_pandas_sample_twice():
    frame = pd.DataFrame({"row": np.arange(30)})
    val, order = class_draw(30, 5, 4)
    assert list(frame.sample(n=4, random_state=5)["row"]) == list(val)
    rest = frame.drop(index=val)
    assert list(rest.sample(n=10, random_state=5)["row"]) == list(order[:10])
    with pytest.raises(ValueError, match="at least 5"):
        class_draw(4, 0, 4)


def test_pool_sources_are_every_training_row_or_stricts_first_n(split):
    every = pool_sources(split, "photodermatoses", None)
    assert len(every) == 272 and list(every["pool_rank"]) == list(range(272))
    assert every["released_row"].astype(int).is_monotonic_increasing
    strict = pool_sources(split, "photodermatoses", 8, val_per_class=40, split_seed=3)
    drawn = draw(split, ["photodermatoses"], 3, 40)
    val = set(drawn.loc[drawn["role"] == "val", "image_id"])
    assert len(strict) == 8 and not set(strict["image_id"]) & val
    run = GridRun("strict", 8, "none", 0, False, 0)
    assert set(strict["image_id"]) <= set(
        run_real_images(split, run, F17K9, val_per_class=40, split_seed=3)["train"]["image_id"]
    )
    with pytest.raises(DataError, match="fewer than 233"):
        pool_sources(split, "photodermatoses", 233, val_per_class=40)


def test_a_class_too_small_for_its_draw_is_named(split):
    run = GridRun("authors", 1, "none", 0, True, 0)
    with pytest.raises(DataError, match="photodermatoses.*at least 273"):
        run_real_images(split, run, F17K9, val_per_class=272, split_seed=0)

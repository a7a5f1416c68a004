"""Which real images each Fitzpatrick17k run and generator reads.

The split (`results/data/fitzpatrick17k/splits/paper.csv`) is the authors' released one: the
held-out file's rows of the configured classes are `test`, the training file's rows are `train`
with `released_row`, their row in that file. Validation images and the n real images per class
are drawn from the training rows by `class_draw`, which draws exactly as the authors' scripts
(`skin_classification_with_augmentation.py`, `dose_response.py`) do with pandas:

    val_data = real_train_val_data.groupby(['label']).apply(
        lambda x: x.sample(n=40, random_state=random_state, replace=False))
    ... real_data.groupby(['label']).apply(lambda x: x.sample(n=n_per_label,
        random_state=random_state))

pandas' `sample(n, random_state=int)` takes `numpy.random.RandomState(int).permutation(len)[:n]`
of the group's rows (in the training file's order), so within a class the first 40 of one
permutation are validation, and the n images are the first n of a second permutation of the
rest: nested in n for one seed, different between seeds. `tests/test_design.py` runs the
authors' lines on their released files and compares.

- `authors`: the draw moves with each run's seed (their `random_state`).
- `strict`: one draw, fixed by the split seed for every run (the pools the generators learn from
  must not move with the classifier's seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dermsynth.design.runs import GridRun
from dermsynth.errors import DataError

# the authors' file names (GitHub manrai/synthetic-derm, fitz_metadata/)
RELEASED_FILES = {
    "training": "fitzpatrick17k_10label_clean_training.csv",
    "held_out": "fitzpatrick17k_10label_clean_held_out_set.csv",
}
SPLIT_COLUMNS = ["image_id", "label", "split", "skin_type", "released_row"]


def released_paths(folder: str | Path) -> dict[str, str]:
    """The two released split files in `folder` (where the authors keep them, fitz_metadata/)."""
    return {kind: str(Path(folder) / name) for kind, name in RELEASED_FILES.items()}


def class_draw(count: int, seed: int, val_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """One class's draw over its `count` training rows (positions in file order): the
    validation positions, and the remaining positions in draw order (the first n are the n
    real images). As pandas' `sample(n, random_state=seed)` draws, twice."""
    if count < val_per_class + 1:
        raise ValueError(f"{count} training images; the draw needs at least {val_per_class + 1}")
    val = np.random.RandomState(seed).permutation(count)[:val_per_class]
    rest = np.setdiff1d(np.arange(count), val)  # the remaining rows, in file order
    return val, rest[np.random.RandomState(seed).permutation(len(rest))]


def training_rows(
    split: pd.DataFrame, label: str | None, splits: Sequence[str] = ("train",)
) -> pd.DataFrame:
    """A class's rows of `splits` (None: every class's) in the released training file's order
    (else by image_id)."""
    rows = split[split["split"].isin(list(splits))]
    if label is not None:
        rows = rows[rows["label"] == label]
    if "released_row" in rows and (rows["released_row"].astype(str) != "").all():
        return rows.iloc[np.argsort(rows["released_row"].astype(int).to_numpy(), kind="stable")]
    return rows.sort_values("image_id", kind="stable")


def draw(
    split: pd.DataFrame,
    classes: Sequence[str],
    seed: int,
    val_per_class: int,
    source: str = "split",
) -> pd.DataFrame:
    """Every training row of `classes` with its role (`val` or `pool`) and, for pool rows,
    `draw_rank` (0, 1, ...; the n real images are draw_rank < n) under `seed`."""
    parts = []
    for label in classes:
        rows = training_rows(split, label)
        try:
            val, order = class_draw(len(rows), seed, val_per_class)
        except ValueError as err:
            raise DataError(source, f"class {label!r}: {err}") from None
        part = rows.copy()
        part["role"] = "pool"
        part.iloc[val, part.columns.get_loc("role")] = "val"
        rank = np.full(len(rows), -1)
        rank[order] = np.arange(len(order))
        part["draw_rank"] = rank
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def draw_seed(protocol: str, seed: int, split_seed: int) -> int:
    """The seed a protocol draws with: the run's (authors) or the split's (strict)."""
    return seed if protocol == "authors" else split_seed


def run_real_images(
    split: pd.DataFrame,
    run: GridRun,
    classes: Sequence[str],
    *,
    val_per_class: int,
    split_seed: int,
    source: str = "split",
) -> dict[str, pd.DataFrame]:
    """A grid run's real `train` (its n per class, in draw order), `val` and `test` rows."""
    drawn = draw(
        split, classes, draw_seed(run.protocol, run.seed, split_seed), val_per_class, source
    )
    pool = drawn[drawn["role"] == "pool"]
    short = pool["label"].value_counts().reindex(list(classes), fill_value=0)
    short = short[short < run.real_per_class]
    if len(short):
        raise DataError(
            source,
            f"class(es) {list(short.index)} have fewer than "
            f"{run.real_per_class} pool images ({short.to_dict()})",
        )
    chosen = pool[pool["draw_rank"] < run.real_per_class]
    train = pd.concat(
        [chosen[chosen["label"] == label].sort_values("draw_rank") for label in classes]
    )
    test = split[(split["split"] == "test") & split["label"].isin(list(classes))]
    return {
        "train": train.reset_index(drop=True),
        "val": drawn[drawn["role"] == "val"].reset_index(drop=True),
        "test": test.reset_index(drop=True),
    }


def pool_sources(
    split: pd.DataFrame,
    label: str | None,
    n: int | None,
    *,
    val_per_class: int = 0,
    split_seed: int = 0,
    splits: Sequence[str] = ("train",),
    source: str = "split",
) -> pd.DataFrame:
    """The real images a class's synthetic pool (and its DreamBooth model) is made from, with
    `pool_rank` their position in the pool: `n` None, every row of `splits` of the class (the
    authors' training file: validation rows too; DDI's training images; `label` None: of every
    class, DDI's one DreamBooth model, whose `splits` add the validation images as the authors'
    training file held them); else strict's draw_rank < n. A test image is never a source."""
    if "test" in splits:
        raise ValueError("a pool or DreamBooth model is never made from test images")
    if n is None:
        rows = training_rows(split, label, splits).copy()
        if rows.empty:
            what = "the split" if label is None else f"class {label!r}"
            raise DataError(source, f"{what} has no images of split(s) {list(splits)}")
        rows["pool_rank"] = np.arange(len(rows))
        return rows.reset_index(drop=True)
    if label is None or list(splits) != ["train"]:
        raise ValueError("strict's pool of n images is drawn per class from training rows")
    drawn = draw(split, [label], split_seed, val_per_class, source)
    rows = drawn[(drawn["role"] == "pool") & (drawn["draw_rank"] < n)]
    if len(rows) < n:
        raise DataError(source, f"class {label!r} has {len(rows)} pool images, fewer than {n}")
    rows = rows.sort_values("draw_rank").rename(columns={"draw_rank": "pool_rank"})
    return rows.drop(columns="role").reset_index(drop=True)

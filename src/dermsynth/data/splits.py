"""Train/validation/test splits, one function per protocol.

Every split table has `image_id, label, split` (split in train, val, test) and, where the
protocol defines them, more columns (`pool_rank`, `skin_type`, `shared_label`). Every split is
deterministic for its seed.

- `paper_random`: paper 1's 80/20 random split of HAM10000, kept to reproduce it. HAM10000 has
  several images per lesion, so this split puts views of one lesion on both sides (a leak).
- `lesion_grouped`: the same proportions, with every lesion wholly on one side, stratified.
- `fitzpatrick_paper`: paper 2's balanced held-out test set and a nested training pool.
- `ddi_paper` / `ddi_external`: the authors' DDI malignancy split, and DDI as an external test.
"""

from __future__ import annotations

import re
import warnings
import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from dermsynth.errors import DataError

SPLITS = ("train", "val", "test")


def _table(pairs: pd.DataFrame, split: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": pairs["image_id"].values,
            "label": pairs["label"].values,
            "split": split.values,
        }
    )


def paper_random(
    pairs: pd.DataFrame, test_fraction: float, val_fraction: float, seed: int
) -> pd.DataFrame:
    """A random split by image, ignoring lesions (paper 1, section 2.4).

    `val_fraction` is a fraction of all images, taken from the training side.
    """
    split = pd.Series("train", index=pairs.index)
    rest, test = train_test_split(pairs.index, test_size=test_fraction, random_state=seed)
    split[test] = "test"
    if val_fraction > 0:
        _, val = train_test_split(
            rest, test_size=val_fraction / (1 - test_fraction), random_state=seed + 1
        )
        split[val] = "val"
    return _table(pairs, split)


def _grouped_fold(labels: pd.Series, groups: pd.Series, fraction: float, seed: int) -> np.ndarray:
    """Positions of one stratified, group-whole fold holding about `fraction` of the rows."""
    n_splits = max(2, round(1 / fraction))
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # small classes with fewer groups than folds are expected in the demo
        warnings.filterwarnings("ignore", message="The least populated class")
        _, held_out = next(folds.split(np.zeros(len(labels)), labels, groups))
    return held_out


def lesion_grouped(
    pairs: pd.DataFrame, test_fraction: float, val_fraction: float, seed: int
) -> pd.DataFrame:
    """A split in which no `group_id` (HAM10000: lesion_id) is on two sides, stratified by class.

    Fractions are of all images; a fold holds whole groups, so they are met approximately.
    """
    split = pd.Series("train", index=pairs.index)
    test = pairs.index[_grouped_fold(pairs["label"], pairs["group_id"], test_fraction, seed)]
    split[test] = "test"
    if val_fraction > 0:
        rest = pairs.drop(index=test)
        val_share = val_fraction / (1 - test_fraction)
        val = rest.index[_grouped_fold(rest["label"], rest["group_id"], val_share, seed + 1)]
        split[val] = "val"
    return _table(pairs, split)


def _class_rng(seed: int, key: str) -> np.random.Generator:
    # one stream per class, so adding or removing a class leaves the others' splits unchanged
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def fitzpatrick_paper(
    pairs: pd.DataFrame,
    classes: Sequence[str],
    test_per_class: int,
    val_per_class: int,
    seed: int,
    source: str = "pairs.csv",
) -> pd.DataFrame:
    """Paper 2's split: per class, a held-out test set and a validation set of fixed size, and
    the rest a training pool ranked by `pool_rank` (0, 1, ...), so that "n real images per
    class" is `pool_rank < n` and the sets for growing n are nested.
    """
    split = pd.Series("train", index=pairs.index)
    rank = pd.Series(pd.NA, index=pairs.index, dtype="Int64")
    for label in classes:
        rows = pairs.index[pairs["label"] == label]
        needed = test_per_class + val_per_class + 1
        if len(rows) < needed:
            raise DataError(
                source,
                f"class {label!r} has {len(rows)} images; the split needs at least {needed} "
                f"({test_per_class} test + {val_per_class} val + 1 training)",
            )
        order = rows[_class_rng(seed, label).permutation(len(rows))]
        split[order[:test_per_class]] = "test"
        split[order[test_per_class : test_per_class + val_per_class]] = "val"
        pool = order[test_per_class + val_per_class :]
        rank[pool] = np.arange(len(pool))
    table = _table(pairs, split)
    table["pool_rank"] = rank.values
    table["skin_type"] = pairs["skin_type"].values
    return table


def ddi_paper(
    pairs: pd.DataFrame, test_per_group: int, val_per_group: int, seed: int, source: str = "pairs"
) -> pd.DataFrame:
    """The authors' DDI split: per skin-tone group (12, 34, 56) a test set of `test_per_group`
    and a validation set of `val_per_group`, each stratified by malignancy; the rest train.
    """
    split = pd.Series("train", index=pairs.index)
    for group, rows in pairs.groupby("skin_type").groups.items():
        if len(rows) < test_per_group + val_per_group + 2:
            raise DataError(
                source,
                f"skin-tone group {group!r} has {len(rows)} images; the split needs more than "
                f"{test_per_group} test + {val_per_group} val",
            )
        labels = pairs.loc[rows, "label"]
        rest, test = train_test_split(
            rows, test_size=test_per_group, stratify=labels, random_state=seed
        )
        split[test] = "test"
        if val_per_group > 0:
            _, val = train_test_split(
                rest,
                test_size=val_per_group,
                stratify=pairs.loc[rest, "label"],
                random_state=seed + 1,
            )
            split[val] = "val"
    table = _table(pairs, split)
    table["skin_type"] = pairs["skin_type"].values
    return table


def shared_label(disease: str, class_map: Mapping[str, Sequence[str]]) -> str:
    """The F17k-9 class a DDI disease name belongs to ('' if none): patterns match in full."""
    for label, patterns in class_map.items():
        if any(re.fullmatch(pattern, disease) for pattern in patterns):
            return label
    return ""


def ddi_external(pairs: pd.DataFrame, class_map: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """All of DDI as a test set; `shared_label` names the F17k-9 class of the rows it shares."""
    table = _table(pairs, pd.Series("test", index=pairs.index))
    table["skin_type"] = pairs["skin_type"].values
    table["disease"] = pairs["disease"].values
    table["shared_label"] = [shared_label(d, class_map) for d in pairs["disease"]]
    return table


def make_split(
    dataset: str, protocol: str, pairs: pd.DataFrame, settings: Mapping, source: str = "pairs.csv"
) -> pd.DataFrame:
    """The split table of `protocol` on `dataset`, with the protocol's configured settings."""
    settings = dict(settings)
    if dataset == "ham10000" and protocol == "paper_random":
        return paper_random(pairs, **settings)
    if dataset == "ham10000" and protocol == "lesion_grouped":
        return lesion_grouped(pairs, **settings)
    if dataset == "fitzpatrick17k" and protocol == "paper":
        classes = list(dict.fromkeys(pairs["label"]))
        return fitzpatrick_paper(pairs, classes, **settings, source=source)
    if dataset == "ddi" and protocol == "paper":
        return ddi_paper(pairs, **settings, source=source)
    if dataset == "ddi" and protocol == "external":
        return ddi_external(pairs, **settings)
    raise ValueError(f"no split protocol {protocol!r} for dataset {dataset!r}")

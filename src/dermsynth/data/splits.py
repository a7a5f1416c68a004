"""Train/validation/test splits, one function per protocol.

Every split table has `image_id, label, split` (split in train, val, test) and, where the
protocol defines them, more columns (`pool_rank`, `skin_type`, `shared_label`). Every split is
deterministic for its seed.

- `paper_random`: paper 1's 80/20 split of HAM10000 (section 2.4 names no grouping), read as a
  random split by image, kept to reproduce it. HAM10000 has several images per lesion, so this
  split puts views of one lesion on both sides (a leak).
- `lesion_grouped`: the same proportions, with every lesion wholly on one side, stratified.
- `fitzpatrick_paper`: paper 2's split as its authors released it (held-out test set, training
  file); which training images a run or generator reads is `dermsynth.design`'s.
- `ddi_paper` / `ddi_external`: DDI's malignancy split (the authors' validation draw, a test
  draw of ours in place of their unreleased file), and DDI as an external test.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table

SPLITS = ("train", "val", "test")
DDI_DRAWS = ("authors", "stratified")  # the authors' validation draw, or ours by malignancy


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
    """A random split by image, ignoring lesions: our reading of paper 1's 80/20 split (section
    2.4), which says neither "random" nor how images were grouped.

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


def read_released(path: str | Path, classes: Sequence[str]) -> pd.DataFrame:
    """One released file's rows of `classes` (`md5hash, label, released_row`), checked: the
    md5hash column present, no md5hash twice, every class present."""
    table = read_table(path, ["md5hash", "label"])
    duplicated = table["md5hash"].duplicated()
    if duplicated.any():
        position = int(duplicated.to_numpy().argmax())
        raise DataError(
            path, f"md5hash {table['md5hash'][position]!r} a second time", line=csv_line(position)
        )
    table["released_row"] = np.arange(len(table))
    kept = table[table["label"].isin(list(classes))]
    absent = [c for c in classes if c not in set(kept["label"])]
    if absent:
        raise DataError(path, f"no rows of class(es) {absent}")
    return kept[["md5hash", "label", "released_row"]].reset_index(drop=True)


def fitzpatrick_paper(
    pairs: pd.DataFrame,
    classes: Sequence[str],
    training: str | Path,
    held_out: str | Path,
    source: str = "pairs.csv",
) -> pd.DataFrame:
    """Paper 2's split, as its authors released it: the held-out file's rows of `classes` are
    `test`, the training file's rows are `train` (the pool every draw takes validation images
    and the n real images from: `dermsynth.design.draws`), in that file's order
    (`released_row`). Every released row must be in `pairs` with the same label.
    """
    parts = []
    for split, path in (("train", training), ("test", held_out)):
        rows = read_released(path, classes)
        rows["split"] = split
        rows["file"] = str(path)
        parts.append(rows)
    released = pd.concat(parts, ignore_index=True)
    both = released["md5hash"].duplicated(keep=False) & (released["split"] == "test")
    if both.any():
        row = released[both].iloc[0]
        raise DataError(
            held_out,
            f"md5hash {row['md5hash']!r} is in the training file too",
            line=csv_line(int(row["released_row"])),
        )
    known = pairs.set_index("image_id")
    for row in released.itertuples():
        if row.md5hash not in known.index:
            raise DataError(
                row.file,
                f"md5hash {row.md5hash!r} is not among the ingested images ({source}): "
                "the released split needs every image it names (is it missing from images/, or "
                "dropped by datasets.fitzpatrick17k.drop_qc?)",
                line=csv_line(int(row.released_row)),
            )
        if known.at[row.md5hash, "label"] != row.label:
            raise DataError(
                row.file,
                f"md5hash {row.md5hash!r} is {row.label!r} here but "
                f"{known.at[row.md5hash, 'label']!r} in {source}",
                line=csv_line(int(row.released_row)),
            )
    return pd.DataFrame(
        {
            "image_id": released["md5hash"].to_numpy(),
            "label": released["label"].to_numpy(),
            "split": released["split"].to_numpy(),
            "skin_type": known.loc[released["md5hash"], "skin_type"].to_numpy(),
            "released_row": released["released_row"].to_numpy(),
        }
    )


def ddi_group_draw(rows: pd.DataFrame, per_group: int, seed: int) -> pd.Index:
    """The index of `per_group` rows per skin-tone group, in the order the authors' pandas line
    (`misc/ddi_validation.py`) returns them::

        real_train_val_data.groupby(['FST_bin']).apply(
            lambda x: x.sample(n=32, random_state=random_state, replace=False))

    Groups by key (their FST_12, FST_34, FST_56 sort as DDI's 12, 34, 56), each group's rows in
    `rows`' order, each group drawn with a fresh `random_state`."""
    drawn = [
        part.sample(n=per_group, random_state=seed, replace=False).index.to_numpy()
        for _, part in rows.groupby("skin_type", sort=True)
    ]
    return pd.Index(np.concatenate(drawn))


def _stratified_draw(
    pairs: pd.DataFrame, test_per_group: int, val_per_group: int, seed: int
) -> tuple[list, list]:
    """Our per-group test and validation indices, each stratified by malignancy."""
    test, val = [], []
    for rows in pairs.groupby("skin_type").groups.values():
        rest, held_out = train_test_split(
            rows, test_size=test_per_group, stratify=pairs.loc[rows, "label"], random_state=seed
        )
        test += list(held_out)
        if val_per_group > 0:
            _, chosen = train_test_split(
                rest,
                test_size=val_per_group,
                stratify=pairs.loc[rest, "label"],
                random_state=seed + 1,
            )
            val += list(chosen)
    return test, val


def ddi_paper(
    pairs: pd.DataFrame,
    test_per_group: int,
    val_per_group: int,
    seed: int,
    draw: str = "authors",
    source: str = "pairs",
) -> pd.DataFrame:
    """DDI's malignancy split: per skin-tone group (12, 34, 56) `test_per_group` test images and
    `val_per_group` validation images; the rest train. Rows keep their `disease` (the prompts of
    the Stable Diffusion track name it).

    - `authors`: the validation set as the authors' `misc/ddi_validation.py` draws it,
      `ddi_group_draw` over the rows outside the test set, in pairs order (DDI's metadata order).
      Their test set is a file they did not release (`../Metadata/ddi_heldout.csv`); ours is
      drawn by the line that script keeps commented out above its read,
      `metadata.groupby(['FST_bin']).apply(lambda x: x.sample(n=32,
      random_state=random_state))`, over every image, with the same seed. Neither set is
      stratified by malignancy.
    - `stratified` (ours): each group's test and validation sets stratified by malignancy
      (scikit-learn's `train_test_split`, seeds `seed` and `seed + 1`).
    """
    if draw not in DDI_DRAWS:
        raise ValueError(f"DDI draw must be one of {list(DDI_DRAWS)}, not {draw!r}")
    for group, rows in pairs.groupby("skin_type").groups.items():
        if len(rows) < test_per_group + val_per_group + 2:
            raise DataError(
                source,
                f"skin-tone group {group!r} has {len(rows)} images; the split needs more than "
                f"{test_per_group} test + {val_per_group} val",
            )
    if draw == "authors":
        test = ddi_group_draw(pairs, test_per_group, seed)
        rest = pairs.drop(index=test)
        val = ddi_group_draw(rest, val_per_group, seed) if val_per_group > 0 else []
    else:
        test, val = _stratified_draw(pairs, test_per_group, val_per_group, seed)
    split = pd.Series("train", index=pairs.index)
    split[test] = "test"
    split[val] = "val"
    table = _table(pairs, split)
    table["skin_type"] = pairs["skin_type"].values
    table["disease"] = pairs["disease"].values
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

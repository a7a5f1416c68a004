"""Ingestion: the datasets' metadata as distributed -> one `pairs.csv` per dataset.

Every pairs table has the columns `image_id, path, label, caption, group_id, skin_type,
metadata_line` (the last is the row's line in the distributed CSV, for error messages and
audits), followed by dataset-specific columns. The real files are read unchanged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table

log = logging.getLogger(__name__)

PAIRS_COLUMNS = ["image_id", "path", "label", "caption", "group_id", "skin_type", "metadata_line"]

# Rows of each dataset's metadata file as published (one image per row), for `dermsynth check`
# and the plan's fine-tune steps:
PUBLISHED_ROWS = {
    # Tschandl et al. 2018, Sci. Data 5:180161 ("10015 dermatoscopic images"); paper 1,
    # section 2.1 ("This dataset consists of 10,015 dermoscopic images")
    "ham10000": 10_015,
    # Groh et al. 2021, arXiv:2104.09957, abstract ("We annotate 16,577 clinical images"):
    # fitzpatrick17k.csv has one row per image; paper 2 counts only its F17k-9 subset
    "fitzpatrick17k": 16_577,
    # paper 2's slides, "Stanford Diverse Dermatology Images: 656 images" (Daneshjou et al.
    # 2022, Sci. Adv. 8:eabq6147, the dataset's paper)
    "ddi": 656,
}

HAM10000_COLUMNS = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]

F17K_COLUMNS = [
    "md5hash",
    "fitzpatrick_scale",
    "fitzpatrick_centaur",
    "label",
    "nine_partition_label",
    "three_partition_label",
    "qc",
    "url",
    "url_alphanum",
]
F17K_SKIN_TYPES = {"-1", "1", "2", "3", "4", "5", "6"}

DDI_COLUMNS = ["DDI_ID", "DDI_file", "skin_tone", "malignant", "disease"]
DDI_SKIN_TONES = {"12", "34", "56"}
# as pandas reads booleans (its default true_values/false_values): spreadsheets that re-save
# DDI's metadata write TRUE/FALSE; pairs.csv keeps the distributed spelling, True/False
DDI_MALIGNANT = {
    **dict.fromkeys(["True", "TRUE", "true"], "True"),
    **dict.fromkeys(["False", "FALSE", "false"], "False"),
}


def caption_for(template: str, label: str, name: str | None = None) -> str:
    """The text prompt of a class: `{label}` is the class key, `{name}` its readable name."""
    return template.format(label=label, name=name or label)


def image_index(folders: Iterable[Path]) -> dict[str, Path]:
    """Map file name -> path for every file in `folders` (one directory listing each)."""
    index: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            raise DataError(folder, "image folder not found")
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_file():
                    index.setdefault(entry.name, folder / entry.name)
    return index


def check_unique(frame: pd.DataFrame, column: str, path: Path) -> None:
    """Fail on the first duplicated id, naming both lines."""
    duplicated = frame[column].duplicated(keep=False)
    if duplicated.any():
        rows = frame.index[duplicated]
        value = frame.at[rows[0], column]
        lines = [csv_line(i) for i in rows if frame.at[i, column] == value]
        raise DataError(path, f"duplicate {column} {value!r} on lines {lines}", line=lines[-1])


def check_allowed(frame: pd.DataFrame, column: str, allowed: Iterable[str], path: Path) -> None:
    """Fail on the first value of `column` outside `allowed`, naming its line."""
    allowed = set(allowed)
    bad = ~frame[column].isin(allowed)
    if bad.any():
        row = frame.index[bad][0]
        raise DataError(
            path,
            f"unknown {column} {frame.at[row, column]!r}; expected one of {sorted(allowed)}",
            line=csv_line(row),
        )


def check_classes_present(
    pairs: pd.DataFrame, classes: Sequence[str], path: Path, why: str = ""
) -> None:
    """Every configured class must keep at least one image."""
    counts = pairs["label"].value_counts()
    empty = [c for c in classes if counts.get(c, 0) == 0]
    if empty:
        raise DataError(path, f"class(es) {empty} have no images{why}")


def locate_images(file_names: pd.Series, index: Mapping[str, Path]) -> tuple[pd.Series, pd.Series]:
    """Each row's image path, and a mask of rows whose image is missing."""
    located = file_names.map(lambda name: str(index[name]) if name in index else "")
    return located, located == ""


def _missing_image_error(
    frame: pd.DataFrame, missing: pd.Series, file_names: pd.Series, path: Path
) -> DataError:
    row = frame.index[missing][0]
    return DataError(
        path,
        f"image file {file_names[row]!r} not found ({int(missing.sum())} missing in all)",
        line=csv_line(row),
    )


def ingest_ham10000(
    root: str | Path,
    classes: Mapping[str, str],
    caption: str,
) -> pd.DataFrame:
    """HAM10000: one row per image; `group_id` is the lesion, so splits can keep lesions whole.

    `classes` maps each dx code to its readable name (used by the caption template).
    """
    root = Path(root)
    layout = RAW_LAYOUT["ham10000"]
    meta_path = root / layout.metadata
    meta = read_table(meta_path, HAM10000_COLUMNS)
    check_unique(meta, "image_id", meta_path)
    check_allowed(meta, "dx", classes, meta_path)
    for column in ("lesion_id", "image_id"):
        blank = meta[column].str.strip() == ""
        if blank.any():
            raise DataError(meta_path, f"empty {column}", line=csv_line(meta.index[blank][0]))
    index = image_index(root / folder for folder in layout.images)
    file_names = meta["image_id"] + ".jpg"
    located, missing = locate_images(file_names, index)
    if missing.any():
        raise _missing_image_error(meta, missing, file_names, meta_path)
    pairs = pd.DataFrame(
        {
            "image_id": meta["image_id"],
            "path": located,
            "label": meta["dx"],
            "caption": [caption_for(caption, dx, classes[dx]) for dx in meta["dx"]],
            "group_id": meta["lesion_id"],
            "skin_type": "",
            "metadata_line": [csv_line(i) for i in meta.index],
        }
    )
    for column in ("dx_type", "age", "sex", "localization"):
        pairs[column] = meta[column]
    check_classes_present(pairs, list(classes), meta_path)
    log.info(
        "HAM10000: %d images of %d lesions in %d classes",
        len(pairs),
        pairs["group_id"].nunique(),
        pairs["label"].nunique(),
    )
    return pairs


@dataclass
class Fitzpatrick17kIngest:
    """The F17k-9 pairs, the rows skipped for a missing image, and the per-class accounting."""

    pairs: pd.DataFrame
    missing: pd.DataFrame
    class_counts: pd.DataFrame


def ingest_fitzpatrick17k(
    root: str | Path,
    classes: Sequence[str],
    caption: str,
    drop_qc: Sequence[str] = (),
    missing_images: str = "error",
    reference_counts: pd.DataFrame | None = None,
) -> Fitzpatrick17kIngest:
    """Fitzpatrick17k restricted to `classes` (F17k-9), with the configured exclusions.

    `missing_images` is "error" (default) or "skip": real downloads miss images whose URL died;
    "skip" drops them and lists them. `reference_counts` (label, images) are the published
    counts to set beside ours.
    """
    if missing_images not in ("error", "skip"):
        raise ValueError(f"missing_images must be 'error' or 'skip', not {missing_images!r}")
    root = Path(root)
    layout = RAW_LAYOUT["fitzpatrick17k"]
    meta_path = root / layout.metadata
    meta = read_table(meta_path, F17K_COLUMNS)
    check_unique(meta, "md5hash", meta_path)
    check_allowed(meta, "fitzpatrick_scale", F17K_SKIN_TYPES, meta_path)
    selected = meta[meta["label"].isin(classes)]
    in_csv = selected["label"].value_counts()
    kept = selected[~selected["qc"].isin(drop_qc)]
    dropped_qc = in_csv.sub(kept["label"].value_counts(), fill_value=0)

    index = image_index(root / folder for folder in layout.images)
    file_names = kept["md5hash"] + ".jpg"
    located, missing = locate_images(file_names, index)
    if missing.any() and missing_images == "error":
        raise _missing_image_error(kept, missing, file_names, meta_path)
    missing_rows = pd.DataFrame(
        {
            "md5hash": kept.loc[missing, "md5hash"],
            "label": kept.loc[missing, "label"],
            "expected_path": [str(root / layout.images[0] / n) for n in file_names[missing]],
            "metadata_line": [csv_line(i) for i in kept.index[missing]],
        }
    )
    usable = kept[~missing]
    skin = usable["fitzpatrick_scale"].where(usable["fitzpatrick_scale"] != "-1", "")
    pairs = pd.DataFrame(
        {
            "image_id": usable["md5hash"],
            "path": located[~missing],
            "label": usable["label"],
            "caption": [caption_for(caption, label) for label in usable["label"]],
            "group_id": usable["md5hash"],
            "skin_type": skin,
            "metadata_line": [csv_line(i) for i in usable.index],
        }
    )
    for column in ("fitzpatrick_scale", "fitzpatrick_centaur", "qc", "three_partition_label"):
        pairs[column] = usable[column]
    check_classes_present(pairs, classes, meta_path, " after exclusions")

    counts = pd.DataFrame({"label": list(classes)})
    counts["csv_rows"] = counts["label"].map(in_csv).fillna(0).astype(int)
    counts["dropped_qc"] = counts["label"].map(dropped_qc).fillna(0).astype(int)
    counts["missing_images"] = (
        counts["label"].map(missing_rows["label"].value_counts()).fillna(0).astype(int)
    )
    counts["ours"] = counts["label"].map(pairs["label"].value_counts()).fillna(0).astype(int)
    if reference_counts is not None:
        published = reference_counts.set_index("label")["images"].astype(int)
        counts["published"] = counts["label"].map(published).astype("Int64")
        counts["ours_minus_published"] = counts["ours"] - counts["published"]
    total = counts.drop(columns="label").sum(numeric_only=True, min_count=1)
    counts = pd.concat([counts, pd.DataFrame([{"label": "total", **total}])], ignore_index=True)
    log.info(
        "Fitzpatrick17k: %d of %d rows in %d classes kept (%d dropped by qc, %d missing images)",
        len(pairs),
        len(selected),
        len(classes),
        int(dropped_qc.sum()),
        len(missing_rows),
    )
    return Fitzpatrick17kIngest(pairs=pairs, missing=missing_rows, class_counts=counts)


def ingest_ddi(root: str | Path, caption: str) -> pd.DataFrame:
    """DDI: the task label is `malignant`/`benign`; skin_type is the distributed group 12/34/56."""
    root = Path(root)
    layout = RAW_LAYOUT["ddi"]
    meta_path = root / layout.metadata
    # the distributed CSV starts with an unnamed index column
    meta = read_table(meta_path, DDI_COLUMNS, index_col=0)
    check_unique(meta, "DDI_file", meta_path)
    check_unique(meta, "DDI_ID", meta_path)
    check_allowed(meta, "skin_tone", DDI_SKIN_TONES, meta_path)
    check_allowed(meta, "malignant", DDI_MALIGNANT, meta_path)
    meta["malignant"] = meta["malignant"].map(DDI_MALIGNANT)
    blank = meta["disease"].str.strip() == ""
    if blank.any():
        raise DataError(meta_path, "empty disease", line=csv_line(meta.index[blank][0]))
    index = image_index(root / folder for folder in layout.images)
    located, missing = locate_images(meta["DDI_file"], index)
    if missing.any():
        raise _missing_image_error(meta, missing, meta["DDI_file"], meta_path)
    label = meta["malignant"].map({"True": "malignant", "False": "benign"})
    image_id = meta["DDI_file"].str.rsplit(".", n=1).str[0]
    pairs = pd.DataFrame(
        {
            "image_id": image_id,
            "path": located,
            "label": label,
            "caption": [caption_for(caption, lab) for lab in label],
            "group_id": image_id,
            "skin_type": meta["skin_tone"],
            "metadata_line": [csv_line(i) for i in meta.index],
        }
    )
    pairs["disease"] = meta["disease"]
    pairs["malignant"] = meta["malignant"]
    check_classes_present(pairs, ["benign", "malignant"], meta_path)
    log.info("DDI: %d images (%d malignant)", len(pairs), int((label == "malignant").sum()))
    return pairs

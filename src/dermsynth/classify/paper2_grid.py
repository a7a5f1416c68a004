"""Paper 2's Figure 3 grid, one run's images: "models trained for nine-way skin classification
while varying the number of real images (1 to 228), use of synthetic images (0 or 10 synthetic
images per real image), and use of an image transform augmentation utility (yes or no)".

Which real images a run reads (its n per class, its validation set) is `dermsynth.design`'s
draw for the run's protocol and seed; `grid_training_set` turns them into image frames, with the
run's synthetic images (`index` from `first_index`, made from those n: `source_image`), from
our shard manifests or, for a `released-...` source, from the index of the authors' released
shards (`dermsynth.design.released`). Synthetic images were "added only to the training set":
val and test are real images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from dermsynth.data.preprocess import resized_files, short_side_path
from dermsynth.design.draws import SPLIT_COLUMNS, run_real_images
from dermsynth.design.released import (
    INDEX_COLUMNS,
    released_manifest,
    released_source,
    synthetic_origin,
)
from dermsynth.design.runs import GridRun, reads_released
from dermsynth.errors import DataError, csv_line
from dermsynth.images import image_exists
from dermsynth.io import read_table
from dermsynth.webdataset import split_ref

log = logging.getLogger(__name__)

EXPERIMENT = "fitzpatrick17k_grid"
# whole_file: a real image's copy with its aspect kept (preprocess.short_side), for the
# authors' random-position training crop; files need not exist until a run reads them
FRAME_COLUMNS = ["file", "label", "source", "image_id", "skin_type", "whole_file"]
MANIFEST_COLUMNS = ["file", "class", "source_image", "index"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

SyntheticInput = str | Path | Sequence[str | Path] | None


def manifest_paths(synthetic: SyntheticInput) -> list[Path]:
    """The manifest files of a run (none, one, or shards)."""
    if synthetic is None:
        return []
    if isinstance(synthetic, str | Path):
        return [Path(synthetic)]
    return [Path(p) for p in synthetic]


def source_id(value: str) -> str:
    """A manifest's `source_image` as an image id: an id as is, a file path's stem."""
    if "/" in value or value.lower().endswith(IMAGE_SUFFIXES):
        return Path(value).stem
    return value


def read_synthetic_manifests(synthetic: SyntheticInput, classes: Sequence[str]) -> pd.DataFrame:
    """The images of one or more synthetic manifests (`file, class, source_image, index`) as
    `file, label, image_id` (the source's), `index`, `where` (file and line, for errors)."""
    parts = []
    for path in manifest_paths(synthetic):
        table = read_table(path, MANIFEST_COLUMNS)
        bad_class = ~table["class"].isin(list(classes)) | (table["file"] == "")
        no_source = table["source_image"] == ""
        index = pd.to_numeric(table["index"], errors="coerce")
        bad_index = index.isna() | (index < 0) | (index != index.round())
        for mask, message in (
            (bad_class, f"empty file, or a class not one of {list(classes)}"),
            (
                no_source,
                "no source_image: a synthetic image must name the real training image "
                "it was made from, or no run can tell whether it may use it",
            ),
            (bad_index, "index is not a count from 0"),
        ):
            if mask.any():
                raise DataError(path, message, line=csv_line(int(mask.to_numpy().argmax())))
        parts.append(
            pd.DataFrame(
                {
                    "file": table["file"],
                    "label": table["class"],
                    "image_id": [source_id(v) for v in table["source_image"]],
                    "index": index.astype(int),
                    "where": [f"{path}, line {csv_line(i)}" for i in range(len(table))],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["file", "label", "image_id", "index", "where"])
    return pd.concat(parts, ignore_index=True)


def read_released(
    index: str | Path, source: str, classes: Sequence[str], split: pd.DataFrame
) -> pd.DataFrame:
    """The images of a `released-...` source from the released index (`index`), as
    `read_synthetic_manifests` gives ours: those of `classes`, each image's class its folder's
    (the authors' `all` folder: its source image's in `split`)."""
    table = read_table(index, INDEX_COLUMNS)
    labels = dict(zip(split["image_id"], split["label"], strict=True))
    made = released_manifest(table, source, classes, labels_of=labels)
    log.info(
        "%s: %d released images of %s for classes %s in %s (%d of that source left out: other "
        "classes)",
        source,
        len(made),
        released_source(source),
        list(classes),
        index,
        int((table["source"] == released_source(source)).sum()) - len(made),
    )
    return made


def read_run_synthetic(
    synthetic: SyntheticInput, source: str, classes: Sequence[str], split: pd.DataFrame
) -> pd.DataFrame:
    """A run's synthetic images: the released index of a `released-...` source, else our
    shard manifests."""
    if reads_released(source):
        paths = manifest_paths(synthetic)
        if len(paths) != 1:
            raise ValueError(f"a released source reads one released index, not {paths}")
        return read_released(paths[0], source, classes, split)
    return read_synthetic_manifests(synthetic, classes)


def synthetic_images(
    manifest: pd.DataFrame,
    split: pd.DataFrame,
    training: pd.DataFrame,
    per_real: int,
    source: str = "the synthetic manifests",
    first_index: int = 0,
) -> pd.DataFrame:
    """The `per_real` synthetic images (index `first_index` .. `first_index + per_real - 1`) of
    each training image, as frame rows.

    Every synthetic image must come from a training image of the split with its label (one made
    from a held-out or validation image of the split is an error: it must never exist), and
    every training image of the run must have its `per_real` images, no more, no fewer.
    """
    sources = split.reindex(columns=["image_id", "split", "label"], fill_value="")
    merged = manifest.merge(
        sources.rename(columns={"label": "source_label"}),
        on="image_id",
        how="left",
        validate="many_to_one",
    )
    for mask, message in (
        (merged["split"].isna(), "source_image {image_id!r} is not in the split"),
        (
            merged["split"].notna() & (merged["split"] != "train"),
            "made from {image_id!r}, a {split} image: synthetic images may come from training "
            "images only",
        ),
        (
            merged["split"].notna() & (merged["label"] != merged["source_label"]),
            "class {label!r} but its source {image_id!r} is {source_label!r}",
        ),
    ):
        if mask.any():
            row = merged[mask].iloc[0]
            raise DataError(row["where"], message.format(**row))
    window = (manifest["index"] >= first_index) & (manifest["index"] < first_index + per_real)
    chosen = manifest[manifest["image_id"].isin(set(training["image_id"])) & window]
    duplicated = chosen.duplicated(["image_id", "index"])
    if duplicated.any():
        row = chosen[duplicated].iloc[0]
        raise DataError(row["where"], f"a second image {row['index']} of {row['image_id']!r}")
    counts = chosen["image_id"].value_counts().reindex(training["image_id"], fill_value=0)
    short = counts[counts < per_real]
    if per_real and len(short):
        raise DataError(
            source,
            f"{len(short)} training image(s) have fewer than {per_real} synthetic images "
            f"(index {first_index} to {first_index + per_real - 1}), e.g. {short.index[0]!r} "
            f"has {short.iloc[0]}",
        )
    missing = [f for f in chosen["file"] if not image_exists(f)]
    if missing:
        where = chosen.loc[chosen["file"] == missing[0], "where"].iloc[0]
        shard = split_ref(missing[0])
        what = "its WebDataset shard" if shard and not Path(shard[0]).is_file() else "the image"
        raise DataError(
            missing[0],
            f"synthetic image missing ({len(missing)} of this run's; {what} is missing; listed "
            f"at {where})",
        )
    skin = training.set_index("image_id")["skin_type"]
    return pd.DataFrame(
        {
            "file": chosen["file"].to_numpy(),
            "label": chosen["label"].to_numpy(),
            "source": "synthetic",
            "image_id": chosen["image_id"].to_numpy(),
            "skin_type": skin.reindex(chosen["image_id"]).to_numpy(),
        }
    )


def real_images(rows: pd.DataFrame, images_dir: str | Path, size: int, name: str) -> pd.DataFrame:
    """Frame rows of real images: their resized copies of `size` px, which must exist."""
    files = resized_files(images_dir, size, rows["image_id"], of=f"the {name} images")
    skin = rows["skin_type"] if "skin_type" in rows else ""
    whole = [str(short_side_path(images_dir, size, image_id)) for image_id in rows["image_id"]]
    return pd.DataFrame(
        {
            "file": files,
            "label": rows["label"].to_numpy(),
            "source": "real",
            "image_id": rows["image_id"].to_numpy(),
            "skin_type": pd.Series(skin).to_numpy(),
            "whole_file": whole,
        }
    )[FRAME_COLUMNS]


def read_grid_split(path: str | Path, classes: Sequence[str]) -> pd.DataFrame:
    """A Fitzpatrick17k split table (`image_id, label, split, skin_type, released_row`)."""
    split = read_table(path, SPLIT_COLUMNS)
    for position, row in split.iterrows():
        if row["label"] not in classes:
            raise DataError(
                path,
                f"label {row['label']!r} is not one of {list(classes)}",
                line=csv_line(position),
            )
        if row["split"] not in ("train", "test"):
            raise DataError(
                path, f"split {row['split']!r} is not train or test", line=csv_line(position)
            )
    return split


def grid_training_set(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    run: GridRun,
    classes: Sequence[str],
    val_per_class: int,
    split_seed: int,
    synthetic: SyntheticInput = None,
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source, image_id, skin_type`) of one grid
    run: its protocol's draw of `run.real_per_class` real images per class and the run's
    synthetic images of each (from one or more manifests), then the drawn validation images
    and the split's test images. Real images are the resized copies of `size` px.
    """
    if run.synthetic_per_real and synthetic is None:
        raise ValueError(f"{run.synthetic_per_real} synthetic per real image need a manifest")
    split = read_grid_split(split_table, classes)
    real = run_real_images(
        split,
        run,
        classes,
        val_per_class=val_per_class,
        split_seed=split_seed,
        source=str(split_table),
    )
    train = real_images(real["train"], images_dir, size, "train")
    if run.synthetic_per_real:
        manifest = read_run_synthetic(synthetic, run.source, classes, split)
        made = synthetic_images(
            manifest,
            split,
            train,
            run.synthetic_per_real,
            source=", ".join(map(str, manifest_paths(synthetic))),
            first_index=run.first_index,
        )
        train = pd.concat([train, made], ignore_index=True)
    frames = {"train": train}
    for name in ("val", "test"):
        frames[name] = real_images(real[name], images_dir, size, name)
        if frames[name].empty:
            raise DataError(split_table, f"no {name} images")
    return frames


def synthetic_origin_of(
    train: pd.DataFrame, source: str, synthetic: SyntheticInput
) -> dict[str, object]:
    """Where a run's synthetic training images came from, for its metrics.json
    (`dermsynth.design.released.synthetic_origin`): the shards its images lie in (a loose
    image: its folder) and the manifests or released index it found them by."""
    files = train.loc[train["source"] == "synthetic", "file"] if len(train) else []
    shards = []
    for file in files:
        parts = split_ref(file)
        shards.append(parts[0] if parts else str(Path(file).parent))
    return synthetic_origin(source, shards, [str(p) for p in manifest_paths(synthetic)])


def read_external(path: str | Path) -> pd.DataFrame:
    """DDI's `external` split (`image_id, label, split, skin_type, disease, shared_label`): the
    rows whose disease is one of the F17k-9 classes (`shared_label` set)."""
    table = read_table(path, ["image_id", "skin_type", "disease", "shared_label"])
    return table[table["shared_label"] != ""].reset_index(drop=True)


def external_images(
    split_table: str | Path, images_dir: str | Path, *, size: int, classes: Sequence[str]
) -> pd.DataFrame:
    """DDI images of diseases shared with F17k-9, labelled with the F17k-9 class
    (`file, label, source, image_id, skin_type`); a shared label outside `classes` is an error."""
    shared = read_external(split_table)
    unknown = sorted(set(shared["shared_label"]) - set(classes))
    if unknown:
        raise DataError(split_table, f"shared_label(s) {unknown} are not among {list(classes)}")
    if shared.empty:
        raise DataError(split_table, "no image with a shared_label")
    rows = shared.assign(label=shared["shared_label"])
    return real_images(rows, images_dir, size, "DDI external")

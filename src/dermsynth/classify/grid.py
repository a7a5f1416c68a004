"""Paper 2's Figure 3 grid: "models trained for nine-way skin classification while varying the
number of real images (1 to 228), use of synthetic images (0 or 10 synthetic images per real
image), and use of an image transform augmentation utility (yes or no) ... averaged across five
runs on a balanced, held-out test set of 360 images"; and the dose-response runs (128 and 228
real images per class x 10/25/50/75 synthetic per real image).

- `grid_training_set`: one run's images. "n real images per class" is the split's training pool
  with `pool_rank < n` (nested: the pool of 8 holds that of 1); "s synthetic per real image" is
  a manifest's images with `index < s` made from those n (`source_image`). Synthetic images
  were "added only to the training set": val and test are the split's real images.
- `grid_runs`: every run of a grid config; a run id `n{real}_s{source}_x{per_real}_t{0|1}_seed{k}`
  names its outputs, and `parse_run_id` reads one back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError, csv_line
from dermsynth.io import read_table

EXPERIMENT = "fitzpatrick17k_grid"
NO_SYNTHETIC = "none"
SOURCE_NAME = re.compile(r"[A-Za-z0-9-]+")
RUN_ID = re.compile(
    r"n(?P<real>\d+)_s(?P<source>[A-Za-z0-9-]+)_x(?P<per_real>\d+)_t(?P<t>[01])_seed(?P<seed>\d+)"
)
FRAME_COLUMNS = ["file", "label", "source", "image_id", "skin_type"]
MANIFEST_COLUMNS = ["file", "class", "source_image", "index"]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRID_KEYS = {"real_per_class", "sources", "synthetic_per_real", "transforms", "seeds",
             "dose_response"}  # fmt: skip
DOSE_KEYS = {"real_per_class", "synthetic_per_real", "sources", "transforms", "seeds"}

SyntheticInput = str | Path | Sequence[str | Path] | None


def check_source(source: str, synthetic_per_real: int) -> None:
    """A synthetic source is a name of letters, digits and hyphens (`inpaint-dreambooth`);
    `none` goes with 0 synthetic per real image, any other source with at least 1."""
    if not SOURCE_NAME.fullmatch(source):
        raise ValueError(f"source {source!r}: letters, digits and hyphens only")
    if (source == NO_SYNTHETIC) != (synthetic_per_real == 0):
        raise ValueError(
            f"source {source!r} with {synthetic_per_real} synthetic per real image: "
            f"{NO_SYNTHETIC!r} goes with 0, and only it"
        )


@dataclass(frozen=True)
class GridRun:
    """One run of the grid: its real images per class, synthetic source and images per real
    image, transforms axis and seed."""

    real_per_class: int
    source: str
    synthetic_per_real: int
    transforms: bool
    seed: int

    def __post_init__(self) -> None:
        if self.real_per_class < 1 or self.seed < 0:
            raise ValueError("real_per_class must be at least 1 and seed at least 0")
        check_source(self.source, self.synthetic_per_real)

    @property
    def run_id(self) -> str:
        return (
            f"n{self.real_per_class}_s{self.source}_x{self.synthetic_per_real}"
            f"_t{int(self.transforms)}_seed{self.seed}"
        )


def parse_run_id(run_id: str) -> GridRun:
    """The run a run id names (the inverse of `GridRun.run_id`)."""
    match = RUN_ID.fullmatch(run_id)
    if match is None:
        raise ValueError(f"{run_id!r} is not a grid run id (n<real>_s<source>_x<k>_t<0|1>_seed<k>)")
    return GridRun(
        int(match["real"]), match["source"], int(match["per_real"]), match["t"] == "1",
        int(match["seed"]),
    )  # fmt: skip


def seed_list(seeds: int | Iterable[int]) -> list[int]:
    """A config's seeds: a count k (seeds 0..k-1) or a list."""
    return list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]


def _unknown(config: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; known: {sorted(known)}")


def grid_runs(config: Mapping[str, Any]) -> list[GridRun]:
    """Every run of a grid config, main grid first, then the dose-response runs it lacks.

    The config: `real_per_class` (list), `sources` (synthetic sources; `none`, the baseline
    without synthetic images, is always run), `synthetic_per_real` (the main grid's, e.g. 10),
    `transforms` (list of booleans), `seeds` (count or list) and optionally `dose_response`:
    `real_per_class` and `synthetic_per_real` lists, and `sources`, `transforms` and `seeds`
    that default to the main grid's.
    """
    _unknown(config, GRID_KEYS, "grid")
    sources = [s for s in config["sources"] if s != NO_SYNTHETIC]
    transforms = [bool(t) for t in config["transforms"]]
    seeds = seed_list(config["seeds"])
    per_real = int(config["synthetic_per_real"])
    runs = [
        GridRun(int(n), source, 0 if source == NO_SYNTHETIC else per_real, t, seed)
        for n in config["real_per_class"]
        for source in (NO_SYNTHETIC, *sources)
        for t in transforms
        for seed in seeds
    ]
    dose = config.get("dose_response") or {}
    _unknown(dose, DOSE_KEYS, "dose_response")
    if dose:
        runs += [
            GridRun(int(n), source, int(x), bool(t), seed)
            for n in dose["real_per_class"]
            for source in [s for s in dose.get("sources", sources) if s != NO_SYNTHETIC]
            for x in dose["synthetic_per_real"]
            for t in dose.get("transforms", transforms)
            for seed in seed_list(dose.get("seeds", seeds))
        ]
    return list(dict.fromkeys(runs))


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
    """The images of one or more synthetic manifests (`file, class, source_image, index` and
    optionally `pool_rank`) as `file, label, image_id` (the source's), `index`, `pool_rank`
    ('' where not given), `where` (file and line, for errors)."""
    parts = []
    for path in manifest_paths(synthetic):
        table = read_table(path, MANIFEST_COLUMNS)
        bad_class = ~table["class"].isin(list(classes)) | (table["file"] == "")
        no_source = table["source_image"] == ""
        index = pd.to_numeric(table["index"], errors="coerce")
        bad_index = index.isna() | (index < 0) | (index != index.round())
        for mask, message in (
            (bad_class, f"empty file, or a class not one of {list(classes)}"),
            (no_source, "no source_image: a synthetic image must name the real training image "
                        "it was made from, or no run can tell whether it may use it"),
            (bad_index, "index is not a count from 0"),
        ):  # fmt: skip
            if mask.any():
                raise DataError(path, message, line=csv_line(int(mask.to_numpy().argmax())))
        parts.append(
            pd.DataFrame(
                {
                    "file": table["file"],
                    "label": table["class"],
                    "image_id": [source_id(v) for v in table["source_image"]],
                    "index": index.astype(int),
                    "pool_rank": table["pool_rank"] if "pool_rank" in table else "",
                    "where": [f"{path}, line {csv_line(i)}" for i in range(len(table))],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["file", "label", "image_id", "index", "pool_rank", "where"])
    return pd.concat(parts, ignore_index=True)


def synthetic_images(
    manifest: pd.DataFrame, split: pd.DataFrame, training: pd.DataFrame, per_real: int,
    source: str = "the synthetic manifests",
) -> pd.DataFrame:  # fmt: skip
    """The `per_real` synthetic images (index < per_real) of each training image, as frame rows.

    Every synthetic image must come from a training image of the split with its label (one made
    from a validation or test image is an error: it must never reach any run), and every
    training image must have its `per_real` images, no more, no fewer.
    """
    sources = split.reindex(columns=["image_id", "split", "label", "pool_rank"], fill_value="")
    merged = manifest.merge(
        sources.rename(columns={"label": "source_label", "pool_rank": "source_rank"}),
        on="image_id", how="left", validate="many_to_one",
    )  # fmt: skip
    given_rank = merged["pool_rank"].astype(str) != ""
    ranks = [pd.to_numeric(merged[c], errors="coerce") for c in ("pool_rank", "source_rank")]
    for mask, message in (
        (merged["split"].isna(), "source_image {image_id!r} is not in the split"),
        (merged["split"].notna() & (merged["split"] != "train"),
         "made from {image_id!r}, a {split} image: synthetic images may come from training "
         "images only"),
        (merged["split"].notna() & (merged["label"] != merged["source_label"]),
         "class {label!r} but its source {image_id!r} is {source_label!r}"),
        (merged["split"].notna() & given_rank & (ranks[0] != ranks[1]),
         "pool_rank {pool_rank} but its source {image_id!r} has {source_rank}"),
    ):  # fmt: skip
        if mask.any():
            row = merged[mask].iloc[0]
            raise DataError(row["where"], message.format(**row))
    chosen = manifest[
        manifest["image_id"].isin(set(training["image_id"])) & (manifest["index"] < per_real)
    ]
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
            f"(index < {per_real}), e.g. {short.index[0]!r} has {short.iloc[0]}",
        )
    missing = [f for f in chosen["file"] if not Path(f).is_file()]
    if missing:
        raise DataError(missing[0], f"synthetic image missing ({len(missing)} of this run's)")
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
    files = [str(resized_path(images_dir, size, image_id)) for image_id in rows["image_id"]]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise DataError(
            missing[0], f"resized image missing ({len(missing)} of the {name} images); "
            f"is {size} px a preprocess size of this dataset?"
        )  # fmt: skip
    skin = rows["skin_type"] if "skin_type" in rows else ""
    return pd.DataFrame(
        {"file": files, "label": rows["label"].to_numpy(), "source": "real",
         "image_id": rows["image_id"].to_numpy(), "skin_type": pd.Series(skin).to_numpy()}
    )[FRAME_COLUMNS]  # fmt: skip


def read_grid_split(path: str | Path, classes: Sequence[str]) -> pd.DataFrame:
    """A Fitzpatrick17k split table (`image_id, label, split, pool_rank, skin_type`)."""
    split = read_table(path, ["image_id", "label", "split", "pool_rank", "skin_type"])
    for position, row in split.iterrows():
        if row["label"] not in classes:
            raise DataError(path, f"label {row['label']!r} is not one of {list(classes)}",
                            line=csv_line(position))  # fmt: skip
        if row["split"] == "train" and not row["pool_rank"].isdigit():
            raise DataError(path, "a training image without a pool_rank", line=csv_line(position))
    return split


def grid_training_set(
    split_table: str | Path,
    images_dir: str | Path,
    *,
    size: int,
    real_per_class: int,
    classes: Sequence[str],
    synthetic: SyntheticInput = None,
    synthetic_per_real: int = 0,
) -> dict[str, pd.DataFrame]:
    """The train, val and test images (`file, label, source, image_id, skin_type`) of one grid
    run: the `real_per_class` lowest-ranked pool images of every class and the
    `synthetic_per_real` synthetic images of each (from one or more manifests), then the split's
    real validation and test images. Real images are the resized copies of `size` px.
    """
    if synthetic_per_real and synthetic is None:
        raise ValueError(f"{synthetic_per_real} synthetic per real image need a manifest")
    split = read_grid_split(split_table, classes)
    train_rows = split[split["split"] == "train"]
    pool = train_rows[train_rows["pool_rank"].astype(int) < real_per_class]
    per_class = pool["label"].value_counts().reindex(list(classes), fill_value=0)
    short = per_class[per_class < real_per_class]
    if len(short):
        raise DataError(
            split_table, f"class(es) {list(short.index)} have fewer than {real_per_class} "
            f"training pool images ({short.to_dict()})"
        )  # fmt: skip
    train = real_images(pool, images_dir, size, "train")
    if synthetic_per_real:
        manifest = read_synthetic_manifests(synthetic, classes)
        train = pd.concat(
            [
                train,
                synthetic_images(
                    manifest,
                    split,
                    train,
                    synthetic_per_real,
                    source=", ".join(map(str, manifest_paths(synthetic))),
                ),
            ],  # fmt: skip
            ignore_index=True,
        )
    frames = {"train": train}
    for name in ("val", "test"):
        frames[name] = real_images(split[split["split"] == name], images_dir, size, name)
        if frames[name].empty:
            raise DataError(split_table, f"no {name} images")
    return frames


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

"""Image sets: a CSV of image files with their class, each decoded once to RGB at one size
(`dermsynth.images.load_rgb`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermsynth.errors import DataError, csv_line
from dermsynth.images import image_stem
from dermsynth.io import read_table


def read_image_set(path: str | Path) -> pd.DataFrame:
    """Rows `id, file, class` of an image set, sorted by id (the order every product uses).

    A synthetic manifest has no `id` column: its file's stem is the id (a shard member's:
    `<tar>#<key>.png` is `<key>`).
    """
    frame = read_table(path, ["file", "class"])
    if "id" not in frame.columns:
        frame["id"] = [image_stem(f) for f in frame["file"]]
    for position, row in frame.iterrows():
        if not row["file"] or not row["class"]:
            raise DataError(path, "empty file or class", line=csv_line(position))
    duplicated = frame["id"].duplicated(keep=False)
    if duplicated.any():
        first = int(np.flatnonzero(duplicated.to_numpy())[1])
        raise DataError(
            path, f"duplicate image id {frame['id'].iloc[first]!r}", line=csv_line(first)
        )
    return frame[["id", "file", "class"]].sort_values("id", ignore_index=True)


def thumbnail(pixels: np.ndarray, side: int) -> np.ndarray:
    """A small box-filtered copy, for fast nearest-neighbour search in pixel space."""
    image = Image.fromarray(pixels).resize((side, side), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.uint8)


def real_image_set(
    split_table: str | Path, images_dir: str | Path, *, size: int, splits: list[str] | None
) -> pd.DataFrame:
    """The real images of the given splits (None: every image of a pairs table), as an image
    set (`id, file, class, split`) pointing at their resized copies of `size` px."""
    from dermsynth.data.preprocess import resized_files

    table = read_table(split_table, ["image_id", "label", *(["split"] if splits else [])])
    if splits is None:
        table["split"] = "all"
    chosen = table[table["split"].isin(splits or ["all"])]
    if chosen.empty:
        raise DataError(split_table, f"no images in split(s) {splits}")
    files = resized_files(images_dir, size, chosen["image_id"])
    return pd.DataFrame(
        {
            "id": chosen["image_id"].to_numpy(),
            "file": files,
            "class": chosen["label"].to_numpy(),
            "split": chosen["split"].to_numpy(),
        }
    )

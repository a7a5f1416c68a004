"""Paper 2's authors' released synthetic images: the index of a folder of their WebDataset
shards, and the demo's stand-in shards, written in exactly their layout
(`dermsynth.design.released` describes it).

The index lists every sample once (`key, tar, member, md5hash, label, method, submethod,
generation_num, tag, source`), `source` being our method-variant of its method and submethod
(config `released.methods`). It reads only the json members, seeking past the images, so a run
never rescans the shards; it fails naming the shard and key of a sample without its png or
json, with a json field missing, or with a method the table does not map.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermsynth.data.png import encode_png
from dermsynth.data.preprocess import center_square
from dermsynth.design.released import (
    INDEX_COLUMNS,
    JSON_FIELDS,
    authors_label,
    generation_folder,
    mapped_source,
    method_table,
    sample_key,
    shard_name,
)
from dermsynth.errors import DataError
from dermsynth.images import open_rgb
from dermsynth.io import atomic_directory, read_table
from dermsynth.webdataset import image_ref, iter_samples, json_member, member_name, write_tar

log = logging.getLogger(__name__)

DEMO_TAG = "generations1"  # the authors' tag of their first generation run


def shard_paths(folder: str | Path) -> list[Path]:
    """The WebDataset shards (`*.tar`) under `folder`, sorted; none is an error naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "folder of the authors' released shards not found")
    shards = sorted(folder.rglob("*.tar"))
    if not shards:
        raise DataError(folder, "no WebDataset shard (*.tar) in the released folder")
    return shards


def index_released(
    folder: str | Path,
    methods: Mapping[str, Mapping[str, str]],
    tags: Collection[str] | None = None,
) -> pd.DataFrame:
    """Every sample of the shards under `folder`, with our method-variant (`methods`: the
    config's `released.methods`); with `tags`, only the samples of those generation runs (the
    authors' `tag`: generations1, ...)."""
    table = method_table(methods)
    rows = []
    for tar in shard_paths(folder):
        for sample in iter_samples(tar, read=("json",)):
            where = f"{tar}, key {sample.key}"
            if "png" not in sample.members or "json" not in sample.members:
                raise DataError(
                    where, f"a sample needs a png and a json, found {sorted(sample.members)}"
                )
            try:
                record = json.loads(sample.members["json"])
            except ValueError as err:
                raise DataError(where, f"json member does not parse: {err}") from None
            missing = [f for f in JSON_FIELDS if f not in record]
            if missing:
                raise DataError(where, f"json lacks field(s) {missing}")
            if tags is not None and str(record["tag"]) not in tags:
                continue
            source = mapped_source(table, record["method"], record["submethod"], where)
            rows.append(
                {
                    "key": sample.key,
                    "tar": str(tar),
                    "member": member_name(sample.key, "png"),
                    **{f: str(record[f]) for f in JSON_FIELDS[1:]},
                    "source": source,
                }
            )
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    log.info(
        "released index: %d samples in %d shards; per source %s",
        len(index),
        index["tar"].nunique(),
        index["source"].value_counts().to_dict(),
    )
    return index


def read_released_index(path: str | Path) -> pd.DataFrame:
    return read_table(path, INDEX_COLUMNS)


def released_references(index: str | Path, method_variant: str, labels: Collection[str]) -> list:
    """The tar references of the samples of our `method_variant` in a released index whose
    class folder is one of `labels` (what a run of that source may read)."""
    table = read_released_index(index)
    rows = table[(table["source"] == method_variant) & table["label"].isin(list(labels))]
    return [image_ref(tar, member) for tar, member in zip(rows["tar"], rows["member"], strict=True)]


def demo_variant(pixels: np.ndarray, generation: int) -> np.ndarray:
    """A stand-in "synthetic" image of a real one: turned by `generation` quarter turns, and
    mirrored from the fifth on; deterministic and distinct for generations 0-7."""
    turned = np.rot90(pixels, generation % 4)
    return np.ascontiguousarray(turned[:, ::-1] if (generation // 4) % 2 else turned)


def write_demo_release(
    training: str | Path,
    images_dir: str | Path,
    out: str | Path,
    *,
    labels: Sequence[str],
    methods: Sequence[Sequence[str]],
    generations: int,
    size: int,
) -> list[Path]:
    """Shards in exactly the authors' layout made from the demo's Fitzpatrick17k images: for
    each (method, submethod) of `methods` and each label of `labels`, one shard of the rows of
    their released training file (`training`) with that label, `generations` images each
    (`demo_variant` of the image's centred square at `size` px), keys, json and shard names as
    their two scripts write them. The folder `out` is written atomically."""
    table = read_table(training, ["md5hash", "label"])
    written = []
    with atomic_directory(out) as tmp:
        for method, submethod in methods:
            for label in labels:
                rows = table[table["label"] == label]
                if rows.empty:
                    raise DataError(training, f"no row of label {label!r}")
                folder_label = authors_label(label)
                samples = []
                for md5 in rows["md5hash"]:
                    square = center_square(open_rgb(Path(images_dir) / f"{md5}.jpg"))
                    pixels = np.asarray(square.resize((size, size), Image.Resampling.BICUBIC))
                    for generation in range(generations):
                        number = generation_folder(generation)
                        key = sample_key(folder_label, method, submethod, DEMO_TAG, number, md5)
                        record = {
                            "name": member_name(key, "png"),
                            "md5hash": md5,
                            "label": folder_label,
                            "method": method,
                            "submethod": submethod,
                            "generation_num": number,
                            "tag": DEMO_TAG,
                        }
                        image = encode_png(demo_variant(pixels, generation))
                        samples.append((key, {"png": image, "json": json_member(record)}))
                name = shard_name(folder_label, method, submethod, 0)
                write_tar(tmp / name, samples)
                written.append(Path(out) / name)
    log.info("demo release: %d shards in %s", len(written), out)
    return written

"""Paper 2's authors' released synthetic images as a synthetic source of the grid and DDI runs.

The authors released their Stable Diffusion images (Hugging Face `tbuckley/synthetic-derm-1M`
and `tbuckley/synthetic-derm-1M-train`) as WebDataset shards, written by two scripts of GitHub
`manrai/synthetic-derm`: `huggingface/copy_images_to_webdataset.py` names each image
`{prefix}_{tag}_{generation_num}_{md5hash}` with `prefix = f"{label}_{method}_{submethod}"`
(hyphens as underscores), beside a json of `name, md5hash, label, method, submethod,
generation_num, tag` (`generation_num` the name of its generation folder, "00", "01", ...;
`md5hash` the Fitzpatrick17k image it was made from, the stem of its file; `label` the class
folder, hyphenated, e.g. "basal-cell-carcinoma"); `huggingface/compile_webdataset.py` packs one
folder per prefix into `shard-{prefix, underscores as hyphens}-{number:05d}.tar`, 5,000 samples
each (`<key>.json`, `<key>.png`). Methods `finetune_text_to_image`, `pretrained_text_to_image`,
`finetune_inpaint`, `pretrained_inpaint`; submethods `text-to-image`, `inpaint`,
`inpaint-outpaint`.

A run names such a source `released-<method>-<variant>` (`released-text2img-dreambooth`); the
config's `released.methods` maps the authors' (method, submethod) to our method-variant. The
index of the shards (`dermsynth.data.released`, rule `released_index`) lists every sample once;
`released_manifest` turns one source's rows into the rows a run draws from, as it draws from
our manifests (`dermsynth.classify.paper2_grid.synthetic_images`): the image's tar reference,
its class, the real image it was made from (md5hash) and its index (generation_num), with the
shard and key for every error.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import pandas as pd

from dermsynth.design.pools import split_source
from dermsynth.design.runs import NO_SYNTHETIC, RELEASED, reads_released
from dermsynth.errors import DataError

# our method and variant -> the authors' method and submethod (copy_images_to_webdataset.py)
AUTHORS_METHODS = {
    ("text2img", "dreambooth"): ("finetune_text_to_image", "text-to-image"),
    ("text2img", "pretrained"): ("pretrained_text_to_image", "text-to-image"),
    ("inpaint", "dreambooth"): ("finetune_inpaint", "inpaint"),
    ("inoutpaint", "dreambooth"): ("finetune_inpaint", "inpaint-outpaint"),
    ("inpaint", "pretrained"): ("pretrained_inpaint", "inpaint"),
    ("inoutpaint", "pretrained"): ("pretrained_inpaint", "inpaint-outpaint"),
}
# the fields of the authors' json, in their order
JSON_FIELDS = ("name", "md5hash", "label", "method", "submethod", "generation_num", "tag")
INDEX_COLUMNS = ["key", "tar", "member", *JSON_FIELDS[1:], "source"]
ALL_LABEL = "all"  # a class folder of a model trained on every class (their DDI model's)
MANIFEST_COLUMNS = ["file", "label", "image_id", "index", "where"]


def released_name(method_variant: str) -> str:
    """The source name of the authors' images of one of our method-variants."""
    split_source(method_variant)
    return f"{RELEASED}{method_variant}"


def released_source(source: str) -> str:
    """Our method-variant of a `released-<method>-<variant>` source."""
    if not reads_released(source):
        raise ValueError(f"{source!r} is not a released source (released-<method>-<variant>)")
    method_variant = source[len(RELEASED) :]
    split_source(method_variant)
    return method_variant


def method_table(methods: Mapping[str, Mapping[str, str]]) -> dict[tuple[str, str], str]:
    """The config's `released.methods` ({their method: {their submethod: our method-variant}})
    as (method, submethod) -> method-variant, each value checked."""
    table = {}
    for method, submethods in methods.items():
        for submethod, method_variant in submethods.items():
            try:
                split_source(method_variant)
            except ValueError as err:
                raise ValueError(f"released.methods.{method}.{submethod}: {err}") from None
            table[(method, submethod)] = method_variant
    return table


def mapped_source(
    table: Mapping[tuple[str, str], str], method: str, submethod: str, where: str
) -> str:
    """Our method-variant of a sample's (method, submethod); one the table does not map is an
    error naming the shard and key (`where`)."""
    found = table.get((method, submethod))
    if found is None:
        mapped = sorted(f"{m}/{s}" for m, s in table)
        raise DataError(
            where,
            f"method {method!r}, submethod {submethod!r} is not in config released.methods "
            f"(it maps {mapped})",
        )
    return found


def authors_names(method: str, variant: str) -> tuple[str, str]:
    """The authors' (method, submethod) of our method and variant."""
    return AUTHORS_METHODS[(method, variant)]


def authors_label(label: str) -> str:
    """A class as the authors' folders name it: "basal cell carcinoma" -> "basal-cell-carcinoma"."""
    return label.replace(" ", "-")


def our_label(label: str) -> str:
    """The class a label of the authors' folders names: hyphens as spaces."""
    return label.replace("-", " ")


def generation_folder(index: int) -> str:
    """The authors' generation folder of image `index` of a real image: "00", "01", ..."""
    return f"{index:02d}"


def sample_key(label: str, method: str, submethod: str, tag: str, generation: str, md5: str) -> str:
    """A sample's key as `copy_images_to_webdataset.py` names it."""
    prefix = f"{label}_{method}_{submethod}".replace("-", "_")
    return f"{prefix}_{tag}_{generation}_{md5}"


def shard_name(label: str, method: str, submethod: str, number: int) -> str:
    """A shard's file name as `compile_webdataset.py` names it."""
    prefix = f"{label}_{method}_{submethod}".replace("-", "_")
    return f"shard-{prefix.replace('_', '-')}-{number:05d}.tar"


def released_manifest(
    index: pd.DataFrame,
    source: str,
    classes: Sequence[str],
    *,
    labels_of: Mapping[str, str] | None = None,
    tags: Collection[str] | None = None,
) -> pd.DataFrame:
    """The released images of `source` (`released-<method>-<variant>`) that a run of `classes`
    may read, as manifest rows `file` (tar reference), `label`, `image_id` (md5hash), `index`
    (generation_num) and `where` (shard and key).

    `index` is the released index (`INDEX_COLUMNS`); `tags` keeps the authors' generation runs
    named (None: every one). A sample of another class (the authors' tenth, folliculitis) is
    left out; one of the authors' `all` folder takes its class from `labels_of` (image id ->
    label, the split's), or none when its md5hash is not there, which the run then reports.
    """
    wanted = released_source(source)
    missing = [c for c in INDEX_COLUMNS if c not in index.columns]
    if missing:
        raise ValueError(f"the released index lacks column(s) {missing}")
    rows = index[index["source"] == wanted]
    if tags is not None:
        rows = rows[rows["tag"].isin(list(tags))]
    whole = rows["label"] == ALL_LABEL
    label = rows["label"].map(our_label)
    if labels_of is not None:
        label = label.where(~whole, rows["md5hash"].map(dict(labels_of)).fillna(""))
    keep = label.isin(list(classes)) | whole
    rows, label = rows[keep], label[keep]
    where = rows["tar"] + ", key " + rows["key"]
    number = pd.to_numeric(rows["generation_num"], errors="coerce")
    bad = number.isna() | (number < 0) | (number != number.round())
    if bad.any():
        first = int(bad.to_numpy().argmax())
        raise DataError(
            where.iloc[first],
            f"generation_num {rows['generation_num'].iloc[first]!r} is not a count from 0",
        )
    return pd.DataFrame(
        {
            "file": (rows["tar"] + "#" + rows["member"]).to_numpy(),
            "label": label.to_numpy(),
            "image_id": rows["md5hash"].to_numpy(),
            "index": number.astype(int).to_numpy(),
            "where": where.to_numpy(),
        },
        columns=MANIFEST_COLUMNS,
    )


def synthetic_origin(source: str, shards: Sequence[str], read: Sequence[str]) -> dict[str, Any]:
    """What a run's metrics.json says of where its synthetic images came from: generated by the
    Stable Diffusion track or released by the authors, the folder of the shards it read
    (`shards`: their paths) and how many, and the manifests or released index it read them by."""
    if source == NO_SYNTHETIC:
        return {"origin": None}
    shards = sorted({str(shard) for shard in shards})
    return {
        "origin": "released" if reads_released(source) else "generated",
        "source": source,
        "method_variant": released_source(source) if reads_released(source) else source,
        "shard_folder": os.path.commonpath([os.path.dirname(s) or "." for s in shards])
        if shards
        else "",
        "n_shards": len(shards),
        "read_by": [str(path) for path in read],
    }

"""Shards written as paper 2's authors wrote theirs, for the tests (nothing downloads).

Their lines, from GitHub `manrai/synthetic-derm`: `huggingface/copy_images_to_webdataset.py`
names each image and its json (`authors_sample`), `huggingface/compile_webdataset.py` packs one
folder per prefix with webdataset's `TarWriter` into `shard-{prefix}-{n:05d}.tar`
(`authors_shard_name`). `authors_tar` is `TarWriter` as webdataset writes (its
`src/webdataset/writer.py`): `tarfile.open(fileobj=..., mode="w|")` with tarfile's default
format, each sample's members in sorted order, a TarInfo per member with the time of writing,
mode 0o0444, user and group "bigdata".
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from dermsynth.data.png import encode_png

FIVE_METHODS = {  # their method -> submethods (copy_images_to_webdataset.py's `methods`)
    "finetune_text_to_image": ["text-to-image"],
    "pretrained_text_to_image": ["text-to-image"],
    "finetune_inpaint": ["inpaint-outpaint", "inpaint"],
    "pretrained_inpaint": ["inpaint-outpaint", "inpaint"],
}
MAPPING = {  # config released.methods
    "finetune_text_to_image": {"text-to-image": "text2img-dreambooth"},
    "pretrained_text_to_image": {"text-to-image": "text2img-pretrained"},
    "finetune_inpaint": {
        "inpaint": "inpaint-dreambooth",
        "inpaint-outpaint": "inoutpaint-dreambooth",
    },
    "pretrained_inpaint": {
        "inpaint": "inpaint-pretrained",
        "inpaint-outpaint": "inoutpaint-pretrained",
    },
}


def authors_sample(
    label: str,
    method_key: str,
    submethod: str,
    tag: str,
    generation_num: str,
    md5hash: str,
    image_bytes: bytes,
) -> dict:
    """One sample as their two scripts make it (their variable names)."""
    prefix = f"{label}_{method_key}_{submethod}".replace("-", "_")
    unique_name = f"{prefix}_{tag}_{generation_num}_{md5hash}"
    image_path = f"{unique_name}.png"
    metadata = {
        "name": image_path,
        "md5hash": md5hash,
        "label": label,
        "method": method_key,
        "submethod": submethod,
        "generation_num": generation_num,
        "tag": tag,
    }
    json_bytes = json.dumps(metadata).encode()  # json.dump(metadata, json_file), read back
    return {"__key__": unique_name, "png": image_bytes, "json": json_bytes}


def authors_shard_name(label: str, method_key: str, submethod: str, shard_number: int) -> str:
    prefix = f"{label}_{method_key}_{submethod}".replace("-", "_")  # the subdirectory's name
    shard_prefix = prefix.replace("_", "-")
    return f"shard-{shard_prefix}-{shard_number:05d}.tar"


def authors_tar(path: str | Path, samples: Sequence[dict]) -> Path:
    """webdataset's `TarWriter(path)` writing `samples` in the given order."""
    with open(path, "wb") as stream, tarfile.open(fileobj=stream, mode="w|") as tarstream:
        for obj in samples:
            key = obj["__key__"]
            for k in sorted(obj.keys()):
                if k == "__key__":
                    continue
                v = obj[k]
                ti = tarfile.TarInfo(key + "." + k)
                ti.size = len(v)
                ti.mtime = time.time()
                ti.mode = 0o0444
                ti.uname = "bigdata"
                ti.gname = "bigdata"
                tarstream.addfile(ti, io.BytesIO(v))
    return Path(path)


def write_authors_release(
    folder: str | Path,
    sources: Sequence[tuple[str, str]],
    method_key: str,
    submethod: str,
    pixels_of,
    *,
    generations: Sequence[str] = ("00", "01", "02"),
    tag: str = "generations1",
) -> list[Path]:
    """Their shards of one method and submethod for `sources` ((md5hash, label as their folders
    name it)): one shard per label, `pixels_of(md5hash, generation)` each image's pixels."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[dict]] = {}
    for md5hash, label in sources:
        for generation in generations:
            image = encode_png(pixels_of(md5hash, generation))
            sample = authors_sample(label, method_key, submethod, tag, generation, md5hash, image)
            by_label.setdefault(label, []).append(sample)
    return [
        authors_tar(folder / authors_shard_name(label, method_key, submethod, 0), samples[::-1])
        for label, samples in by_label.items()
    ]

"""Resized copies of every image at the sizes later rules need, each source decoded once.

Layout: `<out>/<size>/<image_id>.png` (lossless), and `<out>/index.csv` with each image's
source size. Images are centre-cropped to a square (or squashed, `crop="squash"`) and resized
with a bicubic filter, largest size first. Optionally also `<out>/<size>-short/<image_id>.png`:
the whole image, its shorter side resized to `size` (paper 2's authors' classifier crops its
training square from the whole image, at a random position: fastai's `Resize`). JPEGs are
decoded in draft mode at the smallest DCT scale that still covers the largest output size, and
PNGs are written by our fast writer (`dermsynth.data.png`): all of HAM10000 takes under a minute
on two cores.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps
from tqdm import tqdm

from dermsynth.data.png import write_png
from dermsynth.errors import DataError, csv_line
from dermsynth.images import image_source
from dermsynth.io import atomic_directory, write_csv
from dermsynth.workers import worker_pool

log = logging.getLogger(__name__)

CROPS = ("center", "squash")
ORIENTATION = 0x0112  # the EXIF tag of a camera's rotation


def resized_path(images_dir: str | Path, size: int, image_id: str) -> Path:
    """Where the `size` px copy of `image_id` lies under a dataset's images directory."""
    return Path(images_dir) / str(size) / f"{image_id}.png"


def resized_files(
    images_dir: str | Path, size: int, image_ids: Iterable[str], *, of: str | None = None
) -> list[str]:
    """The `size` px copies of `image_ids` (paths as strings, in order), which must all exist:
    a missing one fails naming the first and how many of `of` (e.g. "the train images"; None:
    of all) are missing."""
    files = [str(resized_path(images_dir, size, image_id)) for image_id in image_ids]
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        among = f"of {of}" if of else "in all"
        raise DataError(
            missing[0],
            f"resized image missing ({len(missing)} {among}); "
            f"is {size} px a preprocess size of this dataset?",
        )
    return files


def short_side_dir(images_dir: str | Path, size: int) -> Path:
    """The folder of the copies whose shorter side is `size` px, under an images directory."""
    return Path(images_dir) / f"{size}-short"


def short_side_path(images_dir: str | Path, size: int, image_id: str) -> Path:
    """Where the copy of `image_id` whose shorter side is `size` px lies."""
    return short_side_dir(images_dir, size) / f"{image_id}.png"


def decode_rgb(
    path: str | Path, largest: int, crop: str = "center"
) -> tuple[Image.Image, int, int]:
    """Decode an image once as RGB, upright, in JPEG draft mode at the smallest scale whose
    shorter side still covers `largest` (`crop="squash"`: both sides). Returns the image and
    the source width and height. `path` may be a shard's `<tar>#<member>` (`dermsynth.images`)."""
    with Image.open(image_source(path)) as image:
        width, height = image.size
        short = min(width, height)
        if crop == "center":
            wanted = (math.ceil(width * largest / short), math.ceil(height * largest / short))
        else:
            wanted = (largest, largest)
        image.draft("RGB", wanted)
        image.load()
        if image.getexif().get(ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGB")
    return image, width, height


def square_at(image: Image.Image, position: Sequence[float]) -> Image.Image:
    """The largest square of an image, its left and top edges at fractions `position` (each in
    [0, 1]) of the room left beside and below it."""
    width, height = image.size
    side = min(width, height)
    left, top = int(position[0] * (width - side)), int(position[1] * (height - side))
    return image.crop((left, top, left + side, top + side))


def center_square(image: Image.Image) -> Image.Image:
    """The largest centred square of an image."""
    return square_at(image, (0.5, 0.5))


def load_square(
    path: str | Path, largest: int, crop: str = "center"
) -> tuple[Image.Image, int, int]:
    """Decode an image once (JPEG draft mode where it helps), as RGB, cropped to a square.

    Returns the square image and the source width and height.
    """
    image, width, height = decode_rgb(path, largest, crop)
    return (center_square(image) if crop == "center" else image), width, height


def short_side_copy(image: Image.Image, size: int) -> Image.Image:
    """The image resized (bicubic) so that its shorter side is `size` px, aspect kept."""
    w, h = image.size
    scale = size / min(w, h)
    wanted = (size, max(size, round(h * scale))) if w <= h else (max(size, round(w * scale)), size)
    return image.resize(wanted, Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class _Job:
    image_id: str
    source: str
    line: int
    out: Path
    sizes: tuple[int, ...]
    crop: str
    short_sides: tuple[int, ...] = ()


def _resize_one(job: _Job) -> tuple[str, int, int, str]:
    try:
        full, width, height = decode_rgb(job.source, max(job.sizes + job.short_sides), job.crop)
        for side in job.short_sides:
            write_png(
                short_side_path(job.out, side, job.image_id),
                np.asarray(short_side_copy(full, side)),
            )
        image = center_square(full) if job.crop == "center" else full
        # largest first, each size from the one before: bicubic is antialiased, and a
        # smaller source makes the small sizes nearly free
        for size in job.sizes:
            image = image.resize((size, size), Image.Resampling.BICUBIC)
            write_png(resized_path(job.out, size, job.image_id), np.asarray(image))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return job.image_id, 0, 0, f"{type(err).__name__}: {err}"
    return job.image_id, width, height, ""


def resize_images(
    pairs: pd.DataFrame,
    out: str | Path,
    sizes: Sequence[int],
    crop: str = "center",
    workers: int = 1,
    source: str = "pairs.csv",
    short_sides: Sequence[int] = (),
) -> pd.DataFrame:
    """Write every image of `pairs` (columns image_id, path) at every size, atomically, and
    at every size of `short_sides` with its aspect kept (`short_side_path`).

    A file that cannot be decoded stops the whole step with an error naming the file and its
    row in `source`; nothing is left in `out`.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, not {crop!r}")
    sizes = tuple(sorted({int(s) for s in sizes}, reverse=True))
    out = Path(out)
    with atomic_directory(out) as staging:
        short_sides = tuple(sorted({int(s) for s in short_sides}, reverse=True))
        for size in sizes:
            (staging / str(size)).mkdir()
        for side in short_sides:
            short_side_dir(staging, side).mkdir()
        jobs = [
            _Job(row.image_id, row.path, csv_line(i), staging, sizes, crop, short_sides)
            for i, row in enumerate(pairs[["image_id", "path"]].itertuples(index=False))
        ]
        results = []
        with worker_pool(workers) as pool:
            progress = tqdm(pool.imap(_resize_one, jobs, chunksize=16), total=len(jobs))
            for result, job in zip(progress, jobs, strict=True):
                if result[3]:
                    raise DataError(
                        job.source,
                        f"cannot decode image {job.image_id!r} ({source}, line {job.line}): "
                        f"{result[3]}",
                    )
                results.append(result)
        index = pd.DataFrame(results, columns=["image_id", "source_width", "source_height", "_"])
        index = index.drop(columns="_")
        index["sizes"] = " ".join(str(s) for s in sizes)
        write_csv(index, staging / "index.csv")
    log.info("resized %d images to %s px under %s", len(index), list(sizes), out)
    return index

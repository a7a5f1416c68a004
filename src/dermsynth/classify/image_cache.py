"""Paper 2's classifier images decoded once: every image a run can read is decoded (and resized to
the network's input size) once per dataset and size, or once per synthetic pool, into a
memory-mapped cache; the loader (`paper2_loader`) then reads rows of it every epoch instead of
decoding PNGs (a run reads up to 22,800 images for up to 50 epochs).

A cache is two files side by side:

- `pixels.npy`: one flat uint8 array, memory-mapped when read: every image's RGB pixels (height x
  width x 3, row-major), one image after another;
- `index.csv`: one row per image, `reference, size, height, width, offset`: the reference it was
  decoded from (a path, or whatever `dermsynth.images` reads, e.g. `<shard.tar>#<member>`), the
  input size the cache serves, the stored image's height and width, and where its pixels start.

What a row stores is what the file loader computes from that reference before any crop:

- a square image: resized (bicubic) to `size` unless it is that size already, which is
  `dermsynth.images.load_rgb(reference, size)`. That is what validation, test and our regime's
  training images are (the resized copies), and it is also the authors' random-position training
  square of a square image (synthetic images), whose largest square is the whole image wherever
  it is cut.
- an image of any other shape (the whole-image copies, `preprocess.short_side`, that the
  authors' regime cuts its training squares from): as decoded. The loader cuts the square at its
  drawn position with `square_at`'s arithmetic and resizes it to `size` (bicubic) only where its
  side differs, as `paper2_loader.load_square_at` does; at the paper's and the demo's settings it
  never differs (the copies' shorter side is the input size), so a crop is a slice of the memmap.

A batch read from a cache therefore has the bytes the file loader decodes for it
(`tests/test_classify_image_cache.py` holds the two against each other). This module imports no
torch: the cache rules (`paper2_image_cache_real`, `paper2_image_cache_synthetic`) start quickly.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermsynth.data.preprocess import resized_path, short_side_path
from dermsynth.errors import DataError
from dermsynth.images import open_rgb
from dermsynth.io import atomic_path, read_table, write_csv
from dermsynth.workers import worker_pool

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["reference", "size", "height", "width", "offset"]
PIXELS_NAME = "pixels.npy"
# the .npy header is written before the pixels' length is known and rewritten after: 128 bytes
# hold the header of any length (numpy's own pads to a multiple of 64 as well)
NPY_HEADER_BYTES = 128
NPY_MAGIC = b"\x93NUMPY\x01\x00"


def pixels_path(index: str | Path) -> Path:
    """The pixel file of a cache: `pixels.npy` beside its index."""
    return Path(index).with_name(PIXELS_NAME)


def reference_key(reference: str | Path) -> str:
    """How a cache looks a reference up: its path normalised (`a/./b.png` is `a/b.png`)."""
    return os.path.normpath(str(reference))


# --- which images a cache holds ------------------------------------------------------------------


def real_references(images_dir: str | Path, size: int, *, whole: bool) -> list[str]:
    """Every image of a dataset's resized copies (`images_dir/index.csv`): its `size` px square
    copy and, with `whole`, its copy with the aspect kept (`size` px shorter side)."""
    image_ids = list(read_table(Path(images_dir) / "index.csv", ["image_id"])["image_id"])
    references = [str(resized_path(images_dir, size, i)) for i in image_ids]
    if whole:
        references += [str(short_side_path(images_dir, size, i)) for i in image_ids]
    return references


def synthetic_references(manifests: Iterable[str | Path]) -> list[str]:
    """Every image (`file`) of one or more synthetic manifests, each once, in order."""
    files: list[str] = []
    for manifest in manifests:
        files += list(read_table(manifest, ["file"])["file"])
    return list(dict.fromkeys(files))


def frame_references(frame: pd.DataFrame, random_crop: bool = False) -> list[str]:
    """What the loader reads for the images of a frame (`file`, optional `whole_file`): the files,
    or with `random_crop` each row's whole-image copy (the file itself where it has none)."""
    files = [str(f) for f in frame["file"]]
    if not random_crop:
        return files
    whole = frame["whole_file"] if "whole_file" in frame else pd.Series("", index=frame.index)
    return [w if isinstance(w, str) and w else f for w, f in zip(whole, files, strict=True)]


# --- writing ----------------------------------------------------------------------------------


def _npy_header(length: int) -> bytes:
    """The header of a .npy file of one uint8 array of `length` values (format 1.0), padded to
    NPY_HEADER_BYTES."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({length},), }}"
    room = NPY_HEADER_BYTES - len(NPY_MAGIC) - 2
    return NPY_MAGIC + struct.pack("<H", room) + (text.ljust(room - 1) + "\n").encode("latin1")


def decode_for_cache(reference: str, size: int) -> np.ndarray:
    """A reference's stored pixels (module docstring): a square image at `size` px (as
    `load_rgb`), any other shape as decoded."""
    image = open_rgb(reference)
    if image.width == image.height and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def _decode_job(job: tuple[str, int]) -> tuple[np.ndarray | None, str]:
    reference, size = job
    try:
        return decode_for_cache(reference, size), ""
    except DataError as error:  # DataError does not pickle back from a worker: send its text
        return None, str(error.__cause__ or error)


def write_image_cache(
    references: Sequence[str | Path],
    *,
    pixels: str | Path,
    index: str | Path,
    size: int,
    workers: int = 1,
) -> pd.DataFrame:
    """Decode every reference once (`workers` processes, in order) into a cache for `size` px
    input: `pixels` (.npy) and `index` (CSV), each written under a temporary name and renamed.
    The same references give the same bytes. An image that cannot be decoded stops it with an
    error naming the image; nothing is left behind. Returns the index."""
    references = list(dict.fromkeys(str(r) for r in references))
    rows, offset = [], 0
    jobs = [(r, int(size)) for r in references]
    with atomic_path(pixels) as tmp, open(tmp, "wb") as out:
        out.write(_npy_header(0))
        with worker_pool(workers if len(jobs) > 1 else 1) as pool:
            for reference, (image, error) in zip(
                references, pool.imap(_decode_job, jobs, chunksize=8), strict=True
            ):
                if image is None:
                    raise DataError(reference, f"cannot decode image for the image cache: {error}")
                height, width = image.shape[:2]
                out.write(image.tobytes())
                rows.append((reference, int(size), height, width, offset))
                offset += image.size
        out.seek(0)
        out.write(_npy_header(offset))
        out.flush()
    table = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    write_csv(table, index)
    log.info(
        "cached %d images for %d px input: %.1f MB in %s", len(table), size, offset / 1e6, pixels
    )
    return table


# --- reading ----------------------------------------------------------------------------------


class ImageCache:
    """One or more caches (their `index.csv` files) for `size` px input, looked up by reference.

    `locate` turns references into row numbers (an image in none of the caches is an error
    naming it); `square` and `square_at` read a row as the file loader would read its reference
    (`load_rgb`, `load_square_at`). The pixel files are memory-mapped on first read in each
    process (DataLoader workers open their own).
    """

    def __init__(self, indexes: Sequence[str | Path], size: int) -> None:
        self.indexes = [str(p) for p in indexes]
        self.size = int(size)
        self.pixel_files = [str(pixels_path(p)) for p in self.indexes]
        if not self.indexes:
            raise ValueError("an image cache needs at least one index")
        parts, tables = [], []
        for part, path in enumerate(self.indexes):
            table = read_table(path, INDEX_COLUMNS)
            sizes = sorted(set(table["size"]))
            if sizes and sizes != [str(self.size)]:
                raise DataError(
                    path, f"a cache for {', '.join(sizes)} px input; this run reads {self.size} px"
                )
            parts.append(np.full(len(table), part, dtype=np.int64))
            tables.append(table)
        table = pd.concat(tables, ignore_index=True)
        self.part = np.concatenate(parts)
        self.height = table["height"].astype(np.int64).to_numpy()
        self.width = table["width"].astype(np.int64).to_numpy()
        self.offset = table["offset"].astype(np.int64).to_numpy()
        self.references = list(table["reference"])
        self._rows = {reference_key(r): i for i, r in enumerate(self.references)}
        self._arrays: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.references)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = {}  # a worker process maps the files itself
        return state

    def locate(self, references: Sequence[str | Path]) -> np.ndarray:
        """The row of each reference; one that no cache holds is an error naming it."""
        rows = [self._rows.get(reference_key(r), -1) for r in references]
        missing = [str(r) for r, row in zip(references, rows, strict=True) if row < 0]
        if missing:
            raise DataError(
                missing[0],
                f"not in the image cache ({len(missing)} of {len(rows)} images missing from "
                f"{', '.join(self.indexes)}): the cache rules decode every resized copy of a "
                "dataset (with the whole-image copies where preprocess.short_side has the size) "
                "and every image of a synthetic pool",
            )
        return np.asarray(rows, dtype=np.int64)

    def _pixels(self, part: int) -> np.ndarray:
        array = self._arrays.get(part)
        if array is None:
            path = self.pixel_files[part]
            if not Path(path).is_file():
                raise DataError(path, "image cache pixels missing (made with its index.csv)")
            array = np.load(path, mmap_mode="r")
            rows = self.part == part
            end = int((self.offset[rows] + self.height[rows] * self.width[rows] * 3).max(initial=0))
            if array.dtype != np.uint8 or array.ndim != 1 or len(array) != end:
                raise DataError(
                    path,
                    f"holds {array.shape} {array.dtype}, but {self.indexes[part]} describes "
                    f"{end} uint8 values: remake the cache",
                )
            self._arrays[part] = array
        return array

    def image(self, row: int) -> np.ndarray:
        """The stored pixels of a row (height, width, 3), a read-only view of the memmap."""
        start, height, width = int(self.offset[row]), int(self.height[row]), int(self.width[row])
        pixels = self._pixels(int(self.part[row]))
        return pixels[start : start + height * width * 3].reshape(height, width, 3)

    def square(self, row: int) -> np.ndarray:
        """A row as `load_rgb(reference, size)` reads it: (size, size, 3)."""
        image = self.image(row)
        if image.shape[:2] == (self.size, self.size):
            return image
        return _resized(image, self.size)  # a non-square image, squashed as load_rgb does

    def square_at(self, row: int, position: Sequence[float]) -> np.ndarray:
        """A row as `load_square_at(reference, size, position)` reads it: the largest square
        at `position` (fractions of the room beside and below it), at `size` px."""
        image = self.image(row)
        height, width = image.shape[:2]
        if height == width:  # stored at `size`: every position cuts the whole image
            return self.square(row)
        side = min(width, height)
        left = int(position[0] * (width - side))  # `preprocess.square_at`'s arithmetic
        top = int(position[1] * (height - side))
        square = image[top : top + side, left : left + side]
        return square if side == self.size else _resized(square, self.size)


def _resized(pixels: np.ndarray, size: int) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(pixels))
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC), dtype=np.uint8)

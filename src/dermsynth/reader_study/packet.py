"""The reader's packet (paper 1, 2.3): per class, a seeded draw of synthetic and real images,
resized alike and shuffled under opaque ids, with an answer sheet and a browser page; the key
(which image is which) is written apart, to be opened only for scoring.

Packet layout: `images/<id>.png`, `answer_sheet.xlsx`, `index.html`. Nothing in it (names,
PNG chunks, order, page) tells the class or the source of an image.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dermsynth.data.png import write_png
from dermsynth.data.preprocess import load_square
from dermsynth.errors import DataError, csv_line
from dermsynth.io import atomic_directory, read_table, write_csv
from dermsynth.reader_study.page import render_page
from dermsynth.reader_study.sheet import KEY_COLUMNS, SOURCES, write_answer_sheet
from dermsynth.seeds import derived_seed

log = logging.getLogger(__name__)

ID_HEX_DIGITS = 6
# the seed streams of one packet: the draws (one per source and class) and the order and ids
DRAW_STREAM, ORDER_STREAM = 1, 2


def draw_images(
    table: pd.DataFrame,
    path: str | Path,
    source: str,
    per_class: int,
    classes: Mapping[str, str],
    seed: int,
) -> pd.DataFrame:
    """`per_class` rows of each class, drawn without replacement (columns file, class, line).

    The rows are sorted by file first, and each class has its own seed: the draw depends on
    neither the row order of `table` nor the other classes.
    """
    table = table.assign(line=[csv_line(i) for i in range(len(table))])
    repeated = table["file"].duplicated()
    if repeated.any():
        row = table[repeated].iloc[0]
        raise DataError(path, f"image {row['file']} listed twice", line=int(row["line"]))
    others = sorted(set(table["class"]) - set(classes))
    if others:
        log.warning("%s: classes %s are not in the study; their images are not drawn", path, others)
    table = table.sort_values("file", kind="stable")
    drawn = []
    for code in classes:
        rows = table[table["class"] == code]
        if len(rows) < per_class:
            raise DataError(
                path,
                f"class {code!r} ({classes[code]}): {len(rows)} {source} image(s), "
                f"{per_class} needed for the reader packet",
            )
        rng = np.random.default_rng(
            derived_seed(seed, DRAW_STREAM, zlib.crc32(source.encode()), zlib.crc32(code.encode()))
        )
        drawn.append(rows.iloc[np.sort(rng.choice(len(rows), per_class, replace=False))])
    return pd.concat(drawn, ignore_index=True)[["file", "class", "line"]]


def opaque_ids(count: int, rng: np.random.Generator, avoid: Collection[str] = ()) -> list[str]:
    """`count` distinct random ids such as "img-7f3a9c", none containing a word of `avoid`.

    Hex digits spell some class codes ("bcc", "df"): an id that did would prime the reader.
    """
    avoid = [word.casefold() for word in avoid]
    ids: dict[str, None] = {}  # a dict keeps the order of drawing
    while len(ids) < count:
        digits = f"{int(rng.integers(16**ID_HEX_DIGITS)):0{ID_HEX_DIGITS}x}"
        if not any(word in digits for word in avoid):
            ids.setdefault(f"img-{digits}")
    return list(ids)


def packet_key(
    synthetic: pd.DataFrame, real: pd.DataFrame, classes: Mapping[str, str], seed: int
) -> pd.DataFrame:
    """The drawn images in packet order (shuffled) under opaque ids: the key's columns, and
    `line` (the image's row in its input CSV)."""
    drawn = pd.concat(
        [synthetic.assign(source=SOURCES[0]), real.assign(source=SOURCES[1])], ignore_index=True
    )
    rng = np.random.default_rng(derived_seed(seed, ORDER_STREAM))
    drawn = drawn.iloc[rng.permutation(len(drawn))].reset_index(drop=True)
    return pd.DataFrame(
        {
            "image_id": opaque_ids(len(drawn), rng, avoid=list(classes)),
            "class": drawn["class"],
            "name": drawn["class"].map(classes),
            "source": drawn["source"],
            "original_file": drawn["file"],
            "line": drawn["line"],
        }
    )


def packet_image(path: str | Path, image_size: int) -> np.ndarray:
    """An image as the reader sees it: centre-cropped square, `image_size` px, RGB.

    Centre-cropped rather than squashed, so that a source's aspect ratio does not show; the
    pixels are written by our PNG writer, which carries no metadata from the source file.
    """
    square, _, _ = load_square(path, image_size)
    resized = square.resize((image_size, image_size), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8)


def build_packet(
    synthetic_manifest: str | Path,
    real_images: str | Path,
    packet_dir: str | Path,
    key_path: str | Path,
    *,
    classes: dict[str, str],
    synthetic_per_class: int,
    real_per_class: int,
    image_size: int,
    seed: int,
    title: str,
) -> pd.DataFrame:
    """Write the reader's packet to `packet_dir` and its key to `key_path`; return the key.

    The key (image_id, class, name, source, original_file) is in packet order.
    """
    packet_dir, key_path = Path(packet_dir), Path(key_path)
    if key_path.resolve().is_relative_to(packet_dir.resolve()):
        raise ValueError(f"the key {key_path} must lie outside the packet {packet_dir}")
    if synthetic_per_class + real_per_class < 1:
        raise ValueError("a reader packet needs at least one image per class")
    synthetic = read_table(synthetic_manifest, ["file", "class"])
    real = read_table(real_images, ["id", "file", "class"])
    key = packet_key(
        draw_images(synthetic, synthetic_manifest, SOURCES[0], synthetic_per_class, classes, seed),
        draw_images(real, real_images, SOURCES[1], real_per_class, classes, seed),
        classes,
        seed,
    )
    log.info(
        "reader packet: %d images (%d synthetic and %d real per class, %d classes)",
        len(key),
        synthetic_per_class,
        real_per_class,
        len(classes),
    )
    with atomic_directory(packet_dir) as tmp:
        (tmp / "images").mkdir()
        for row in key.itertuples():
            source_csv = synthetic_manifest if row.source == SOURCES[0] else real_images
            try:
                pixels = packet_image(row.original_file, image_size)
            except (OSError, SyntaxError) as err:
                raise DataError(
                    source_csv, f"cannot read image {row.original_file}: {err}", line=row.line
                ) from err
            write_png(tmp / "images" / f"{row.image_id}.png", pixels)
        write_answer_sheet(tmp / "answer_sheet.xlsx", list(key["image_id"]), classes, title=title)
        page = render_page(title, list(key["image_id"]), list(classes.values()))
        (tmp / "index.html").write_text(page, encoding="utf-8")
    key = key[list(KEY_COLUMNS)]
    write_csv(key, key_path)
    return key

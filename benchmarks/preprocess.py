"""Benchmark: resize HAM10000-sized JPEGs (600x450) to the GLIDE and paper-1 sizes.

Writes N JPEGs of 600x450 (copies of a few procedural demo images, 10,015 by default as in
HAM10000), then times `dermsynth.data.preprocess.resize_images` against a naive reference in
the same run: full decode, one process, one resize per size from the full image. The last
line is one JSON object of the figures.

    python benchmarks/preprocess.py [--images 10015] [--workers 2] [--reference-images 400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd
from PIL import Image

from dermsynth.data.demo import make_ham10000
from dermsynth.data.preprocess import resize_images

SIZES = (64, 128, 256)


def make_images(folder: Path, n_images: int) -> pd.DataFrame:
    """N JPEG files of 600x450 (a few distinct procedural images, copied)."""
    seed_dir = folder / "seed"
    make_ham10000(seed_dir, ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"], 4, (1, 1))
    sources = sorted(seed_dir.glob("HAM10000_images_part_*/*.jpg"))
    images = folder / "images"
    images.mkdir()
    rows = []
    for i in range(n_images):
        target = images / f"ISIC_{i:07d}.jpg"
        shutil.copyfile(sources[i % len(sources)], target)
        rows.append({"image_id": target.stem, "path": str(target)})
    return pd.DataFrame(rows)


def naive_reference(pairs: pd.DataFrame, out: Path) -> None:
    """What a first script does: full decode, then crop and resize per size, one process."""
    for size in SIZES:
        (out / str(size)).mkdir(parents=True, exist_ok=True)
    for row in pairs.itertuples():
        image = Image.open(row.path).convert("RGB")
        w, h = image.size
        side = min(w, h)
        square = image.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
        for size in SIZES:
            square.resize((size, size), Image.Resampling.BICUBIC).save(
                out / str(size) / f"{row.image_id}.png"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10015)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reference-images", type=int, default=400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pairs = make_images(folder, args.images)

        start = time.perf_counter()
        resize_images(pairs, folder / "ours", SIZES, workers=args.workers)
        ours_s = time.perf_counter() - start

        subset = pairs.head(args.reference_images)
        start = time.perf_counter()
        naive_reference(subset, folder / "naive")
        naive_s = time.perf_counter() - start

    ours_rate = len(pairs) / ours_s
    naive_rate = len(subset) / naive_s
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("dermsynth resize_images", args.workers, len(pairs), ours_s, ours_rate),
        ("naive reference", 1, len(subset), naive_s, naive_rate),
    ]
    print(f"600x450 JPEG -> {'/'.join(map(str, SIZES))} px PNG")
    print(f"{'method':<26}{'workers':>8}{'images':>8}{'seconds':>10}{'images/s':>10}")
    for name, workers, n, seconds, rate in rows:
        print(f"{name:<26}{workers:>8}{n:>8}{seconds:>10.1f}{rate:>10.1f}")
    print(f"HAM10000 (10,015 images) would take {10015 / ours_rate:.1f} s")
    print(
        json.dumps(
            {
                "images": len(pairs),
                "workers": args.workers,
                "images_per_s": round(ours_rate, 1),
                "ham10000_s": round(10015 / ours_rate, 1),
                "reference_images_per_s": round(naive_rate, 1),
                "speedup_vs_reference": round(ours_rate / naive_rate, 2),
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

"""Benchmark: images per second that paper 2's loader delivers to the model, read from the files
(`input: files`: every image decoded and resized every epoch) against read from the image cache
(`input: cache`: decoded once, `dermsynth.classify.image_cache`; the default).

The images are made offline at the paper's stored sizes, as one grid run with synthetic images
reads them: real images as the preprocessing stores them (a 224 px square copy and a whole-image
copy at a 224 px shorter side, 4:3) and 10 synthetic images per real image as Stable Diffusion
writes them (512 px PNGs, resized to 224 px on reading). Smooth colour fields with a little noise,
so that the PNGs compress about as photographs do. Both inputs deliver the same batches (the tests
hold them to it); each is timed over the same images, with both regimes' transform settings:

- `authors`: the whole-image copies' squares cut at a random position (fastai's `Resize`),
  fastai's `aug_transforms()` on each batch when transforms are on, the last partial batch dropped;
- `ours`: the square copies, torchvision's per-image transforms when transforms are on.

Each timing is the median epoch of `--epochs` after one untimed epoch (which also fills the page
cache, so neither input waits for the disk); the cache's one-off cost (decoding every image once)
is timed apart. On a CPU the transforms run on the CPU for both inputs; on a GPU the cache's
run on the GPU.

    python benchmarks/classifier_input.py [--real 30] [--per-real 10] [--epochs 5]
        [--workers 2] [--batch 64] [--device cpu|cuda] [--tiny]

`--tiny` is the same code path on 18 small images (tests run it). The last line is one JSON object.

What one GPU consumes: no figure for EfficientNetV2-M at 224 px in bf16 with a frozen body was
found. timm's published training benchmark (huggingface/pytorch-image-models,
results/benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv) gives tf_efficientnetv2_m 173 images/s
at 384 px (every layer training, AMP, channels-last, batch 48, RTX 3090), about 510 images/s at
224 px by pixel count; EfficientViT's README (mit-han-lab/efficientvit, applications/
efficientvit_cls) gives EfficientNetV2-M 1,160 images/s of inference at 480 px on an A100
(TensorRT fp16), about 5,300 at 224 px. A frozen body still runs its backward pass (its BatchNorm
layers train) but skips its weight gradients, so an A100/H100-class GPU in bf16 lies between the
two: on the order of 1,000-3,000 images/s (an extrapolation, not measured).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from dermsynth.classify import authors
from dermsynth.classify.image_cache import (
    ImageCache,
    frame_references,
    pixels_path,
    write_image_cache,
)
from dermsynth.classify.paper2_loader import FileBatches, file_image_set
from dermsynth.classify.paper2_transforms import standard_transforms
from dermsynth.classify.settings import GridSettings
from dermsynth.data.png import write_png

CLASSES = ("psoriasis", "lichen planus", "basal cell carcinoma")
REGIMES = (("authors", False), ("authors", True), ("ours", False), ("ours", True))


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth colour field with a little noise, RGB uint8 (height, width, 3)."""
    field = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(field).resize((width, height), Image.Resampling.BICUBIC))
    noise = rng.integers(-6, 7, image.shape)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def make_images(
    root: Path, real: int, per_real: int, size: int, synthetic_size: int
) -> pd.DataFrame:
    """A run's training frame (`file, label, source, whole_file`) of images written under
    `root`: `real` real images (a `size` px square copy, a 4:3 whole-image copy at a `size` px
    shorter side) and `per_real` synthetic `synthetic_size` px images of each."""
    rng = np.random.default_rng(0)
    for folder in ("real", "real-whole", "synthetic"):
        (root / folder).mkdir(parents=True)
    rows = []
    for i in range(real):
        label = CLASSES[i % len(CLASSES)]
        whole = smooth_image(rng, size, size * 4 // 3)
        square_file, whole_file = root / f"real/{i}.png", root / f"real-whole/{i}.png"
        left = (whole.shape[1] - size) // 2
        write_png(square_file, np.ascontiguousarray(whole[:, left : left + size]))
        write_png(whole_file, whole)
        rows.append((str(square_file), label, "real", str(whole_file)))
        for k in range(per_real):
            file = root / f"synthetic/{i}_{k}.png"
            write_png(file, smooth_image(rng, synthetic_size, synthetic_size))
            rows.append((str(file), label, "synthetic", ""))
    return pd.DataFrame(rows, columns=["file", "label", "source", "whole_file"])


def images_per_second(batches: FileBatches, epochs: int, warmup: int) -> float:
    """Images delivered per second in the median of `epochs` epochs after `warmup` untimed
    ones (the median: on a shared machine one slow epoch says more about the neighbours)."""
    for k in range(warmup):
        for _ in batches.epoch(k + 1):
            pass
    speeds = []
    for k in range(warmup, warmup + epochs):
        seen, started = 0, time.perf_counter()
        for _, y in batches.epoch(k + 1):
            seen += len(y)
        if batches.device.type == "cuda":
            torch.cuda.synchronize(batches.device)
        speeds.append(seen / (time.perf_counter() - started))
    return float(np.median(speeds))


def loaders(
    frame: pd.DataFrame, cache: ImageCache, regime: str, transforms: bool, args, device
) -> dict[str, FileBatches] | str:
    """The file and cache loaders of one regime's settings (or why it cannot run)."""
    settings = GridSettings(regime=regime, image_size=args.size, transforms=transforms)
    batch_transform = None
    if transforms and regime == "authors":
        try:
            batch_transform = authors.fastai_augment()
        except ImportError as error:
            return f"not measured (fastai, a test dependency, does not import: {error})"
    options = {
        "seed": 0,
        "shuffle": True,
        "transform": None if regime == "authors" else standard_transforms(settings),
        "batch_transform": batch_transform,
        "drop_last": settings.drop_last,
        "device": device,
        "workers": args.workers,
    }
    crop = settings.random_crop
    return {
        name: FileBatches(file_image_set(frame, CLASSES, args.size, crop, c), args.batch, **options)
        for name, c in (("files", None), ("cache", cache))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=int, default=30, help="real images")
    parser.add_argument("--per-real", type=int, default=10, help="synthetic images per real")
    parser.add_argument("--size", type=int, default=224, help="px: input, real copies")
    parser.add_argument("--synthetic-size", type=int, default=512, help="px: synthetic images")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed epochs")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="18 small images, one epoch")
    args = parser.parse_args()
    if args.tiny:
        args.real, args.per_real, args.size, args.synthetic_size = 6, 2, 32, 64
        args.batch, args.epochs, args.warmup = 4, 1, 0
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({where or 'cpu'}), {torch.get_num_threads()} torch threads, "
        f"{args.workers} workers, torch {torch.__version__}"
    )

    with tempfile.TemporaryDirectory(prefix="classifier-input-") as folder:
        root = Path(folder)
        frame = make_images(root, args.real, args.per_real, args.size, args.synthetic_size)
        references = frame_references(frame) + frame_references(frame, random_crop=True)
        index = root / "cache" / "index.csv"
        started = time.perf_counter()
        write_image_cache(
            references, pixels=pixels_path(index), index=index, size=args.size, workers=args.workers
        )
        cache_seconds = time.perf_counter() - started
        cache = ImageCache([index], args.size)
        print(
            f"{len(frame)} images ({args.real} real at {args.size} px with whole-image copies, "
            f"{len(frame) - args.real} synthetic at {args.synthetic_size} px); cache of "
            f"{len(cache)} images made once in {cache_seconds:.2f} s "
            f"({len(cache) / cache_seconds:.1f} images/s), "
            f"{pixels_path(index).stat().st_size / 1e6:.1f} MB"
        )
        results = []
        for regime, transforms in REGIMES:
            made = loaders(frame, cache, regime, transforms, args, device)
            row = {"regime": regime, "transforms": transforms}
            if isinstance(made, str):
                row["note"] = made
            else:
                speeds = {
                    name: images_per_second(batches, args.epochs, args.warmup)
                    for name, batches in made.items()
                }
                row.update(images_per_s=speeds, ratio=speeds["cache"] / speeds["files"])
            results.append(row)
            print(f"  {regime:8s} transforms {'on ' if transforms else 'off'}: {row}", flush=True)

    print()
    print(f"{'regime':8s} {'transforms':>10s} {'files':>10s} {'cache':>10s} {'ratio':>7s}")
    for row in results:
        head = f"{row['regime']:8s} {'on' if row['transforms'] else 'off':>10s}"
        if "note" in row:
            print(f"{head} {row['note']}")
            continue
        s = row["images_per_s"]
        print(f"{head} {s['files']:10.1f} {s['cache']:10.1f} {row['ratio']:6.1f}x")
    print("(images/s delivered to the model; ratio: cache / files)")
    print(
        json.dumps(
            {
                "benchmark": "classifier_input",
                "device": str(device),
                "device_name": where,
                "threads": torch.get_num_threads(),
                "workers": args.workers,
                "images": len(frame),
                "real": args.real,
                "synthetic_per_real": args.per_real,
                "image_size": args.size,
                "synthetic_size": args.synthetic_size,
                "batch": args.batch,
                "epochs": args.epochs,
                "cache_seconds": round(cache_seconds, 3),
                "results": results,
                "gpu_consumes_images_per_s": "not measured (about 1,000-3,000 extrapolated)",
                "argv": sys.argv[1:],
            }
        )
    )


if __name__ == "__main__":
    main()

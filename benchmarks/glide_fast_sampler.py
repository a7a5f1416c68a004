"""Benchmark: does a fast GLIDE sampler keep the quality of the 100-step ancestral sampler?

Samples the same per-image seeds with the base model (64 px, classifier-free guidance) under
each sampler and step count, and scores every set by KID against the real training images
(unbiased, with a percentile bootstrap interval), plus KID between each fast set and the
100-step set. The target: with the fast sampler, KID inside the interval of the 100-step
result in <= 25 steps. Images/s is reported beside it, as a ratio to the 100 steps.

Runs on the demo's products (after `snakemake --cores 2`): the fine-tuned base model, the
real 64 px images and the demo's Inception network; point the options at paper products to
run it at scale.

    python benchmarks/glide_fast_sampler.py [--per-class 8] [--samplers ancestral:100,...]

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from dermsynth.data.preprocess import resized_path
from dermsynth.glide.defaults import model_and_diffusion_defaults
from dermsynth.glide.sample import (
    PerImageNoise,
    SampleSettings,
    guided_model,
    image_seed,
    load_glide,
    run_sampler,
    to_uint8,
)
from dermsynth.glide.tokenizer import get_tokenizer
from dermsynth.metrics.bootstrap import bootstrap_values, counts, percentile_interval
from dermsynth.metrics.distribution import KID
from dermsynth.metrics.inception import load_inception

DEFAULT_SAMPLERS = "ancestral:100,ancestral:25,ddim:25,dpm++2m:25,dpm++2m:15,dpm++2m:10"


def sample_set(config: dict, weights: str, sampler: str, steps: int, per_class: int, device):
    """Base-model samples, `per_class` per class, with the seeds the workflow would use."""
    options = {**model_and_diffusion_defaults(), **config["glide"]["base"]["options"]}
    settings = SampleSettings(guidance_scale=config["glide"]["sample"].get("guidance_scale", 3.0))
    model, diffusion = load_glide(weights, options, str(steps), device, settings)
    tokenizer = get_tokenizer()
    ham = config["datasets"]["ham10000"]
    model_fn = guided_model(model, settings.guidance_scale)
    images, labels = [], []
    started = time.perf_counter()
    for label, name in ham["classes"].items():
        prompt = ham["caption"].format(label=label, name=name)
        tokens, mask = tokenizer.padded_tokens_and_mask(
            tokenizer.encode(prompt), options["text_ctx"]
        )
        empty, empty_mask = tokenizer.padded_tokens_and_mask([], options["text_ctx"])
        model.del_cache()
        kwargs = {
            "tokens": torch.tensor([tokens] * per_class + [empty] * per_class, device=device),
            "mask": torch.tensor([mask] * per_class + [empty_mask] * per_class, device=device),
        }
        seeds = [image_seed(settings.seed, label, i) for i in range(per_class)]
        size = options["image_size"]
        with torch.no_grad():
            x = run_sampler(
                diffusion, model_fn, PerImageNoise(seeds, (3, size, size), device), sampler, kwargs
            )
        images.append(to_uint8(x))
        labels += [label] * per_class
    seconds = time.perf_counter() - started
    return np.concatenate(images), labels, seconds


@torch.inference_mode()
def features(inception, images: np.ndarray, batch: int = 32) -> np.ndarray:
    out = []
    for start in range(0, len(images), batch):
        x = torch.from_numpy(images[start : start + batch]).permute(0, 3, 1, 2).contiguous()
        out.append(inception(x)[0].numpy())
    return np.concatenate(out)


def kid_with_interval(a: np.ndarray, b: np.ndarray, resamples: int, seed: int):
    kid = KID(a, b)
    draws = bootstrap_values(
        lambda i, j: kid(counts(i, len(a)), counts(j, len(b))),
        [len(a), len(b)],
        resamples=resamples,
        seed=seed,
    )
    return kid(), *percentile_interval(draws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="config/config.yaml")
    parser.add_argument("--base", default="results/models/glide/lesion_grouped/base.pt")
    parser.add_argument("--inception", default="results/models/inception/random_init.pth")
    parser.add_argument("--real-split", default="results/data/ham10000/splits/lesion_grouped.csv")
    parser.add_argument("--images", default="results/data/ham10000/images")
    parser.add_argument("--per-class", type=int, default=8)
    parser.add_argument("--samplers", default=DEFAULT_SAMPLERS)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = yaml.safe_load(Path(args.config).read_text())
    inception = load_inception(args.inception, download=False, device=torch.device("cpu"))

    split = pd.read_csv(args.real_split, dtype=str)
    size = config["glide"]["base"]["options"]["image_size"]
    from dermsynth.images import load_rgb

    real_ids = split.loc[split["split"] == "train", "image_id"]
    real = np.stack([load_rgb(resized_path(args.images, size, i), size) for i in real_ids])
    real_features = features(inception, real)

    rows, sets = [], {}
    for spec in args.samplers.split(","):
        sampler, steps = spec.split(":")
        images, _, seconds = sample_set(
            config, args.base, sampler, int(steps), args.per_class, device
        )
        sets[spec] = features(inception, images)
        kid, low, high = kid_with_interval(sets[spec], real_features, args.resamples, 0)
        rows.append(
            {
                "sampler": spec,
                "images": len(images),
                "seconds": seconds,
                "images_per_s": len(images) / seconds,
                "kid_vs_real": kid,
                "kid_low": low,
                "kid_high": high,
            }
        )
    reference = rows[0]
    for row in rows:
        kid, low, high = kid_with_interval(
            sets[row["sampler"]], sets[reference["sampler"]], args.resamples, 1
        )
        row["kid_vs_reference"], row["kid_vs_reference_low"] = kid, low
        row["kid_vs_reference_high"] = high
        row["speedup"] = row["images_per_s"] / reference["images_per_s"]
        row["inside_reference_interval"] = bool(
            reference["kid_low"] <= row["kid_vs_real"] <= reference["kid_high"]
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(4).to_string(index=False))
    fast = [r for r in rows[1:] if r["inside_reference_interval"]]
    best = min(fast, key=lambda r: int(r["sampler"].split(":")[1]), default=None)
    figures = {
        "reference": reference["sampler"],
        "reference_kid": round(reference["kid_vs_real"], 5),
        "reference_interval": [round(reference["kid_low"], 5), round(reference["kid_high"], 5)],
        "fewest_steps_inside_interval": best["sampler"] if best else None,
        "speedup_of_that": round(best["speedup"], 2) if best else None,
        "images_per_sampler": reference["images"],
        "device": device.type,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()

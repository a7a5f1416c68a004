"""Benchmark: training speed (images/s) of both papers' classifiers, ours against a plain loop.

- Paper 2, our regime: EfficientNetV2-M (timm's `tf_efficientnetv2_m`, random init: nothing is
  downloaded), every layer trained, 224 px, batch 64 (the authors' Figure 3 script's largest).
- Paper 2, the authors' regime (`authors`): torchvision's EfficientNetV2-M as fastai's
  `vision_learner` builds and freezes it (the body trains only its BatchNorm layers), fastai's
  Adam, 224 px, batch 64.
- Paper 1: the paper's CNN at 128 px, batch 32.

The reference is a plain PyTorch loop: fp32, NCHW, eager, torch's default Adam. Ours is
`dermsynth.classify.train`'s own step (`prepare_model`, `make_optimizer`, `train_step`): fused
Adam, and on a GPU channels-last with bf16 autocast. Both start from the same weights and train on
the same random batch; each times `--steps` steps after `--warmup` steps. On a CPU the script
also times ours with channels-last (the loop keeps NCHW there), to show whether it would pay.

    python benchmarks/classifier_train.py [--device cpu|cuda] [--steps 3] [--warmup 3]
        [--batch 64] [--cnn-batch 32] [--threads N] [--networks efficientnet,cnn]

On a 2-core CPU one EfficientNetV2-M step at batch 64 takes about half a minute and some 20 GB:
pass a smaller --batch there (images/s hardly depends on it on a CPU). The first few CPU steps
of a shape are several times slower than the rest (oneDNN builds its kernels), hence the
warm-up. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import resource
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dermsynth.classify import authors
from dermsynth.classify.paper1_cnn import PaperCNN
from dermsynth.classify.paper2_efficientnet import create_efficientnet
from dermsynth.classify.settings import CNNSettings, GridSettings
from dermsynth.classify.train import grid_optimizer, make_optimizer, prepare_model, train_step

NUM_CLASSES = {"efficientnet": 9, "authors": 9, "cnn": 7}  # F17k-9, HAM10000


def network(name: str) -> tuple[nn.Module, int, object]:
    """A network with fixed random weights, its input size and its settings."""
    torch.manual_seed(0)
    if name == "efficientnet":
        settings = GridSettings(regime="ours")
        return create_efficientnet(9, model_name=settings.model_name), settings.image_size, settings
    if name == "authors":
        settings = GridSettings()
        return authors.build_model(9), settings.image_size, settings
    settings = CNNSettings()
    return PaperCNN(7, settings.image_size), settings.image_size, settings


def batch(size: int, n: int, classes: int, device: torch.device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=generator)
    return (x.float() / 255).to(device), y.to(device)


def reference_step(model: nn.Module) -> Callable:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    return step


def ours_step(model: nn.Module, settings, device: torch.device, channels_last: bool) -> Callable:
    model = prepare_model(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if isinstance(settings, GridSettings):
        optimizer = grid_optimizer(model, settings)
    else:
        optimizer = make_optimizer(model, settings)
    autocast = settings.precision == "bf16" and device.type == "cuda"

    def step(x, y):
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return train_step(model, optimizer, x, y, autocast=autocast)[0]

    return step


def images_per_second(step: Callable, x, y, warmup: int, steps: int, device) -> float:
    for _ in range(warmup):
        step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(x, y)
    float(loss.detach())  # waits for the device
    if device.type == "cuda":
        torch.cuda.synchronize()
    return len(y) * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (CPU 3, GPU 20)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (CPU 3, GPU 5)")
    parser.add_argument("--batch", type=int, default=64, help="EfficientNetV2-M batch (both)")
    parser.add_argument("--cnn-batch", type=int, default=32, help="paper 1 CNN batch")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--networks", default="efficientnet,authors,cnn")
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    steps = args.steps or (20 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (5 if gpu else 3)
    if args.threads:
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if gpu else platform.processor() or "cpu"
    print(
        f"device {device} ({where}), {torch.get_num_threads()} CPU threads, torch "
        f"{torch.__version__}; {warmup} warm-up + {steps} timed steps"
    )

    results = []
    for name in args.networks.split(","):
        model, size, settings = network(name)
        n = args.batch if name in ("efficientnet", "authors") else args.cnn_batch
        x, y = batch(size, n, NUM_CLASSES[name], device)
        variants: dict[str, Callable[[nn.Module], Callable]] = {
            "reference": lambda m: reference_step(m.to(device)),  # NCHW, fp32
            "ours": lambda m, s=settings: ours_step(m, s, device, channels_last=False),
        }
        if not gpu:
            variants["ours+channels_last"] = lambda m, s=settings: ours_step(m, s, device, True)
        speeds = {}
        for variant, make in variants.items():
            step = make(copy.deepcopy(model))
            speeds[variant] = images_per_second(step, x, y, warmup, steps, device)
            print(
                f"  {name:12s} {variant:20s} {size} px batch {n:3d}: "
                f"{speeds[variant]:8.2f} images/s",
                flush=True,
            )
        results.append(
            {
                "network": {
                    "efficientnet": f"{settings.model_name} (ours)",
                    "authors": f"{settings.model_name} (authors)",
                }.get(name, "paper1_cnn"),
                "image_size": size,
                "batch": n,
                "images_per_s": speeds,
                "ratio_ours_to_reference": speeds["ours"] / speeds["reference"],
                "precision": "bf16 autocast" if gpu and settings.precision == "bf16" else "fp32",
            }
        )

    print()
    print(
        f"{'network':22s} {'px':>4s} {'batch':>5s} {'reference':>10s} {'ours':>10s} {'ratio':>6s}"
    )
    for r in results:
        s = r["images_per_s"]
        print(
            f"{r['network']:22s} {r['image_size']:4d} {r['batch']:5d} {s['reference']:10.2f} "
            f"{s['ours']:10.2f} {r['ratio_ours_to_reference']:6.2f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(
        json.dumps(
            {
                "benchmark": "classifier_train",
                "device": str(device),
                "device_name": where,
                "threads": torch.get_num_threads(),
                "steps": steps,
                "warmup": warmup,
                "peak_rss_gb": round(peak, 2),
                "results": results,
                "argv": sys.argv[1:],
            }
        )
    )


if __name__ == "__main__":
    main()

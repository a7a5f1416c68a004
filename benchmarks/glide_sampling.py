"""Benchmark: GLIDE sampling speed, ours against OpenAI's reference code, in one run.

Full-size models (the released options, random weights: nothing is downloaded) at the
paper's sampling settings: the base model with classifier-free guidance (scale 3, 100
respaced ancestral steps) and the upsampler (fast27, DDIM, as the notebook). Every step of a
sampler costs the same, so each configuration times `--timed-steps` steps after one warm-up
step and reports images/s for the whole sampler (batch / (seconds per step x steps)).

The reference is the notebook's procedure on OpenAI's glide-text2im code: a doubled batch
through `model_fn` and `diffusion.p_sample`. Ours is `dermsynth.glide.sample`'s: both guidance
halves in one forward, the conditional half carried, text embedding cached across steps,
channels-last, SDPA attention. Both load the same weights (strict).

    python benchmarks/glide_sampling.py [--reference-src DIR] [--batches 1,4,16]
        [--precisions fp32,bf16] [--models base,upsample] [--timed-steps 2]

The last line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable

import torch

from dermsynth.glide import (
    create_model_and_diffusion,
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)
from dermsynth.glide.diffusion import diffusion_for
from dermsynth.glide.sample import PerImageNoise, guided_model

GUIDANCE = 3.0
SETTINGS = {  # the notebook's
    "base": {"respacing": "100", "sampler": "ancestral", "guided": True},
    "upsample": {"respacing": "fast27", "sampler": "ddim", "guided": False},
}


def options_for(kind: str) -> dict:
    defaults = (
        model_and_diffusion_defaults if kind == "base" else model_and_diffusion_defaults_upsampler
    )
    return {**defaults(), "use_fp16": False, "timestep_respacing": SETTINGS[kind]["respacing"]}


def inputs(kind: str, batch: int, text_ctx: int, device) -> dict:
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50000, (batch, text_ctx), generator=generator)
    mask = torch.zeros(batch, text_ctx, dtype=torch.bool)
    mask[:, :12] = True
    out = {"tokens": tokens.to(device), "mask": mask.to(device)}
    if kind == "upsample":
        out["low_res"] = torch.rand(batch, 3, 64, 64, generator=generator).to(device) * 2 - 1
    return out


def time_steps(step: Callable[[torch.Tensor, int], torch.Tensor], x, first: int, n: int, device):
    """Seconds per step: one warm-up step, then `n` timed steps."""
    x = step(x, first)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for i in range(n):
        x = step(x, first - 1 - i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n


def ours_step_fn(kind, model, diffusion, batch, precision, device):
    kwargs = inputs(kind, batch, model_text_ctx(model), device)
    empty = {
        "tokens": torch.full_like(kwargs["tokens"], 50256),
        "mask": torch.zeros_like(kwargs["mask"]),
    }
    if SETTINGS[kind]["guided"]:
        kwargs = {k: torch.cat([kwargs[k], empty[k]]) for k in ("tokens", "mask")}
        model_fn = guided_model(model, GUIDANCE)
    else:
        model_fn = model
    size = 64 if kind == "base" else 256
    noise = PerImageNoise(range(batch), (3, size, size), device)
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)

    def step(x, i):
        t = torch.full((batch,), i, dtype=torch.long, device=device)
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None),
        ):
            if SETTINGS[kind]["sampler"] == "ancestral":
                out = diffusion.p_sample(model_fn, x, t, model_kwargs=kwargs, noise=noise())
            else:
                out = diffusion.ddim_sample(model_fn, x, t, model_kwargs=kwargs)
        return out["sample"]

    return step, noise().contiguous(memory_format=torch.channels_last)


def reference_step_fn(kind, model, diffusion, batch, precision, device):
    kwargs = inputs(kind, batch, 128, device)
    size = 64 if kind == "base" else 256
    if SETTINGS[kind]["guided"]:
        empty_tokens = torch.full_like(kwargs["tokens"], 50256)
        kwargs = {
            "tokens": torch.cat([kwargs["tokens"], empty_tokens]),
            "mask": torch.cat([kwargs["mask"], torch.zeros_like(kwargs["mask"])]),
        }

        def model_fn(x_t, ts, **kw):  # the notebook's
            half = x_t[: len(x_t) // 2]
            combined = torch.cat([half, half], dim=0)
            model_out = model(combined, ts, **kw)
            eps, rest = model_out[:, :3], model_out[:, 3:]
            cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
            half_eps = uncond_eps + GUIDANCE * (cond_eps - uncond_eps)
            eps = torch.cat([half_eps, half_eps], dim=0)
            return torch.cat([eps, rest], dim=1)

        rows = 2 * batch
    else:
        model_fn, rows = model, batch

    def step(x, i):
        t = torch.full((rows,), i, dtype=torch.long, device=device)
        with torch.no_grad():
            if SETTINGS[kind]["sampler"] == "ancestral":
                out = diffusion.p_sample(model_fn, x, t, clip_denoised=True, model_kwargs=kwargs)
            else:
                out = diffusion.ddim_sample(model_fn, x, t, clip_denoised=True, model_kwargs=kwargs)
        return out["sample"]

    return step, torch.randn(rows, 3, size, size, device=device)


def model_text_ctx(model) -> int:
    return model.text_ctx if hasattr(model, "text_ctx") else 128


def build_ours(kind, device, precision):
    torch.manual_seed(0)
    model, diffusion = create_model_and_diffusion(**{**options_for(kind), "cache_text_emb": True})
    model.eval().to(device)
    return model.to(memory_format=torch.channels_last), diffusion


def build_reference(kind, state_dict, device, precision):
    from glide_text2im.model_creation import create_model_and_diffusion as reference_create

    model, diffusion = reference_create(**options_for(kind))
    model.load_state_dict(state_dict, strict=True)
    model.eval().to(device)
    if precision == "fp16":
        model.convert_to_fp16()
    return model, diffusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-src", help="checkout of openai/glide-text2im")
    parser.add_argument("--batches", default=None, help="default: 1,4,16 (GPU: 1,4,16,64)")
    parser.add_argument("--precisions", default=None, help="default: fp32 (GPU: fp32,fp16,bf16)")
    parser.add_argument("--models", default="base,upsample")
    parser.add_argument("--timed-steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [
        int(b)
        for b in (args.batches or ("1,4,16,64" if device.type == "cuda" else "1,4,16")).split(",")
    ]
    precisions = (args.precisions or ("fp32,fp16,bf16" if device.type == "cuda" else "fp32")).split(
        ","
    )
    if args.reference_src:
        sys.path.insert(0, args.reference_src)

    rows, figures = [], {}
    for kind in args.models.split(","):
        options = options_for(kind)
        steps = len(diffusion_for(options, options["timestep_respacing"]).timestep_map)
        for precision in precisions:
            ours, ours_diffusion = build_ours(kind, device, precision)
            reference = None
            if args.reference_src and precision != "bf16":  # the reference has no bf16 path
                reference = build_reference(kind, ours.state_dict(), device, precision)
            for batch in batches:
                ours.del_cache()
                step, x = ours_step_fn(kind, ours, ours_diffusion, batch, precision, device)
                ours_s = time_steps(step, x, steps - 1, args.timed_steps, device)
                ours_rate = batch / (ours_s * steps)
                row = {
                    "model": kind,
                    "precision": precision,
                    "batch": batch,
                    "steps": steps,
                    "ours_s_per_step": ours_s,
                    "ours_images_per_s": ours_rate,
                }
                if reference is not None:
                    step, x = reference_step_fn(kind, *reference, batch, precision, device)
                    reference_s = time_steps(step, x, steps - 1, args.timed_steps, device)
                    row["reference_images_per_s"] = batch / (reference_s * steps)
                    row["speedup"] = ours_rate / row["reference_images_per_s"]
                rows.append(row)
                key = f"{kind}_{precision}_b{batch}"
                figures[f"{key}_images_per_s"] = round(ours_rate, 4)
                if "speedup" in row:
                    figures[f"{key}_speedup"] = round(row["speedup"], 2)
                print(_format(row), flush=True)
            del ours, reference

    print()
    print(f"device: {device}, threads: {torch.get_num_threads()}, torch {torch.__version__}")
    header = ("model", "prec", "batch", "steps", "ours img/s", "ref img/s", "speedup")
    print("{:<9}{:<6}{:>6}{:>6}{:>12}{:>12}{:>9}".format(*header))
    for row in rows:
        print(_format(row))
    figures["device"] = str(device)
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(figures))


def _format(row: dict) -> str:
    reference = row.get("reference_images_per_s")
    return (
        f"{row['model']:<9}{row['precision']:<6}{row['batch']:>6}{row['steps']:>6}"
        f"{row['ours_images_per_s']:>12.4f}"
        + (f"{reference:>12.4f}{row['speedup']:>8.2f}x" if reference else f"{'-':>12}{'-':>9}")
    )


if __name__ == "__main__":
    main()

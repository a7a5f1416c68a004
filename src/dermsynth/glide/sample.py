"""Sampling synthetic images per class: the base model with classifier-free guidance, then the
upsampler, as in OpenAI's `notebooks/text2im.ipynb`, in static, resumable shards.

Differences from the notebook that change speed, not the distribution:
- the conditional and unconditional halves run in one batch, and only the conditional
  half is carried through the sampler (the notebook samples both halves and drops one);
- every image has its own random stream, seeded from (seed, class, index): its initial
  noise and every step's noise come from it, so an image does not depend on the shard size,
  the batch size or which other images are sampled beside it (up to rounding: batched kernels
  round differently at different batch sizes, which can change a few pixel values slightly);
- optional fp16/bf16 autocast, channels-last and torch.compile on a GPU.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from tqdm import tqdm

from dermsynth.data.png import write_png
from dermsynth.glide.diffusion import diffusion_for
from dermsynth.glide.options import create_model_and_diffusion
from dermsynth.glide.tokenizer import get_tokenizer
from dermsynth.io import atomic_path, file_sha256, image_is_readable, write_csv
from dermsynth.seeds import derived_seed
from dermsynth.webdataset import has_member, image_ref, pack_shard, work_folder

log = logging.getLogger(__name__)

SAMPLERS = ("ancestral", "ddim", "dpm++2m")
MANIFEST_COLUMNS = [
    "file",
    "class",
    "index",
    "prompt",
    "seed",
    "guidance_scale",
    "base_sampler",
    "base_steps",
    "upsample_sampler",
    "upsample_steps",
    "upsample_temp",
    "base_sha256",
    "upsample_sha256",
]


@dataclass(frozen=True)
class SampleSettings:
    """Sampling knobs. guidance_scale, the respacings, the samplers and upsample_temp are
    OpenAI's notebook's; batch_size, precision and channels_last are ours (the notebook samples
    one image at a time, in fp16 on CUDA)."""

    guidance_scale: float = 3.0
    base_respacing: str = "100"
    base_sampler: str = "ancestral"
    upsample_respacing: str = "fast27"
    upsample_sampler: str = "ddim"
    upsample_temp: float = 0.997
    batch_size: int = 16
    seed: int = 0
    precision: str = "fp32"  # fp32, fp16 or bf16 (autocast, GPU only)
    channels_last: bool = True
    compile: bool = False


def image_seed(seed: int, label: str, index: int) -> int:
    """The seed of image `index` of class `label`: independent of shards and batches."""
    return derived_seed(seed, zlib.crc32(label.encode()), index)


class PerImageNoise:
    """Standard normal draws from one generator per image, stacked into a batch."""

    def __init__(self, seeds: Sequence[int], shape: Sequence[int], device: torch.device) -> None:
        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.shape, self.device = tuple(shape), device

    def __call__(self) -> Tensor:
        draws = [torch.randn(self.shape, generator=g) for g in self.generators]
        return torch.stack(draws).to(self.device)


def guided_model(model: torch.nn.Module, guidance_scale: float) -> Callable[..., Tensor]:
    """Classifier-free guidance with both halves in one batch.

    `tokens`/`mask` hold the B conditional rows then B unconditional rows; x holds B rows.
    Returns eps = uncond + s * (cond - uncond) and the conditional variance channels.
    """

    def model_fn(x: Tensor, t: Tensor, **kwargs) -> Tensor:
        out = model(torch.cat([x, x]), torch.cat([t, t]), **kwargs)
        eps, rest = out[:, :3], out[:, 3:]
        cond, uncond = eps.chunk(2)
        guided = uncond + guidance_scale * (cond - uncond)
        return torch.cat([guided, rest[: len(x)]], dim=1).float()

    return model_fn


def run_sampler(
    diffusion,
    model_fn: Callable[..., Tensor],
    noise: PerImageNoise,
    sampler: str,
    model_kwargs: dict,
    temperature: float = 1.0,
) -> Tensor:
    """Sample with per-image noise: `ancestral` (p_sample), `ddim` (eta 0) or `dpm++2m`."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    x = noise() * temperature
    if sampler == "dpm++2m":
        return _dpm_solver_pp_2m(diffusion, model_fn, x, model_kwargs)
    for i in reversed(range(diffusion.num_timesteps)):
        t = torch.full((len(x),), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            if sampler == "ancestral":
                out = diffusion.p_sample(model_fn, x, t, model_kwargs=model_kwargs, noise=noise())
            else:
                out = diffusion.ddim_sample(model_fn, x, t, model_kwargs=model_kwargs, eta=0.0)
        x = out["sample"]
    return x


def _dpm_solver_pp_2m(
    diffusion, model_fn: Callable[..., Tensor], x: Tensor, model_kwargs
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2) on the respaced steps, from the model's
    clipped x0 prediction; the last step returns the x0 prediction (denoising to t = 0).

    The step into t = 0 is first order ("lower order final", as diffusers does): GLIDE's
    respacing is uniform in t, so that step spans the widest log-SNR interval of all, where the
    second-order extrapolation overshoots (on Gaussian data with the exact score, 25 steps
    gave a standard deviation 19% too high; first order there: 5% too low, less than 100
    ancestral steps' 8%).
    """
    abar = np.asarray(diffusion.alphas_cumprod, dtype=np.float64)
    previous, h_previous = None, None
    for i in reversed(range(diffusion.num_timesteps)):
        t = torch.full((len(x),), i, dtype=torch.long, device=x.device)
        with torch.no_grad():
            x0 = diffusion.p_mean_variance(
                model_fn, x, t, clip_denoised=True, model_kwargs=model_kwargs
            )["pred_xstart"]
        if i == 0:
            return x0
        lam_s, lam_t = _half_log_snr(abar[i]), _half_log_snr(abar[i - 1])
        h = lam_t - lam_s
        if previous is None or i == 1:
            direction = x0
        else:
            r = h_previous / h
            direction = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * previous
        sigma_ratio = float(np.sqrt((1 - abar[i - 1]) / (1 - abar[i])))
        x = sigma_ratio * x - float(np.sqrt(abar[i - 1]) * np.expm1(-h)) * direction
        previous, h_previous = x0, h
    return x


def _half_log_snr(alpha_bar: float) -> float:
    """lambda = log(alpha / sigma) of a cumulative alpha."""
    return 0.5 * (np.log(alpha_bar) - np.log1p(-alpha_bar))


def load_glide(
    weights: str | Path, options: dict, respacing: str, device: torch.device, settings
) -> tuple[torch.nn.Module, object]:
    """A fine-tuned model (OpenAI checkpoint format) ready to sample, and its respaced diffusion."""
    # the captions are fixed through a sampler run: encode them once, not at every step
    options = {
        **options,
        "timestep_respacing": respacing,
        "use_fp16": False,
        "cache_text_emb": True,
    }
    model, diffusion = create_model_and_diffusion(**options)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
    model.eval().to(device)
    if settings.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if settings.compile and device.type == "cuda":
        model = torch.compile(model)
    return model, diffusion


def _autocast(device: torch.device, precision: str):
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    return torch.autocast(
        device.type,
        dtype=dtype or torch.float32,
        enabled=dtype is not None and device.type == "cuda",
    )


def to_uint8(images: Tensor) -> np.ndarray:
    """[-1, 1] (B, 3, H, W) -> uint8 (B, H, W, 3), rounded as the notebook does."""
    scaled = ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).cpu().numpy()


def image_key(label: str, index: int) -> str:
    """An image's WebDataset key in its shard: `{class}_{index:06d}`."""
    return f"{label}_{index:06d}"


def image_name(label: str, index: int) -> str:
    return f"{image_key(label, index)}.png"


def shard_json(row: dict, key: str, tag: str) -> dict:
    """A sample's json in the layout of paper 2's authors' released shards
    (`dermsynth.webdataset`): their fields where they mean something here (no source image:
    md5hash empty; the class; GLIDE text-to-image; the index; `tag` our GLIDE's protocol), then
    our manifest's fields but `file`."""
    return {
        "name": f"{key}.png",
        "md5hash": "",
        "label": row["class"],
        "method": "glide",
        "submethod": "text-to-image",
        "generation_num": f"{int(row['index']):02d}",
        "tag": tag,
        **{k: v for k, v in row.items() if k != "file"},
    }


def sample_shard(
    label: str,
    prompt: str,
    indices: Sequence[int],
    base_weights: str | Path,
    upsample_weights: str | Path,
    base_options: dict,
    upsample_options: dict,
    manifest: str | Path,
    settings: SampleSettings,
    device: str | None = None,
    threads: int | None = None,
    tar: str | Path | None = None,
    work: str | Path | None = None,
    tag: str = "",
    loose_png: bool = False,
) -> pd.DataFrame:
    """Sample images `indices` of class `label` into the `work` folder, pack them into the
    WebDataset shard `tar` and write the manifest (`file`: each image's `<tar>#<member>`).

    Images already written (and readable) are kept and skipped, so a killed shard resumes; each
    image is written atomically; the tar is written once all are made (then the work folder
    goes, or stays as loose PNGs beside it with `loose_png`), the manifest last. `tar`
    defaults to the manifest's path with `.tar`, `work` to `<tar>.work`; `tag` names the
    images' GLIDE in their json.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads:
        torch.set_num_threads(threads)
    tar = Path(tar) if tar is not None else Path(manifest).with_suffix(".tar")
    folder = Path(work) if work is not None else work_folder(tar)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [
        i
        for i in indices
        if not (
            image_is_readable(folder / image_name(label, i))
            or has_member(tar, image_name(label, i))
        )
    ]
    log.info(
        "class %s: %d images in shard, %d to sample on %s", label, len(indices), len(todo), device
    )
    if todo:
        _sample_images(
            label,
            prompt,
            todo,
            base_weights,
            upsample_weights,
            base_options,
            upsample_options,
            folder,
            settings,
            device,
        )
    base_steps = len(diffusion_for(base_options, settings.base_respacing).timestep_map)
    upsample_steps = len(diffusion_for(upsample_options, settings.upsample_respacing).timestep_map)
    base_sha, upsample_sha = file_sha256(base_weights), file_sha256(upsample_weights)
    rows = [
        {
            "file": image_ref(tar, image_name(label, i)),
            "class": label,
            "index": i,
            "prompt": prompt,
            "seed": image_seed(settings.seed, label, i),
            "guidance_scale": settings.guidance_scale,
            "base_sampler": settings.base_sampler,
            "base_steps": base_steps,
            "upsample_sampler": settings.upsample_sampler,
            "upsample_steps": upsample_steps,
            "upsample_temp": settings.upsample_temp,
            "base_sha256": base_sha,
            "upsample_sha256": upsample_sha,
        }
        for i in indices
    ]
    records = {
        image_key(label, i): shard_json(row, image_key(label, i), tag)
        for i, row in zip(indices, rows, strict=True)
    }
    pack_shard(tar, folder, records, loose_png=loose_png)
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_csv(table, manifest)
    return table


def _sample_images(
    label,
    prompt,
    todo,
    base_weights,
    upsample_weights,
    base_options,
    upsample_options,
    folder,
    settings,
    device,
) -> None:
    base, base_diffusion = load_glide(
        base_weights, base_options, settings.base_respacing, device, settings
    )
    upsampler, upsample_diffusion = load_glide(
        upsample_weights, upsample_options, settings.upsample_respacing, device, settings
    )
    tokenizer = get_tokenizer()
    tokens, mask = tokenizer.padded_tokens_and_mask(
        tokenizer.encode(prompt), base_options["text_ctx"]
    )
    empty_tokens, empty_mask = tokenizer.padded_tokens_and_mask([], base_options["text_ctx"])
    up_tokens, up_mask = tokenizer.padded_tokens_and_mask(
        tokenizer.encode(prompt), upsample_options["text_ctx"]
    )
    base_fn = guided_model(base, settings.guidance_scale)
    size, up_size = base_options["image_size"], upsample_options["image_size"]
    started, done = time.perf_counter(), 0
    progress = tqdm(total=len(todo), desc=f"sample {label}", mininterval=10)
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start : start + settings.batch_size]
        n = len(batch)
        base.del_cache()  # a new batch: new rows of captions
        upsampler.del_cache()
        seeds = [image_seed(settings.seed, label, i) for i in batch]
        kwargs = {
            "tokens": torch.tensor([tokens] * n + [empty_tokens] * n, device=device),
            "mask": torch.tensor([mask] * n + [empty_mask] * n, device=device),
        }
        with _autocast(device, settings.precision):
            low = run_sampler(
                base_diffusion,
                base_fn,
                PerImageNoise(seeds, (3, size, size), device),
                settings.base_sampler,
                kwargs,
            )
            # the upsampler sees the base output quantised to 8 bits, as in the notebook
            low = ((low + 1) * 127.5).round() / 127.5 - 1
            up_kwargs = {
                "low_res": low,
                "tokens": torch.tensor([up_tokens] * n, device=device),
                "mask": torch.tensor([up_mask] * n, device=device),
            }
            up_seeds = [derived_seed(s, 1) for s in seeds]
            high = run_sampler(
                upsample_diffusion,
                _float_output(upsampler),
                PerImageNoise(up_seeds, (3, up_size, up_size), device),
                settings.upsample_sampler,
                up_kwargs,
                temperature=settings.upsample_temp,
            )
        for index, image in zip(batch, to_uint8(high), strict=True):
            with atomic_path(folder / image_name(label, index)) as tmp:
                write_png(tmp, image)
        done += n
        progress.update(n)
    progress.close()
    elapsed = time.perf_counter() - started
    log.info("sampled %d images in %.1f s (%.3f images/s)", done, elapsed, done / elapsed)


def _float_output(model: torch.nn.Module) -> Callable[..., Tensor]:
    def model_fn(x: Tensor, t: Tensor, **kwargs) -> Tensor:
        return model(x, t, **kwargs).float()

    return model_fn


def merge_manifests(manifests: Sequence[str | Path]) -> pd.DataFrame:
    """One table of every shard's manifest (the synthetic set of a method)."""
    return pd.concat([pd.read_csv(m, dtype={"class": str}) for m in manifests], ignore_index=True)


def settings_from(config: dict) -> SampleSettings:
    known = set(asdict(SampleSettings()))  # the rest (shards, threads) is the workflow's
    return SampleSettings(**{k: v for k, v in config.items() if k in known})

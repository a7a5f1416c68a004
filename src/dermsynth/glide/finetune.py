"""Fine-tuning GLIDE's base model and upsampler on image/caption pairs (paper 1, section 2.1).

The paper fine-tunes OpenAI's released `base.pt` (64 px) and `upsample.pt` (64 -> 256 px) on
HAM10000 with "128x128 images as input", lr 1e-5, "Adam weight decay", an unconditional
probability of 0, no half precision, batch 4 and 60 epochs, stated for "the base model" (we
use them for the upsampler too). The paper names no code; its wording matches the options of
GitHub afiaka87/glide-finetune's `train_glide.py` (`--learning_rate`, `--adam_weight_decay`,
`--uncond_p`, `--use_fp16`, `--batch_size`, `--epochs`; its 2022 code, read at commit 3f31280),
though its "group sampling set as 8" matches none of them. Where the paper is silent, the
settings' defaults train as that training step and loader do:

- `loss="mse"`: the mean squared error of the predicted noise alone (`epsilon, _ =
  th.split(model_output, C, dim=1)`, then `mse_loss(epsilon, noise)`), so the variance half of
  the output gets no gradient; `"hybrid"` is improved DDPM's mse + vb, which also trains it.
- `crop="random"`: every step cuts a random square of each image's `source_size` px copy
  (`dermsynth.glide.crop`); `"center"` trains on the centre-cropped preprocess copies at the
  model's size (and the upsampler's input on the 64 px copies) as they are.
- `timesteps="all_but_last"`: `th.randint(0, len(glide_diffusion.betas) - 1, ...)` never draws
  the last step; `"all"` draws from every step.

With `uncond_p` 0 (the paper's, kept for reproduction) guided sampling still runs, since
OpenAI's released weights learned empty captions, but the unconditional half of the guidance is
never fine-tuned on dermoscopic images; glide-finetune's default and README suggest 0.2 for the
base model.

Every step draws its batch order, crops, timesteps, noise, caption drop-out and dropout masks
from generators seeded by (seed, step), so a run killed and resumed from its last checkpoint
gives bit-identical weights to an uninterrupted run on the same hardware. The checkpoint holds
the model, the optimizer, the step and the loss history; it is written atomically.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError
from dermsynth.glide.crop import random_crops, whole_views
from dermsynth.glide.diffusion import diffusion_for
from dermsynth.glide.options import create_model_and_diffusion
from dermsynth.glide.tokenizer import get_tokenizer
from dermsynth.io import save_torch, write_csv
from dermsynth.seeds import derived_seed

log = logging.getLogger(__name__)

KINDS = ("base", "upsample")
LOSSES = ("mse", "hybrid")
CROPS = ("random", "center")
TIMESTEPS = ("all_but_last", "all")
LOW_RES_SIZE = 64  # the upsampler's input: the base model's size


@dataclass(frozen=True)
class FinetuneSettings:
    """The training knobs. Defaults: lr, uncond_p, precision, batch size and epochs are paper
    1's (section 2.1); weight_decay 0 (the paper gives none) and resize_ratio 0.8 are
    glide-finetune's defaults, as are its loss, crop and timesteps; source_size 128 is our
    reading of the paper's "128x128 images as input" (module docstring)."""

    lr: float = 1e-5
    weight_decay: float = 0.0
    batch_size: int = 4
    epochs: int = 60
    max_steps: int | None = None  # stop early (the demo trains a few steps)
    uncond_p: float = 0.0
    checkpoint_every: int = 500
    seed: int = 0
    precision: str = "fp32"  # fp32, or bf16 autocast on a GPU
    grad_clip: float | None = None
    loss: str = "mse"
    crop: str = "random"
    resize_ratio: float = 0.8  # glide-finetune's --resize_ratio default: the crop's least area
    source_size: int = 128  # the preprocess copy random crops are cut from
    timesteps: str = "all_but_last"

    def __post_init__(self) -> None:
        for name, allowed in (("loss", LOSSES), ("crop", CROPS), ("timesteps", TIMESTEPS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, not {getattr(self, name)!r}")
        if not 0 < self.resize_ratio <= 1:
            raise ValueError(f"resize_ratio must be in (0, 1], not {self.resize_ratio}")


def load_images(ids: list[str], images_dir: str | Path, size: int) -> torch.Tensor:
    """The `size` px copies of `ids` as one uint8 tensor (N, 3, size, size), decoded once."""
    out = torch.empty((len(ids), 3, size, size), dtype=torch.uint8)
    for i, image_id in enumerate(tqdm(ids, desc=f"load {size}px", mininterval=5)):
        path = resized_path(images_dir, size, image_id)
        try:
            with Image.open(path) as image:
                array = np.array(image.convert("RGB"))
        except OSError as err:
            raise DataError(path, f"cannot read resized image: {err}") from err
        if array.shape != (size, size, 3):
            raise DataError(path, f"expected {size}x{size} RGB, found {array.shape}")
        out[i] = torch.from_numpy(array).permute(2, 0, 1)
    return out


def to_model_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range GLIDE works in."""
    return images.float() / 127.5 - 1.0


@dataclass(frozen=True)
class TrainingImages:
    """A run's images (uint8, N x 3 x s x s) and how a step's batch is made of them.

    crop "random": `images` are the `source_size` px copies, from which every step cuts fresh
    squares; "center": the copies at the model's size (and `low_res` the 64 px copies), as is.
    """

    images: torch.Tensor
    low_res: torch.Tensor | None
    size: int
    upsample: bool
    crop: str
    resize_ratio: float

    def batch(
        self, rows: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The model-size images of `rows` and, for the upsampler, their 64 px inputs."""
        if self.crop == "center":
            return self._as_is(rows)
        low_res_size = LOW_RES_SIZE if self.upsample else None
        return random_crops(
            self.images[rows], self.size, self.resize_ratio, generator, low_res_size
        )

    def whole(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """As `batch`, but each image uncropped: what a preview shows beside the samples."""
        if self.crop == "center":
            return self._as_is(rows)
        return whole_views(self.images[rows], self.size, LOW_RES_SIZE if self.upsample else None)

    def _as_is(self, rows) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.images[rows], (None if self.low_res is None else self.low_res[rows])


def load_training_images(
    ids: list[str], images_dir: str | Path, kind: str, size: int, settings: FinetuneSettings
) -> TrainingImages:
    """The copies a run reads: at `source_size` to crop from, or at the model's size (and 64 px
    for the upsampler) to use as they are."""
    upsample = kind == "upsample"
    if settings.crop == "random":
        images, low_res = load_images(ids, images_dir, settings.source_size), None
        if settings.source_size < size:
            log.info(
                "random crops of the %d px copies are enlarged to %d px", settings.source_size, size
            )
    else:
        images = load_images(ids, images_dir, size)
        low_res = load_images(ids, images_dir, LOW_RES_SIZE) if upsample else None
    return TrainingImages(images, low_res, size, upsample, settings.crop, settings.resize_ratio)


def training_loss(terms: dict[str, torch.Tensor], loss: str) -> torch.Tensor:
    """The batch loss to train on, from `training_losses`' per-image terms.

    "mse": the mean of the noise-prediction error over every element of the batch's eps
    channels (glide-finetune's `mse_loss(epsilon, noise)`; each image has as many elements);
    "hybrid": the mean of mse + vb.
    """
    if loss == "mse":
        return terms["mse"].mean()
    if loss == "hybrid":
        return terms["loss"].mean()
    raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")


def timestep_bound(num_timesteps: int, timesteps: str) -> int:
    """The exclusive upper end of the uniform timestep draw: T - 1 for glide-finetune's
    `randint(0, len(betas) - 1)` ("all_but_last"), T for every step ("all")."""
    return num_timesteps - 1 if timesteps == "all_but_last" else num_timesteps


def training_pairs(pairs: pd.DataFrame, train_images: pd.DataFrame) -> pd.DataFrame:
    """The image/caption pairs of the images a GLIDE learns from (its train_images.csv, which
    `dermsynth.design.paper1.glide_training_images` chose), in that table's order."""
    by_id = pairs.set_index("image_id")
    missing = sorted(set(train_images["image_id"]) - set(by_id.index))
    if missing:
        raise ValueError(f"training images not in the pairs table: {missing[:5]}")
    return by_id.loc[list(train_images["image_id"])].reset_index()


def caption_tokens(
    captions: list[str], text_ctx: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded tokens and masks of every caption, and the empty caption's (for uncond_p)."""
    tokenizer = get_tokenizer()
    rows = [tokenizer.padded_tokens_and_mask(tokenizer.encode(c), text_ctx) for c in captions]
    tokens = torch.tensor([r[0] for r in rows], dtype=torch.long)
    mask = torch.tensor([r[1] for r in rows], dtype=torch.bool)
    empty_tokens, empty_mask = tokenizer.padded_tokens_and_mask([], text_ctx)
    return (
        tokens,
        mask,
        torch.tensor(empty_tokens, dtype=torch.long),
        torch.tensor(empty_mask, dtype=torch.bool),
    )


def _step_generator(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, step, stream))


def _batch_indices(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """The images of `step`: a fresh permutation per epoch, dropping no image."""
    steps_per_epoch = math.ceil(n / batch_size)
    epoch, position = divmod(step, steps_per_epoch)
    order = torch.randperm(n, generator=_step_generator(seed, epoch, 0))
    return order[position * batch_size : (position + 1) * batch_size]


def finetune(
    kind: str,
    pairs: pd.DataFrame,
    images_dir: str | Path,
    options: dict,
    out: str | Path,
    state_path: str | Path,
    loss_csv: str | Path,
    settings: FinetuneSettings,
    preview: str | Path | None = None,
    init: str | Path | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> pd.DataFrame:
    """Fine-tune the `kind` ("base" or "upsample") model on `pairs` (image_id, caption).

    Writes the weights to `out` in OpenAI's checkpoint format (a plain state_dict, float32),
    the per-step loss to `loss_csv`, a grid of samples to `preview` (one per caption), and
    resumes from `state_path` when it exists.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if len(pairs) == 0:
        raise DataError("pairs", "no training images")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if threads:
        torch.set_num_threads(threads)
    options = {**options, "use_fp16": False, "timestep_respacing": ""}
    torch.manual_seed(settings.seed)
    model, _ = create_model_and_diffusion(**options)
    if init:
        state = torch.load(init, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        log.info("initialised from %s", init)
    model.to(device).train()
    diffusion = diffusion_for(options, "")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )

    size = options["image_size"]
    ids = list(pairs["image_id"])
    images = load_training_images(ids, images_dir, kind, size, settings)
    tokens, mask, empty_tokens, empty_mask = caption_tokens(
        list(pairs["caption"]), options["text_ctx"]
    )

    steps_per_epoch = math.ceil(len(ids) / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    step, history = 0, []
    state_path = Path(state_path)
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["settings"] != asdict(settings) or state["options"] != options:
            raise DataError(state_path, "checkpoint was made with other settings; delete it")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history = state["step"], state["history"]
        log.info("resumed from %s at step %d of %d", state_path, step, total)

    autocast = settings.precision == "bf16" and device.type == "cuda"
    log.info(
        "fine-tuning %s: %d images, %d steps (%d per epoch), batch %d, on %s; "
        "loss %s, crop %s, timesteps %s",
        kind,
        len(ids),
        total,
        steps_per_epoch,
        settings.batch_size,
        device,
        settings.loss,
        settings.crop,
        settings.timesteps,
    )
    high = timestep_bound(diffusion.num_timesteps, settings.timesteps)
    progress = tqdm(total=total, initial=step, desc=f"finetune {kind}", mininterval=10)
    started = time.perf_counter()
    while step < total:
        batch = _batch_indices(len(ids), settings.batch_size, settings.seed, step)
        generator = _step_generator(settings.seed, step, 1)
        drop = torch.rand(len(batch), generator=generator) < settings.uncond_p
        batch_tokens = torch.where(drop[:, None], empty_tokens, tokens[batch])
        batch_mask = torch.where(drop[:, None], empty_mask, mask[batch])
        x_uint8, low_uint8 = images.batch(batch, _step_generator(settings.seed, step, 3))
        x_start = to_model_range(x_uint8)
        t = torch.randint(0, high, (len(batch),), generator=generator)
        noise = torch.randn(x_start.shape, generator=generator)
        kwargs = {"tokens": batch_tokens.to(device), "mask": batch_mask.to(device)}
        if low_uint8 is not None:
            kwargs["low_res"] = to_model_range(low_uint8).to(device)
        torch.manual_seed(derived_seed(settings.seed, step, 2))  # dropout masks
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            terms = diffusion.training_losses(
                model, x_start.to(device), t.to(device), model_kwargs=kwargs, noise=noise.to(device)
            )
        loss = training_loss(terms, settings.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        step += 1
        history.append(
            {
                "step": step,
                "epoch": (step - 1) // steps_per_epoch,
                "loss": loss.item(),
                "mse": terms["mse"].mean().item(),
                "vb": terms["vb"].mean().item(),
            }
        )
        progress.update(1)
        if step % settings.checkpoint_every == 0 or step == total:
            _save_state(state_path, model, optimizer, step, history, settings, options)
    progress.close()
    elapsed = time.perf_counter() - started
    log.info("trained to step %d in %.1f s", step, elapsed)

    weights = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    save_torch(weights, out)
    frame = pd.DataFrame(history, columns=["step", "epoch", "loss", "mse", "vb"])
    write_csv(frame, loss_csv)
    if preview:
        model.eval()
        preview_grid(kind, model, options, pairs, images, preview, device, settings.seed)
    return frame


PREVIEW_RESPACING = "ddim25"


def preview_grid(
    kind: str,
    model: torch.nn.Module,
    options: dict,
    pairs: pd.DataFrame,
    images: TrainingImages,
    path: str | Path,
    device: torch.device,
    seed: int,
) -> None:
    """Samples of the trained model, one per distinct caption, beside a real training image
    (uncropped).

    The base model samples from its caption alone (no guidance: what it learned); the
    upsampler upsamples the real image's 64 px input, so its row compares with the real one.
    """
    from dermsynth.glide.figures import plot_preview
    from dermsynth.glide.sample import PerImageNoise, run_sampler, to_uint8

    first = pairs.drop_duplicates("caption").head(8)
    rows = list(first.index)
    real, low_uint8 = images.whole(rows)
    low_res = None if low_uint8 is None else to_model_range(low_uint8)
    diffusion = diffusion_for(options, PREVIEW_RESPACING)
    tokens, mask, _, _ = caption_tokens(list(first["caption"]), options["text_ctx"])
    kwargs = {"tokens": tokens.to(device), "mask": mask.to(device)}
    if low_res is not None:
        kwargs["low_res"] = low_res.to(device)
    size = options["image_size"]
    noise = PerImageNoise([derived_seed(seed, i) for i in rows], (3, size, size), device)
    samples = run_sampler(diffusion, model, noise, "ddim", kwargs)
    series = {"real": to_uint8(to_model_range(real))}
    if low_res is not None:
        series["64 px input"] = to_uint8(low_res)
    series[f"{kind} sample"] = to_uint8(samples)
    title = f"GLIDE {kind} after fine-tuning ({len(diffusion.timestep_map)} DDIM steps)"
    columns = first["label"] if "label" in first else first["caption"]
    plot_preview(list(columns), series, path, title)


def _save_state(path, model, optimizer, step, history, settings, options) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "history": history,
        "settings": asdict(settings),
        "options": options,
    }
    save_torch(state, path)
    log.info("checkpoint at step %d -> %s", step, path)

"""DreamBooth per class (paper 2; settings from the authors' released DreamBooth scripts).

For one class, the UNet of a Stable Diffusion model is fine-tuned on that class's training
images under the prompt "An image of {label}, a skin disease": text encoder and VAE frozen, no
prior preservation, batch 4, AdamW at a constant 5e-6 (weight decay 1e-2, gradient norm clipped
at 1, as the authors' code), 4 epochs, each image augmented by RandomResizedCrop(scale 0.9-1.1,
ratio 0.9-1.1) + ColorJitter(0.05, 0.05, 0.05, 0.05) + horizontal flip. torchvision accepts a
scale above 1: a crop larger than the image is redrawn, and after 10 draws the whole image is
taken, so "1.1" makes uncropped images more frequent; it is kept as the authors wrote it. With no
class (`label` None) one model learns from every class at once, as the authors trained their DDI
model; an image's prompt names its disease where its row has one, as DDI's do ("An image of
melanoma in situ, a skin disease"; `sources.prompt_for`).

The step is the standard diffusers DreamBooth step: VAE latents x scaling factor, noise and
timesteps, `DDPMScheduler.add_noise`, the UNet on the frozen text embeddings, MSE against the
noise (or `get_velocity` for v-prediction models). The inpainting model gets the 9-channel input
(noisy latents, the mask at latent size, the masked image's latents) with a random centred
square mask of the kind generation uses (the authors' code drew random rectangles and ellipses).
Full-UNet fine-tuning is the paper's; `lora_rank > 0` trains a peft LoRA adapter on the attention
projections instead and saves only the adapter (a few MB per class instead of 3.5 GB).

Every step's batch order, augmentation, noise, timesteps, masks and VAE draws come from
generators seeded by (seed, step), so a killed run resumed from its last checkpoint (trainable
weights, optimizer, learning-rate schedule, step, loss history; written atomically) reaches
bit-identical weights on the same hardware. Checkpoints are written by step count, every
`checkpoint_interval` steps: `checkpoint_every`, or a run's length cut into `checkpoints_per_run`
stretches when that is shorter (the paper's 228-step runs against an interval of 250 would
otherwise have no checkpoint to resume from). A step count rather than wall time keeps which
steps are saved a function of the config, the same on every machine and in the tests. No
checkpoint is written at the last step: the weights are written next, and the checkpoint
(~10 GB for the full UNet: weights and AdamW's two moments) would only be deleted.

Memory (fp32 UNet, AdamW): weights, gradients and two moments are 16 bytes per trained
parameter (14 GB for SD 2's 865.9M), plus the activations of a batch. Gradients are dropped
(`zero_grad(set_to_none=True)`) right after each update, so they never live through the next
forward. `gradient_checkpointing` recomputes each UNet block's activations in the backward pass
instead of keeping them (slower; the same arithmetic, so the same weights); `use_8bit_adam`
keeps AdamW's moments in 8 bits (bitsandbytes' AdamW8bit, CUDA only: refused on a CPU), which
changes the updates slightly. The authors' runs used neither (off in config/paper.yaml).

The output folder holds the UNet in diffusers format (`unet/`) or the adapter
(`pytorch_lora_weights.safetensors`), `train_images.csv` (the images it learned from),
`loss.csv` and `dreambooth.json` (settings, base model and its UNet's sha256).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError
from dermsynth.io import atomic_directory, file_sha256, save_torch, write_csv
from dermsynth.sd import masks
from dermsynth.sd.files import public_modes
from dermsynth.sd.load import LORA_FILE, load_pipeline, unet_weights_file
from dermsynth.sd.sources import PROMPT, TEST, TRAIN, prompt_for, source_image
from dermsynth.seeds import derived_seed

log = logging.getLogger(__name__)

BASES = ("text2img", "inpaint")
LORA_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")  # attention projections (diffusers' scripts)
TRAIN_IMAGE_COLUMNS = [
    "image_id",
    "label",
    "split",
    "pool_rank",
    "skin_type",
    "disease",
    "prompt",
    "file",
]


@dataclass(frozen=True)
class DreamBoothSettings:
    """The training knobs; defaults are the authors' (their DreamBooth scripts' arguments)."""

    resolution: int = 512
    source_size: int | None = None  # size of the preprocessed copies to read (default: resolution)
    batch_size: int = 4
    lr: float = 5e-6
    epochs: int = 4
    max_steps: int | None = None  # stop early (tests)
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    lora_rank: int = 0  # 0: full UNet fine-tune (the paper); > 0: a LoRA adapter of this rank
    crop_scale: tuple[float, float] = (0.9, 1.1)
    crop_ratio: tuple[float, float] = (0.9, 1.1)
    color_jitter: float = 0.05
    hflip: bool = True
    mask_fraction: tuple[float, float] = (0.25, 0.75)  # inpainting base: side of the square
    prompt: str = PROMPT
    skin_type_in_prompt: bool = False
    checkpoint_every: int = 250
    checkpoints_per_run: int = 2  # a shorter run is cut into this many stretches (see module doc)
    keep_checkpoint: bool = False  # a full-UNet checkpoint is ~10 GB: dropped once weights exist
    gradient_checkpointing: bool = False  # recompute UNet block activations in the backward pass
    use_8bit_adam: bool = False  # bitsandbytes AdamW8bit (CUDA only)
    seed: int = 0
    precision: str = "fp32"  # fp32, or bf16 / fp16 autocast on a GPU

    def __post_init__(self) -> None:  # YAML gives lists; the checkpoint compares tuples
        for name in ("crop_scale", "crop_ratio", "mask_fraction"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))


def checkpoint_interval(total: int, settings: DreamBoothSettings) -> int:
    """Steps between checkpoints of a `total`-step run: `checkpoint_every`, or the run cut into
    `checkpoints_per_run` stretches when that is shorter (228 steps, 250, 2: every 114)."""
    if settings.checkpoint_every < 1 or settings.checkpoints_per_run < 1:
        raise ValueError("checkpoint_every and checkpoints_per_run must be at least 1")
    return min(settings.checkpoint_every, max(1, math.ceil(total / settings.checkpoints_per_run)))


def settings_from(config: dict) -> DreamBoothSettings:
    known = set(DreamBoothSettings.__dataclass_fields__)  # the rest is the workflow's
    return DreamBoothSettings(**{k: v for k, v in config.items() if k in known})


def augmentation(settings: DreamBoothSettings):
    """The authors' training transform on float images in [0, 1] (C, H, W)."""
    from torchvision import transforms

    steps = [
        transforms.RandomResizedCrop(
            settings.resolution,
            scale=settings.crop_scale,
            ratio=settings.crop_ratio,
            interpolation=transforms.InterpolationMode.BILINEAR,
            antialias=True,
        ),
        transforms.ColorJitter(*(settings.color_jitter,) * 4),
    ]
    if settings.hflip:
        steps.append(transforms.RandomHorizontalFlip())
    return transforms.Compose(steps)


def _batch_indices(n: int, batch_size: int, seed: int, step: int) -> torch.Tensor:
    """The images of `step`: a fresh permutation per epoch, the last batch possibly short."""
    steps_per_epoch = math.ceil(n / batch_size)
    epoch, position = divmod(step, steps_per_epoch)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(seed, epoch)))
    return order[position * batch_size : (position + 1) * batch_size]


def _generator(seed: int, step: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, step, stream))


def training_masks(
    count: int, resolution: int, grid: int, bounds: tuple[float, float], generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` centred-square masks (count, 1, R, R) with side fractions drawn in `bounds`."""
    low, high = bounds
    fractions = low + (high - low) * torch.rand(count, generator=generator, dtype=torch.float64)
    stack = [masks.inpaint_mask(resolution, grid, float(f), low, high) for f in fractions]
    return torch.from_numpy(np.stack(stack))[:, None], fractions


def load_training_images(
    images: pd.DataFrame, images_dir: str | Path, settings: DreamBoothSettings
) -> torch.Tensor:
    """The training images as one uint8 tensor (N, 3, R, R), decoded once."""
    size = settings.resolution
    out = torch.empty((len(images), 3, size, size), dtype=torch.uint8)
    for i, image_id in enumerate(images["image_id"]):
        array = source_image(images_dir, image_id, size, settings.source_size)
        out[i] = torch.from_numpy(array.copy()).permute(2, 0, 1)
    return out


def train_dreambooth(
    base: str | Path,
    kind: str,
    label: str | None,
    images: pd.DataFrame,
    images_dir: str | Path,
    out: str | Path,
    settings: DreamBoothSettings,
    state_path: str | Path,
    device: str | None = None,
    threads: int | None = None,
    splits: Sequence[str] = (TRAIN,),
) -> pd.DataFrame:
    """Fine-tune the UNet of the `kind` model in `base` on `images` (rows of a split table:
    image_id, label, split[, pool_rank, skin_type, disease]) of class `label` (None: of every
    class, one model for a dataset, as the authors' DDI model); write `out/`. Each image's
    prompt names its disease where its row has one, else its class (`prompt_for`).

    `images` must be of `splits` (the training split; DDI's authors' model: its validation
    images too), never of the test split. Resumes from `state_path` when it exists (made with
    the same settings and images). Returns the per-step loss table.
    """
    if kind not in BASES:
        raise ValueError(f"kind must be one of {BASES}, not {kind!r}")
    if TEST in splits:
        raise ValueError("DreamBooth never learns from test images")
    what = "every class" if label is None else f"class {label!r}"
    if len(images) == 0:
        raise DataError(images_dir, f"{what}: no training images")
    outside = images[~images["split"].isin(list(splits))]
    if len(outside):
        first = outside.iloc[0]
        raise DataError(
            images_dir,
            f"DreamBooth learns from split(s) {list(splits)} only; {first['image_id']} is "
            f"{first['split']!r} ({len(outside)} such rows)",
        )
    wrong = images[images["label"] != label] if label is not None else images.iloc[:0]
    if len(wrong):
        raise DataError(images_dir, f"image {wrong.iloc[0]['image_id']} is not of class {label!r}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if settings.use_8bit_adam and device.type != "cuda":
        raise ValueError(
            f"use_8bit_adam: bitsandbytes' AdamW8bit needs a CUDA GPU, and this run is on "
            f"{device.type}; set sd.dreambooth.settings.use_8bit_adam to false"
        )
    if threads:
        torch.set_num_threads(threads)
    images = images.reset_index(drop=True)
    prompts = [
        prompt_for(
            row["label"],
            row.get("skin_type"),
            disease=row.get("disease"),
            template=settings.prompt,
            with_skin_type=settings.skin_type_in_prompt,
        )
        for _, row in images.iterrows()
    ]

    pipeline = load_pipeline(base, kind, device=str(device), scheduler="folder")
    unet, vae = pipeline.unet, pipeline.vae
    noise_scheduler = _training_scheduler(pipeline.scheduler.config)
    vae.requires_grad_(False)
    pipeline.text_encoder.requires_grad_(False)
    embeddings = _prompt_embeddings(pipeline, prompts, device)
    del pipeline  # keeps unet, vae; the text encoder's work is done
    unet.requires_grad_(settings.lora_rank == 0)
    if settings.lora_rank > 0:
        _add_lora(unet, settings)
    if settings.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    unet.train()
    trainable = [p for p in unet.parameters() if p.requires_grad]
    optimizer = _optimizer(trainable, settings)
    from diffusers.optimization import get_scheduler

    lr_schedule = get_scheduler("constant", optimizer=optimizer)

    pixels = load_training_images(images, images_dir, settings)
    augment = augmentation(settings)
    grid = settings.resolution // (2 ** (len(vae.config.block_out_channels) - 1))
    steps_per_epoch = math.ceil(len(images) / settings.batch_size)
    total = settings.epochs * steps_per_epoch
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    interval = checkpoint_interval(total, settings)
    identity = {
        "settings": asdict(settings),
        "kind": kind,
        "label": label,
        "images": list(images["image_id"]),
        "base_unet_sha256": file_sha256(unet_weights_file(base)),
    }
    step, history = 0, []
    state_path = Path(state_path)
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["identity"] != identity:
            raise DataError(
                state_path,
                "checkpoint was made with other settings or images; delete it to start again",
            )
        _load_trainable(unet, state["trainable"])
        optimizer.load_state_dict(state["optimizer"])
        lr_schedule.load_state_dict(state["lr_schedule"])
        step, history = state["step"], state["history"]
        log.info("resumed from %s at step %d of %d", state_path, step, total)

    autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision)
    log.info(
        "DreamBooth %s / %s: %d images, %d steps (%d per epoch), batch %d, %s, on %s; "
        "a checkpoint every %d steps",
        kind,
        what,
        len(images),
        total,
        steps_per_epoch,
        settings.batch_size,
        f"LoRA rank {settings.lora_rank}" if settings.lora_rank else "full UNet",
        device,
        interval,
    )
    progress = tqdm(total=total, initial=step, desc=f"dreambooth {kind} {what}", mininterval=10)
    started, first = time.perf_counter(), step
    while step < total:
        batch = _batch_indices(len(images), settings.batch_size, settings.seed, step)
        generator = _generator(settings.seed, step, 1)
        with torch.random.fork_rng(devices=[]):  # torchvision draws from the global stream
            torch.manual_seed(derived_seed(settings.seed, step, 2))
            images_01 = torch.stack([augment(pixels[i].float() / 255) for i in batch.tolist()])
        x = (images_01 * 2 - 1).to(device)
        model_input, target, timesteps = _noisy_input(
            x, vae, noise_scheduler, generator, kind, grid, settings
        )
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=bool(autocast)):
            prediction = unet(model_input, timesteps, embeddings[batch.to(device)]).sample
        loss = F.mse_loss(prediction.float(), target.float())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, settings.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)  # freed now, not after the next forward
        lr_schedule.step()
        step += 1
        history.append({"step": step, "epoch": (step - 1) // steps_per_epoch, "loss": loss.item()})
        progress.update(1)
        if step % interval == 0 and step < total:  # the last step's weights are written next
            _save_state(state_path, unet, optimizer, lr_schedule, step, history, identity)
    progress.close()
    if step > first:
        elapsed = time.perf_counter() - started
        log.info(
            "trained %d steps in %.1f s (%.3f s/step)",
            step - first,
            elapsed,
            elapsed / (step - first),
        )

    losses = pd.DataFrame(history, columns=["step", "epoch", "loss"])
    _write_result(out, unet, images, prompts, images_dir, losses, identity, settings, base)
    if not settings.keep_checkpoint:
        state_path.unlink(missing_ok=True)
    return losses


def _optimizer(trainable, settings: DreamBoothSettings):
    """AdamW (the authors'), or bitsandbytes' AdamW8bit with the same hyperparameters."""
    if not settings.use_8bit_adam:
        return torch.optim.AdamW(trainable, lr=settings.lr, weight_decay=settings.weight_decay)
    try:
        import bitsandbytes
    except ImportError as error:
        raise ImportError("use_8bit_adam needs bitsandbytes (pip install bitsandbytes)") from error
    return bitsandbytes.optim.AdamW8bit(
        trainable, lr=settings.lr, weight_decay=settings.weight_decay
    )


def _training_scheduler(config):
    """DDPM's forward process on the model's own noise schedule (and prediction type)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(config)


@torch.no_grad()
def _prompt_embeddings(pipeline, prompts: list[str], device) -> torch.Tensor:
    """Frozen text-encoder outputs, one row per training image."""
    tokenizer = pipeline.tokenizer
    unique = sorted(set(prompts))
    ids = tokenizer(
        unique,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
    encoded = pipeline.text_encoder(ids.to(device))[0]
    return encoded[torch.tensor([unique.index(p) for p in prompts], device=device)]


def _add_lora(unet, settings: DreamBoothSettings) -> None:
    from peft import LoraConfig

    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_rank,
        init_lora_weights="gaussian",
        target_modules=list(LORA_TARGETS),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(settings.seed, 0x6C6F7261))  # "lora"
        unet.add_adapter(config)


def _noisy_input(x, vae, noise_scheduler, generator, kind, grid, settings):
    """The UNet's input, its target and the timesteps of one batch (images x in [-1, 1])."""
    device = x.device
    scale = vae.config.scaling_factor
    with torch.no_grad():
        latents = vae.encode(x).latent_dist.sample(generator=generator) * scale
    noise = torch.randn(latents.shape, generator=generator).to(device, latents.dtype)
    count = noise_scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, count, (len(x),), generator=generator).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    elif noise_scheduler.config.prediction_type == "epsilon":
        target = noise
    else:
        raise ValueError(f"unsupported prediction type {noise_scheduler.config.prediction_type}")
    if kind == "inpaint":
        mask, _ = training_masks(len(x), x.shape[-1], grid, settings.mask_fraction, generator)
        mask = mask.to(device, x.dtype)
        with torch.no_grad():
            masked = vae.encode(x * (mask < 0.5)).latent_dist.sample(generator=generator) * scale
        small = F.interpolate(mask, size=latents.shape[-2:], mode="nearest")
        noisy = torch.cat([noisy, small, masked], dim=1)
    return noisy, target, timesteps


def _trainable_state(unet) -> dict[str, torch.Tensor]:
    return {n: p.detach().cpu().clone() for n, p in unet.named_parameters() if p.requires_grad}


def _load_trainable(unet, state: dict[str, torch.Tensor]) -> None:
    expected = {n for n, p in unet.named_parameters() if p.requires_grad}
    if set(state) != expected:
        raise DataError("checkpoint", "its parameters are not this run's trainable ones")
    result = unet.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise DataError("checkpoint", f"unexpected parameters {result.unexpected_keys[:3]}")


def _save_state(path, unet, optimizer, lr_schedule, step, history, identity) -> None:
    state = {
        "trainable": _trainable_state(unet),
        "optimizer": optimizer.state_dict(),
        "lr_schedule": lr_schedule.state_dict(),
        "step": step,
        "history": history,
        "identity": identity,
    }
    save_torch(state, path)
    log.info("checkpoint at step %d -> %s", step, path)


def _write_result(out, unet, images, prompts, images_dir, losses, identity, settings, base):
    """The weights in diffusers format, the images trained on, the losses: one atomic folder."""
    from diffusers import StableDiffusionPipeline

    files = [
        str(resized_path(images_dir, settings.source_size or settings.resolution, i))
        for i in images["image_id"]
    ]
    table = images.assign(prompt=prompts, file=files)
    for column in TRAIN_IMAGE_COLUMNS:
        if column not in table:
            table[column] = ""
    with atomic_directory(out) as tmp:
        if settings.lora_rank > 0:
            from diffusers.training_utils import _collate_lora_metadata
            from diffusers.utils import convert_state_dict_to_diffusers
            from peft.utils import get_peft_model_state_dict

            layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
            layers = {k: v.detach().float().cpu().contiguous() for k, v in layers.items()}
            StableDiffusionPipeline.save_lora_weights(
                tmp,
                unet_lora_layers=layers,
                weight_name=LORA_FILE,
                **_collate_lora_metadata({"unet": unet}),
            )
        else:
            unet.save_pretrained(tmp / "unet", safe_serialization=True)
        write_csv(table[TRAIN_IMAGE_COLUMNS], tmp / "train_images.csv")
        write_csv(losses, tmp / "loss.csv")
        record = {**identity, "base": str(base), "steps": len(losses)}
        record["images"] = len(identity["images"])
        (tmp / "dreambooth.json").write_text(json.dumps(record, indent=2, default=str))
        public_modes(tmp)


def dreambooth_weights(folder: str | Path) -> dict[str, Path | None]:
    """The `unet=` / `lora=` arguments of `load_pipeline` for a DreamBooth output folder."""
    folder = Path(folder)
    if (folder / "unet" / "config.json").is_file():
        return {"unet": folder / "unet", "lora": None}
    if (folder / LORA_FILE).is_file():
        return {"unet": None, "lora": folder / LORA_FILE}
    raise DataError(folder, f"holds neither unet/config.json nor {LORA_FILE}: not DreamBooth's")

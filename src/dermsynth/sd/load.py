"""One way to load a Stable Diffusion pipeline: from a local diffusers folder, real or tiny.

The paper's models are `stabilityai/stable-diffusion-2-1-base` (text-to-image) and
`runwayml/stable-diffusion-inpainting` (the authors' `generation/generate.py` and DreamBooth
scripts); the
demo's are the tiny ones of `dermsynth.sd.tiny`, in the same layout. Nothing is downloaded: a
folder with a missing file fails with a message naming the file. The safety checker is turned
off explicitly (the synthetic images are clinical photographs, which it flags at random).
A DreamBooth result replaces the UNet (`unet=`, a full fine-tune) or adds a LoRA adapter
(`lora=`, fused into the UNet's weights after loading, so sampling costs what it does without).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from dermsynth.errors import DataError
from dermsynth.io import file_sha256

log = logging.getLogger(__name__)

KINDS = ("text2img", "inpaint")
UNET_IN_CHANNELS = {"text2img": 4, "inpaint": 9}
REFERENCE_MODELS = {  # what to put in the folder (the authors' code)
    "text2img": "stabilityai/stable-diffusion-2-1-base",
    "inpaint": "runwayml/stable-diffusion-inpainting",
}
SCHEDULERS = ("dpm++", "folder")  # DPMSolverMultistepScheduler (the paper's), or the folder's own
LORA_FILE = "pytorch_lora_weights.safetensors"
# weights files of each component, plain then fp16 variant, safetensors then pickle
WEIGHTS = {
    "unet": ("diffusion_pytorch_model", ".safetensors", ".bin"),
    "vae": ("diffusion_pytorch_model", ".safetensors", ".bin"),
    "text_encoder": ("model", ".safetensors", None),
}
PICKLE_TEXT_ENCODER = "pytorch_model.bin"


def _weights_file(folder: Path, component: str, variant: str | None) -> Path | None:
    stem, *suffixes = WEIGHTS[component]
    names = [f"{stem}{'.' + variant if variant else ''}{s}" for s in suffixes if s]
    if component == "text_encoder":
        names.append(PICKLE_TEXT_ENCODER.replace(".bin", f".{variant}.bin" if variant else ".bin"))
    for name in names:
        for candidate in (folder / name, folder / f"{name}.index.json"):
            if candidate.is_file():
                return candidate
    return None


def _missing(file: Path, kind: str, folder: Path, what: str = "not found") -> DataError:
    return DataError(
        file, f"{what}: put the diffusers folder of {REFERENCE_MODELS[kind]} in {folder}"
    )


def check_folder(path: str | Path, kind: str) -> str | None:
    """Fail, naming the file, unless `path` is a complete diffusers folder of `kind`.

    Returns the weights variant to load ("fp16" when only fp16 files are there, else None).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    path = Path(path)
    index = path / "model_index.json"
    if not index.is_file():
        raise _missing(index, kind, path)
    try:
        listed = json.loads(index.read_text())
    except json.JSONDecodeError as err:
        raise DataError(index, f"not valid JSON: {err}") from err
    for component in ("unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        if component not in listed:
            raise DataError(index, f"lists no {component!r}: not a Stable Diffusion pipeline")
    for relative in (
        "unet/config.json",
        "vae/config.json",
        "text_encoder/config.json",
        "scheduler/scheduler_config.json",
    ):
        if not (path / relative).is_file():
            raise _missing(path / relative, kind, path)
    tokenizer = path / "tokenizer"
    if not (tokenizer / "tokenizer.json").is_file():
        for name in ("vocab.json", "merges.txt"):
            if not (tokenizer / name).is_file():
                raise _missing(tokenizer / name, kind, path)
    variant = None
    for component in WEIGHTS:
        if _weights_file(path / component, component, None) is None:
            if _weights_file(path / component, component, "fp16") is None:
                stem, suffix, _ = WEIGHTS[component]
                file = path / component / f"{stem}{suffix}"
                raise _missing(file, kind, path, "not found (nor its fp16 variant)")
            variant = "fp16"
    check_unet_channels(path / "unet" / "config.json", kind)
    return variant


def check_unet_channels(config: str | Path, kind: str) -> None:
    """A text-to-image UNet takes 4 channels, an inpainting one 9: catch swapped folders."""
    in_channels = json.loads(Path(config).read_text()).get("in_channels")
    if in_channels != UNET_IN_CHANNELS[kind]:
        raise DataError(
            config,
            f"UNet has {in_channels} input channels; a {kind} model has "
            f"{UNET_IN_CHANNELS[kind]} (is this the {REFERENCE_MODELS[kind]} folder?)",
        )


def unet_weights_file(path: str | Path, *, unet: str | Path | None = None) -> Path:
    """The UNet weights file a pipeline loaded from `path` (and `unet`) uses."""
    folder = Path(unet) if unet else Path(path) / "unet"
    found = _weights_file(folder, "unet", None) or _weights_file(folder, "unet", "fp16")
    if found is None:
        raise DataError(folder / "diffusion_pytorch_model.safetensors", "not found")
    return found


def model_sha256(
    path: str | Path, *, unet: str | Path | None = None, lora: str | Path | None = None
) -> str:
    """The sha256 of the weights that make the images: the UNet's file, or the LoRA adapter's."""
    if lora:
        return file_sha256(lora_file(lora))
    return file_sha256(unet_weights_file(path, unet=unet))


def lora_file(lora: str | Path) -> Path:
    lora = Path(lora)
    found = lora / LORA_FILE if lora.is_dir() else lora
    if not found.is_file():
        raise DataError(found, "LoRA adapter not found (run the DreamBooth rule with lora_rank)")
    return found


def load_pipeline(
    path: str | Path,
    kind: str,
    *,
    device: str = "cpu",
    dtype=None,
    scheduler: str = "dpm++",
    unet: str | Path | None = None,
    lora: str | Path | None = None,
    channels_last: bool = False,
    compile: bool = False,
):
    """A StableDiffusionPipeline (`kind` "text2img") or StableDiffusionInpaintPipeline
    ("inpaint") from the diffusers folder `path`, on `device` in `dtype` (default float32).

    `unet` is a folder holding a replacement UNet (`config.json` + weights, DreamBooth's full
    fine-tune); `lora` a folder (or file) with a LoRA adapter saved by diffusers' LoRA loader.
    """
    import torch
    from diffusers import (
        DPMSolverMultistepScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )

    if scheduler not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, not {scheduler!r}")
    variant = check_folder(path, kind)
    dtype = dtype or torch.float32
    overrides = {}
    if unet:
        unet_config = Path(unet) / "config.json"
        if not unet_config.is_file():
            raise DataError(unet_config, "not found: not a diffusers UNet folder")
        check_unet_channels(unet_config, kind)
        unet_weights_file(path, unet=unet)  # fails naming the file if absent
        overrides["unet"] = UNet2DConditionModel.from_pretrained(unet, dtype=dtype)
    pipeline_class = {
        "text2img": StableDiffusionPipeline,
        "inpaint": StableDiffusionInpaintPipeline,
    }[kind]
    pipeline = pipeline_class.from_pretrained(
        path,
        dtype=dtype,
        variant=variant,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        local_files_only=True,
        **overrides,
    )
    if scheduler == "dpm++":
        pipeline.scheduler = DPMSolverMultistepScheduler.from_config(pipeline.scheduler.config)
    if lora:
        pipeline.load_lora_weights(str(lora_file(lora).parent), weight_name=lora_file(lora).name)
        pipeline.fuse_lora()
        pipeline.unload_lora_weights()  # fused: drop the adapter layers, keep the sum
    pipeline.set_progress_bar_config(disable=True)
    pipeline.to(device)
    if channels_last:
        pipeline.unet.to(memory_format=torch.channels_last)
        pipeline.vae.to(memory_format=torch.channels_last)
    if compile and torch.device(device).type == "cuda":
        pipeline.unet = torch.compile(pipeline.unet)
    log.info(
        "loaded %s pipeline from %s%s%s (%s, %s, scheduler %s)",
        kind,
        path,
        f", UNet {unet}" if unet else "",
        f", LoRA {lora}" if lora else "",
        device,
        dtype,
        type(pipeline.scheduler).__name__,
    )
    return pipeline

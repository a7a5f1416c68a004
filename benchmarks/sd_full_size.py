"""Stable Diffusion at real size: seconds and peak memory of each stage of paper 2's track.

Builds randomly initialised pipelines of the paper's two models offline, from their
repositories' `config.json` files as written below (nothing is downloaded):

- stabilityai/stable-diffusion-2-1-base (text-to-image): UNet 865.9M parameters, 4 input
  channels; OpenCLIP ViT-H text encoder as a CLIPTextModel (1024 wide, 23 layers); VAE 83.7M;
- runwayml/stable-diffusion-inpainting: UNet 859.5M, 9 input channels; CLIP ViT-L text encoder
  (768 wide, 12 layers); the same VAE;

with CLIP's byte-level BPE vocabulary (49,408 tokens) converted from open_clip's
`bpe_simple_vocab_16e6.txt.gz` (found in an installed open_clip, or given as `--vocab FILE`;
only the file is read). Without it the tokenizer is one learned from the prompt words
(`dermsynth.sd.tiny.write_tokenizer`), the text encoders keep their 49,408 embeddings, and the
report says so. The pipelines are saved in diffusers layout in a temporary folder. Then each
stage runs in a process of its own, so that its peak is its own and only its models are in
memory:

- text2img, inpaint, inoutpaint: one 512 px image each through the project's
  `dermsynth.sd.generate.generate_shard` at `--steps` (2) DPM-Solver++ steps, guidance 3,
  precision `auto` (fp16 on a GPU, fp32 on a CPU), the paper's strengths (which leave 1 of 2
  steps to the inpainting passes, as the manifests record);
- dreambooth: one full-UNet training step (fp32, AdamW) of the text-to-image model through
  `dermsynth.sd.dreambooth.train_dreambooth`, on `--dreambooth-batch` images: the paper's 4 on
  a GPU, 1 on a CPU by default (a 512 px step takes over a minute per image there).

Seconds are wall-clock per stage (the stage's own process; starting Python is not counted), with
the part spent loading and, where the project logs it, the part spent computing. Peak memory is
the stage process's peak resident set (`resource.getrusage`) and, on a GPU,
`torch.cuda.max_memory_allocated`. Prints a table, then one JSON object on the last line.

`--estimate` adds an estimate (computed, not measured) of the GPU memory the paper's DreamBooth
needs at batch 4, 512 px, fp32: weights, gradients and AdamW's two moments from the parameter
counts (16 bytes per parameter; bitsandbytes' 8-bit AdamW keeps the moments of tensors of 4,096
elements or more in one byte each), the frozen VAE, and the activations kept for the backward
pass, counted by running each UNet's training forward on PyTorch's meta device (no memory, no
arithmetic) with attention as a fused kernel keeps it (inputs, output and log-sum-exp, not the
4096 x 4096 attention matrix), without and with gradient checkpointing (block inputs kept, plus
the largest block's activations while it is recomputed). The peak is the larger of two
moments: the backward pass (weights, gradients, moments and activations all counted as held at
once, an overestimate: gradients fill as activations are freed) and the optimizer step (torch's
foreach AdamW, CUDA's default, allocates one more parameter-sized buffer; 8-bit AdamW updates in
place). The first step holds no moments yet, so it peaks lower. Not counted: the CUDA context
(~0.5 GB), the allocator's slack, transient gradients of activations, the VAE's encoding, and
8-bit AdamW's quantisation statistics.

`--tiny` runs every stage with tiny dimensions (64 px, two-layer text encoders) through the
same code, in seconds: the test suite runs it. Not run in CI at full size: on a 2-core CPU it
takes about 6 minutes and 16 GB of memory (the DreamBooth stage's peak, at batch 1).
"""

from __future__ import annotations

import argparse
import copy
import gzip
import importlib.util
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT_CLASS = "psoriasis"
GIB = 2**30
STAGES = ("build", "text2img", "inpaint", "inoutpaint", "dreambooth")
DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
SD_VAE = {  # both repositories' vae/config.json (SD 2's says sample_size 768, SD 1's 512)
    "_class_name": "AutoencoderKL",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 512,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
NOISE = {  # both scheduler_config.json files: Stable Diffusion's training noise schedule
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "trained_betas": None,
}
TOKENIZER = {  # tokenizer_config.json (the vocabulary files are written separately)
    "tokenizer_class": "CLIPTokenizer",
    "model_max_length": 77,
    "do_lower_case": True,
    "add_prefix_space": False,
    "errors": "replace",
    "bos_token": "<|startoftext|>",
    "eos_token": "<|endoftext|>",
    "unk_token": "<|endoftext|>",
}
MODELS = {
    "text2img": {  # stabilityai/stable-diffusion-2-1-base
        "repository": "stabilityai/stable-diffusion-2-1-base",
        "unet": {
            "_class_name": "UNet2DConditionModel",
            "act_fn": "silu",
            "attention_head_dim": [5, 10, 20, 20],
            "block_out_channels": [320, 640, 1280, 1280],
            "center_input_sample": False,
            "cross_attention_dim": 1024,
            "down_block_types": DOWN,
            "downsample_padding": 1,
            "dual_cross_attention": False,
            "flip_sin_to_cos": True,
            "freq_shift": 0,
            "in_channels": 4,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1,
            "norm_eps": 1e-05,
            "norm_num_groups": 32,
            "num_class_embeds": None,
            "only_cross_attention": False,
            "out_channels": 4,
            "sample_size": 64,
            "up_block_types": UP,
            "upcast_attention": False,
            "use_linear_projection": True,
        },
        "text_encoder": {  # OpenCLIP ViT-H/14's text tower, less its last layer
            "architectures": ["CLIPTextModel"],
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "dropout": 0.0,
            "eos_token_id": 2,
            "hidden_act": "gelu",
            "hidden_size": 1024,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 4096,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77,
            "model_type": "clip_text_model",
            "num_attention_heads": 16,
            "num_hidden_layers": 23,
            "pad_token_id": 1,
            "projection_dim": 512,
            "vocab_size": 49408,
        },
        "vae": SD_VAE,
        "scheduler": {
            "_class_name": "PNDMScheduler",
            **NOISE,
            "prediction_type": "epsilon",
            "skip_prk_steps": True,
        },
        "tokenizer": {**TOKENIZER, "pad_token": "!"},  # OpenCLIP pads with token 0, "!"
    },
    "inpaint": {  # runwayml/stable-diffusion-inpainting
        "repository": "runwayml/stable-diffusion-inpainting",
        "unet": {
            "_class_name": "UNet2DConditionModel",
            "act_fn": "silu",
            "attention_head_dim": 8,
            "block_out_channels": [320, 640, 1280, 1280],
            "center_input_sample": False,
            "cross_attention_dim": 768,
            "down_block_types": DOWN,
            "downsample_padding": 1,
            "flip_sin_to_cos": True,
            "freq_shift": 0,
            "in_channels": 9,
            "layers_per_block": 2,
            "mid_block_scale_factor": 1,
            "norm_eps": 1e-05,
            "norm_num_groups": 32,
            "out_channels": 4,
            "sample_size": 64,
            "up_block_types": UP,
        },
        "text_encoder": {  # openai/clip-vit-large-patch14's text tower
            "architectures": ["CLIPTextModel"],
            "attention_dropout": 0.0,
            "bos_token_id": 0,
            "dropout": 0.0,
            "eos_token_id": 2,
            "hidden_act": "quick_gelu",
            "hidden_size": 768,
            "initializer_factor": 1.0,
            "initializer_range": 0.02,
            "intermediate_size": 3072,
            "layer_norm_eps": 1e-05,
            "max_position_embeddings": 77,
            "model_type": "clip_text_model",
            "num_attention_heads": 12,
            "num_hidden_layers": 12,
            "pad_token_id": 1,
            "projection_dim": 768,
            "vocab_size": 49408,
        },
        "vae": SD_VAE,
        "scheduler": {"_class_name": "DDIMScheduler", **NOISE},
        "tokenizer": {**TOKENIZER, "pad_token": "<|endoftext|>"},
    },
}
# --tiny: the same architectures at toy widths (64 px images, 8 x 8 latents)
TINY_RESOLUTION = 64
TINY = {
    "unet": {
        "block_out_channels": [32, 32, 64, 64],
        "layers_per_block": 1,
        "sample_size": 8,
        "attention_head_dim": {"text2img": [2, 2, 4, 4], "inpaint": 8},
    },
    "text_encoder": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "projection_dim": 32,
    },
    "vae": {"block_out_channels": [32, 32, 32, 32], "layers_per_block": 1, "sample_size": 64},
}
# open_clip's SimpleTokenizer: 256 bytes, 256 bytes at a word's end, these merges, 2 specials
CLIP_MERGES = 49152 - 256 - 2
PAPER_DREAMBOOTH_BATCH = 4


def model_config(kind: str, tiny: bool) -> dict:
    """The component configurations of one pipeline, real or tiny."""
    config = copy.deepcopy(MODELS[kind])
    if tiny:
        for component, changes in TINY.items():
            for key, value in changes.items():
                config[component][key] = value[kind] if isinstance(value, dict) else value
        config["unet"]["cross_attention_dim"] = config["text_encoder"]["hidden_size"]
    return config


# -- the tokenizer -------------------------------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's (and CLIP's) map of the 256 bytes to printable characters."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, chars), strict=True))


def find_clip_vocabulary() -> Path | None:
    """open_clip's `bpe_simple_vocab_16e6.txt.gz`, where open_clip is installed (not imported)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "bpe_simple_vocab_16e6.txt.gz"
        if path.is_file():
            return path
    return None


def write_clip_tokenizer(folder: Path, vocabulary: Path, config: dict) -> int:
    """CLIP's tokenizer folder (vocab.json, merges.txt) from open_clip's BPE file, as
    transformers' CLIPTokenizer reads it; returns the vocabulary's size (49,408)."""
    lines = gzip.open(vocabulary).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : CLIP_MERGES + 1]]
    chars = list(bytes_to_unicode().values())
    tokens = chars + [c + "</w>" for c in chars] + ["".join(m) for m in merges]
    tokens += [config["bos_token"], config["eos_token"]]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges))
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return len(tokens)


def write_tokenizer_folder(folder: Path, vocabulary: Path | None, config: dict) -> str:
    """The tokenizer folder of one pipeline; returns where its vocabulary came from."""
    if vocabulary is not None:
        size = write_clip_tokenizer(folder, vocabulary, config)
        return f"CLIP BPE, {size} tokens, from {vocabulary.name}"
    from dermsynth.sd.tiny import PROMPT_WORDS, write_tokenizer

    vocab = write_tokenizer(folder, [PROMPT_WORDS, PROMPT_CLASS])  # pads with its end token
    return f"learned from the prompt words ({len(vocab)} tokens; no CLIP vocabulary found)"


# -- building the pipelines --------------------------------------------------------------------


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def build_pipeline(folder: Path, kind: str, tiny: bool, vocabulary: Path | None, seed=0) -> dict:
    """One randomly initialised pipeline saved in diffusers layout; returns its parameter
    counts and its tokenizer's source."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    config = model_config(kind, tiny)
    tokenizer_source = write_tokenizer_folder(folder / "tokenizer", vocabulary, config["tokenizer"])
    tokenizer_files = {p.name: p.read_bytes() for p in (folder / "tokenizer").iterdir()}
    torch.manual_seed(seed)
    text = {k: v for k, v in config["text_encoder"].items() if k not in ("architectures",)}
    components = {
        "unet": diffusers.UNet2DConditionModel.from_config(config["unet"]),
        "vae": diffusers.AutoencoderKL.from_config(config["vae"]),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**text)),
        "scheduler": getattr(diffusers, config["scheduler"]["_class_name"]).from_config(
            config["scheduler"]
        ),
        "tokenizer": CLIPTokenizer.from_pretrained(folder / "tokenizer"),
    }
    params = {name: count(components[name]) for name in ("unet", "text_encoder", "vae")}
    pipeline_class = {
        "text2img": diffusers.StableDiffusionPipeline,
        "inpaint": diffusers.StableDiffusionInpaintPipeline,
    }[kind]
    pipeline = pipeline_class(
        **components, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipeline.save_pretrained(folder, safe_serialization=True)
    (folder / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)  # real folders have none
    for name, data in tokenizer_files.items():
        (folder / "tokenizer" / name).write_bytes(data)
    return {"params": params, "tokenizer": tokenizer_source, "repository": config["repository"]}


# -- the stages (each in its own process) ------------------------------------------------------


def _sources(work: Path, count_: int, resolution: int):
    """`count_` random source images, as preprocessed copies at `resolution` px."""
    import numpy as np

    from dermsynth.data.png import write_png
    from dermsynth.data.preprocess import resized_path
    from dermsynth.sd.generate import Source

    rng = np.random.default_rng(0)
    sources = []
    for i in range(count_):
        path = resized_path(work / "images", resolution, f"src{i}")
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8))
        sources.append(Source(f"src{i}", i, str(path)))
    return sources


class _Timer:
    """Seconds spent inside a module-level function, wrapped where it is looked up while the
    `with` block runs."""

    def __init__(self, module, name: str):
        self.module, self.name, self.seconds = module, name, 0.0
        self.original = getattr(module, name)

    def __enter__(self):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.original)


def stage_build(work: Path, plan: dict) -> dict:
    import gc

    out = {}
    for kind in ("text2img", "inpaint"):
        vocabulary = Path(plan["vocabulary"]) if plan["vocabulary"] else None
        out[kind] = build_pipeline(work / "models" / kind, kind, plan["tiny"], vocabulary)
        gc.collect()
    return out


def stage_generate(method: str, work: Path, plan: dict) -> dict:
    import pandas as pd

    import dermsynth.sd.generate as generate
    from dermsynth.sd.generate import GenerateSettings, items_from_manifest, shard_items

    resolution = plan["resolution"]
    settings = GenerateSettings(
        resolution=resolution,
        source_size=resolution,
        steps=plan["steps"],
        per_source=1,
        batch_size=1,
        precision="auto",
        mask_fraction=(0.5, 0.5),
    )
    if method == "inoutpaint":
        items = items_from_manifest(work / "inpaint" / "manifest.csv")
    else:
        items = shard_items(_sources(work, 1, resolution), 1, (0, 1))
    model = work / "models" / ("text2img" if method == "text2img" else "inpaint")
    with _Timer(generate, "load_pipeline") as loading, _Timer(generate, "make_images") as making:
        manifest = generate.generate_shard(
            method,
            "pretrained",
            "benchmark",
            PROMPT_CLASS,
            items,
            work / method / "manifest.csv",
            settings,
            model=model,
        )
    row = pd.Series(manifest.iloc[0])
    return {
        "load_seconds": loading.seconds,
        "compute_seconds": making.seconds,
        "steps_asked": plan["steps"],
        "steps_taken": int(row["steps"]),
        "precision": row["precision"],
        "scheduler_class": row["scheduler_class"],
        "device": row["device"],
    }


class _LogValue(logging.Handler):
    """The seconds of dreambooth's "trained %d steps in %.1f s" log line."""

    def __init__(self):
        super().__init__()
        self.seconds = None

    def emit(self, record):
        if str(record.msg).startswith("trained %d steps in"):
            self.seconds = float(record.args[1])


def stage_dreambooth(work: Path, plan: dict) -> dict:
    import pandas as pd

    import dermsynth.sd.dreambooth as dreambooth

    resolution, batch = plan["resolution"], plan["dreambooth_batch"]
    sources = _sources(work, batch, resolution)
    images = pd.DataFrame(
        {
            "image_id": [s.image_id for s in sources],
            "label": PROMPT_CLASS,
            "split": "train",
            "pool_rank": [s.pool_rank for s in sources],
            "skin_type": "",
        }
    )
    settings = dreambooth.DreamBoothSettings(
        resolution=resolution,
        source_size=resolution,
        batch_size=batch,
        max_steps=1,
        precision="fp32",
    )
    step, logger = _LogValue(), logging.getLogger(dreambooth.__name__)
    level = logger.level
    logger.addHandler(step)
    logger.setLevel(logging.INFO)
    try:
        with _Timer(dreambooth, "load_pipeline") as loading:
            losses = dreambooth.train_dreambooth(
                work / "models" / "text2img",
                "text2img",
                PROMPT_CLASS,
                images,
                work / "images",
                work / "dreambooth" / "out",
                settings,
                work / "dreambooth" / "state.pt",
            )
    finally:
        logger.removeHandler(step)
        logger.setLevel(level)
    return {
        "load_seconds": loading.seconds,
        "compute_seconds": step.seconds,
        "batch": batch,
        "loss": float(losses["loss"].iloc[-1]),
        "precision": "fp32",
    }


def run_stage(name: str, work: Path) -> dict:
    """One stage in this process: its result, seconds and peak memory."""
    import torch

    plan = json.loads((work / "plan.json").read_text())
    if plan["threads"]:
        torch.set_num_threads(plan["threads"])
    import diffusers  # noqa: F401  imported before the clock starts: not a stage's cost
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline  # noqa: F401
    from transformers import CLIPTextModel  # noqa: F401

    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    if name == "build":
        result = {"models": stage_build(work, plan)}
    elif name == "dreambooth":
        result = stage_dreambooth(work, plan)
    else:
        result = stage_generate(name, work, plan)
    result["seconds"] = time.perf_counter() - started
    result["peak_host_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated() if gpu else None
    return result


def stage_in_subprocess(name: str, work: Path) -> dict:
    """Run one stage in a fresh Python process of this script; its JSON result."""
    done = subprocess.run(
        [sys.executable, __file__, "--stage", name, "--work", str(work)],
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"stage {name} failed (exit {done.returncode}); its log is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the estimate ------------------------------------------------------------------------------


class _Saved:
    """Bytes of the distinct activations autograd keeps for the backward pass: the tensors it
    saves (views counted as their base), less the parameters (counted as weights)."""

    def __init__(self):
        self.tensors: dict[int, object] = {}

    def add(self, tensor) -> None:
        base = tensor._base if tensor._base is not None else tensor
        if base.is_leaf and base.requires_grad:  # a parameter, not an activation
            return
        self.tensors.setdefault(id(base), base)  # the tensor stays referenced: ids stay unique

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def hooks(self):
        import torch

        def pack(tensor):
            self.add(tensor)
            return tensor

        return torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)


def _fused_attention():
    """scaled_dot_product_attention keeping what a fused kernel keeps: q, k, v, the output and
    the log-sum-exp per query (the meta device would otherwise decompose it and keep the
    attention matrix)."""
    import torch

    original = torch.nn.functional.scaled_dot_product_attention

    class Fused(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v):
            with torch.no_grad():
                out = original(q, k, v)
            lse = q.new_empty(q.shape[:-1])
            ctx.save_for_backward(q, k, v, out, lse)
            return out

        @staticmethod
        def backward(ctx, grad):  # pragma: no cover - the estimate never runs backward
            raise NotImplementedError

    def attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **kw):
        if attn_mask is not None or is_causal or scale is not None or kw:
            return original(q, k, v, attn_mask, dropout_p, is_causal, scale=scale, **kw)
        return Fused.apply(q, k, v)

    return original, attention


def activation_bytes(unet_config: dict, resolution: int, checkpointing: bool) -> dict:
    """Activations one 512 px image keeps through a UNet's training forward, on the meta
    device: kept through the forward (`kept`) and, with checkpointing, the largest
    checkpointed block's own activations while it is recomputed (`recompute`)."""
    import diffusers
    import torch

    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel.from_config(unet_config)
    unet.train()
    saved, recompute = _Saved(), [0]
    if checkpointing:

        def checkpoint(module, *args):  # as torch.utils.checkpoint: keep the inputs only
            for arg in args:
                if isinstance(arg, torch.Tensor):
                    saved.add(arg)
            inner = _Saved()
            with inner.hooks():
                out = module(*args)
            recompute[0] = max(recompute[0], inner.bytes)
            return out

        unet.enable_gradient_checkpointing(gradient_checkpointing_func=checkpoint)
    latent = resolution // 8
    sample = torch.empty(1, unet_config["in_channels"], latent, latent, device="meta")
    context = torch.empty(1, 77, unet_config["cross_attention_dim"], device="meta")
    timestep = torch.zeros(1, dtype=torch.long, device="meta")
    original, fused = _fused_attention()
    torch.nn.functional.scaled_dot_product_attention = fused
    try:
        with saved.hooks():
            unet(sample, timestep, context)
    finally:
        torch.nn.functional.scaled_dot_product_attention = original
    return {"kept": saved.bytes, "recompute": recompute[0]}


def optimizer_state_bytes(unet_config: dict) -> dict:
    """AdamW's moments: fp32 (8 bytes per parameter), or 8-bit as bitsandbytes keeps them
    (1 byte each for tensors of at least 4,096 elements, its min_8bit_size; fp32 below)."""
    import diffusers
    import torch

    with torch.device("meta"):
        unet = diffusers.UNet2DConditionModel.from_config(unet_config)
    sizes = [p.numel() for p in unet.parameters()]
    eight_bit = sum(2 * n if n >= 4096 else 8 * n for n in sizes)
    return {"params": sum(sizes), "adamw": 8 * sum(sizes), "adamw_8bit": eight_bit}


def estimate(batch: int = PAPER_DREAMBOOTH_BATCH, resolution: int = 512) -> dict:
    """The estimated GPU memory of the paper's full-UNet fp32 DreamBooth, per base model."""
    import diffusers
    import torch

    with torch.device("meta"):
        vae = diffusers.AutoencoderKL.from_config(SD_VAE)
    out = {}
    for kind in ("text2img", "inpaint"):
        config = MODELS[kind]["unet"]
        state = optimizer_state_bytes(config)
        plain = activation_bytes(config, resolution, checkpointing=False)
        checkpointed = activation_bytes(config, resolution, checkpointing=True)
        weights = grads = 4 * state["params"]
        rows = {}
        for eight_bit in (False, True):
            for ckpt in (False, True):
                activations = (
                    batch * (checkpointed["kept"] + checkpointed["recompute"])
                    if ckpt
                    else batch * plain["kept"]
                )
                moments = state["adamw_8bit" if eight_bit else "adamw"]
                # torch's foreach AdamW (CUDA's default) allocates sqrt(v) for every parameter
                # in its step, when the activations are gone; bitsandbytes updates in place
                step_temporary = 0 if eight_bit else 4 * state["params"]
                held = weights + grads + moments + 4 * count(vae)
                row = {
                    "weights": weights,
                    "grads": grads,
                    "moments": moments,
                    "activations": activations,
                    "frozen_vae": 4 * count(vae),
                    "step_temporary": step_temporary,
                    "peak": held + max(activations, step_temporary),
                }
                rows[("8bit_adam" if eight_bit else "adamw") + ("_checkpointing" * ckpt)] = row
        out[kind] = {
            "repository": MODELS[kind]["repository"],
            "unet_params": state["params"],
            "activations_per_image": plain["kept"],
            "activations_per_image_checkpointing": checkpointed["kept"] + checkpointed["recompute"],
            "configurations": rows,
        }
    return {"batch": batch, "resolution": resolution, "precision": "fp32", "models": out}


# -- the report --------------------------------------------------------------------------------


def _gib(value) -> str:
    return "-" if value is None else f"{value / GIB:.2f}"


def _seconds(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_report(report: dict) -> None:
    print(
        f"device: {report['device']}, {report['threads']} threads; "
        f"{'TINY models' if report['tiny'] else 'full-size models'} at "
        f"{report['resolution']} px; {report['steps']} steps asked"
    )
    for kind, built in report["models"].items():
        params = ", ".join(f"{k} {v / 1e6:.1f}M" for k, v in built["params"].items())
        print(f"  {kind}: {built['repository']} ({params}); tokenizer: {built['tokenizer']}")
    header = (
        f"{'stage':<11} {'seconds':>8} {'load s':>7} {'compute s':>9} "
        f"{'peak RSS GiB':>12} {'peak GPU GiB':>12}  notes"
    )
    print(header)
    print("-" * len(header))
    for name, row in report["stages"].items():
        notes = ""
        if "steps_taken" in row:
            notes = f"{row['steps_taken']} of {row['steps_asked']} steps, {row['precision']}"
        elif name == "dreambooth":
            notes = f"1 step, batch {row['batch']}, fp32, loss {row['loss']:.4f}"
        print(
            f"{name:<11} {_seconds(row['seconds']):>8} {_seconds(row.get('load_seconds')):>7} "
            f"{_seconds(row.get('compute_seconds')):>9} {_gib(row['peak_host_bytes']):>12} "
            f"{_gib(row['peak_gpu_bytes']):>12}  {notes}"
        )
    if "estimate" in report:
        est = report["estimate"]
        print(
            "\nESTIMATE (computed, not measured): GPU memory of the paper's DreamBooth, full "
            f"UNet, {est['precision']}, batch {est['batch']}, {est['resolution']} px, GiB"
        )
        columns = [
            "weights",
            "grads",
            "moments",
            "activations",
            "frozen_vae",
            "step_temporary",
            "peak",
        ]
        for kind, model in est["models"].items():
            per_image = _gib(model["activations_per_image"])
            checkpointed = _gib(model["activations_per_image_checkpointing"])
            print(
                f"  {kind}: {model['repository']}, UNet {model['unet_params'] / 1e6:.1f}M; "
                f"activations per image {per_image} ({checkpointed} with checkpointing)"
            )
            print(f"    {'configuration':<24}" + "".join(f"{c:>15}" for c in columns))
            for name, row in model["configurations"].items():
                print(f"    {name:<24}" + "".join(f"{_gib(row[c]):>15}" for c in columns))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="toy widths, 64 px (tests)")
    parser.add_argument("--steps", type=int, default=2, help="denoising steps asked per image")
    parser.add_argument(
        "--stages",
        default=",".join(STAGES[1:]),
        help="stages to run after building (comma-separated)",
    )
    parser.add_argument(
        "--dreambooth-batch",
        type=int,
        default=None,
        help="training images per step (default: 4 on a GPU, 1 on a CPU)",
    )
    parser.add_argument(
        "--vocab",
        type=Path,
        default=None,
        help="open_clip's bpe_simple_vocab_16e6.txt.gz (default: found)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the stages in this process (tests; the peaks then add up)",
    )
    parser.add_argument("--estimate", action="store_true", help="add the DreamBooth estimate")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--work", type=Path, default=None, help="keep the models here")
    parser.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # a stage's process
    args = parser.parse_args(argv)
    if args.stage:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        print(json.dumps(run_stage(args.stage, args.work)))
        return 0

    import torch

    gpu = torch.cuda.is_available()
    stages = [s for s in args.stages.split(",") if s]
    unknown = set(stages) - set(STAGES[1:])
    if unknown:
        parser.error(f"unknown stage(s) {sorted(unknown)}; stages: {STAGES[1:]}")
    vocabulary = args.vocab or find_clip_vocabulary()
    plan = {
        "tiny": args.tiny,
        "resolution": TINY_RESOLUTION if args.tiny else 512,
        "steps": args.steps,
        "dreambooth_batch": args.dreambooth_batch or (PAPER_DREAMBOOTH_BATCH if gpu else 1),
        "vocabulary": str(vocabulary) if vocabulary else None,
        "threads": args.threads,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "plan.json").write_text(json.dumps(plan))
        report = {
            "device": torch.cuda.get_device_name() if gpu else "cpu",
            "threads": args.threads or torch.get_num_threads(),
            "tiny": args.tiny,
            "resolution": plan["resolution"],
            "steps": args.steps,
        }
        run = (
            (lambda name: run_stage(name, work))
            if args.in_process
            else (lambda name: stage_in_subprocess(name, work))
        )
        if (work / "models.json").is_file():  # --work: built by an earlier run
            built = json.loads((work / "models.json").read_text())
        else:
            built = run("build")
            (work / "models.json").write_text(json.dumps(built))
        report["models"] = built.pop("models")
        report["stages"] = {"build": built}
        if "inoutpaint" in stages and "inpaint" not in stages:
            stages.insert(stages.index("inoutpaint"), "inpaint")  # it starts from inpaint's
        for name in stages:
            report["stages"][name] = run(name)
    if args.estimate:
        report["estimate"] = estimate()
    print_report(report)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Images per second of Stable Diffusion generation: our batched path against stock diffusers.

"stock" calls the pipeline once per image (prompt, generator, steps, guidance: what diffusers'
documentation shows); "ours" is `dermsynth.sd.generate.make_images` at batch 1, 8 and 16 (one
generator per image, prompts batched, channels-last, PNGs written), on the same loaded pipeline.
Both run 50 DPM-Solver++ steps at guidance 3.0.

By default the models are the demo's tiny ones (64 px images, 16 x 16 latents) on this machine's
CPU. `--models full` (or `tiny,full`) builds randomly initialised UNet, VAE and text encoder
from the configurations of stabilityai/stable-diffusion-2-1-base (512 px, 64 x 64 latents; the
inpainting UNet with 9 input channels) and runs `--full-steps` steps: on a CPU only a couple of
steps at batch 1 and 2 are feasible (about 25 minutes on 2 shared cores, about a minute per
512 px image, with run-to-run noise too large to compare paths); on a GPU, pass
`--full-steps 50 --full-batches 1,8,16` (fp16).

Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from dermsynth.sd import masks  # noqa: E402
from dermsynth.sd.generate import GenerateSettings, Item, make_images  # noqa: E402
from dermsynth.sd.load import load_pipeline  # noqa: E402
from dermsynth.sd.tiny import write_tiny_models, write_tokenizer  # noqa: E402

PROMPT_CLASS = "psoriasis"
# stabilityai/stable-diffusion-2-1-base: unet/, vae/ and text_encoder/ config.json
SD21_UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "cross_attention_dim": 1024,
    "attention_head_dim": (5, 10, 20, 20),
    "use_linear_projection": True,
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
}
SD21_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
}
SD21_TEXT = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 23,
    "num_attention_heads": 16,
    "max_position_embeddings": 77,
    "projection_dim": 512,
    "hidden_act": "gelu",
}


def full_size_models(root: Path) -> dict[str, Path]:
    """Randomly initialised full-size pipelines (our small tokenizer) in diffusers folders."""
    from diffusers import (
        AutoencoderKL,
        DPMSolverMultistepScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from dermsynth.sd.tiny import BOS, EOS, NOISE_SCHEDULE

    folders = {}
    for kind, channels, cls in (
        ("text2img", 4, StableDiffusionPipeline),
        ("inpaint", 9, StableDiffusionInpaintPipeline),
    ):
        folder = root / kind
        vocab = write_tokenizer(folder / "tokenizer", [PROMPT_CLASS])
        torch.manual_seed(0)
        text = CLIPTextConfig(
            vocab_size=len(vocab),
            bos_token_id=vocab[BOS],
            eos_token_id=vocab[EOS],
            pad_token_id=vocab[EOS],
            **SD21_TEXT,
        )
        pipeline = cls(
            unet=UNet2DConditionModel(**{**SD21_UNET, "in_channels": channels}),
            vae=AutoencoderKL(**SD21_VAE),
            text_encoder=CLIPTextModel(text),
            tokenizer=CLIPTokenizer.from_pretrained(folder / "tokenizer"),
            scheduler=DPMSolverMultistepScheduler(**NOISE_SCHEDULE),
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        files = {p.name: p.read_bytes() for p in (folder / "tokenizer").iterdir()}
        pipeline.save_pretrained(folder)
        for name, data in files.items():
            (folder / "tokenizer" / name).write_bytes(data)
        folders[kind] = folder
    return folders


def source_files(folder: Path, count: int, size: int) -> list[Item]:
    """Random real-looking source images (inpainting starts from them)."""
    rng = np.random.default_rng(0)
    items = []
    for i in range(count):
        path = folder / f"src{i}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        items.append(Item(f"src{i}", i, 0, str(path)))
    return items


def stock(pipeline, method: str, items: list[Item], settings: GenerateSettings) -> float:
    """One pipeline call per image, as diffusers' documentation writes it."""
    size = settings.resolution
    grid = size // pipeline.vae_scale_factor
    mask = Image.fromarray((masks.inpaint_mask(size, grid, 0.5) * 255).astype(np.uint8))
    started = time.perf_counter()
    for i, item in enumerate(items):
        kwargs = {}
        if method == "inpaint":
            kwargs = {"image": Image.open(item.init_file), "mask_image": mask, "strength": 0.97}
        pipeline(
            prompt=f"An image of {PROMPT_CLASS}, a skin disease",
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            generator=torch.Generator().manual_seed(i),
            height=size,
            width=size,
            **kwargs,
        ).images[0].save(Path(item.init_file).parent / f"stock_{i}.png")
    return time.perf_counter() - started


def run(
    folders, resolution, steps, batches, images, device, dtype, work: Path, repeats: int
) -> list[dict]:
    """Seconds of each configuration: the least of `repeats` runs (other loads only add)."""
    rows = []
    for method in ("text2img", "inpaint"):
        pipeline = load_pipeline(folders[method], method, device=device, dtype=dtype)
        settings = GenerateSettings(
            resolution=resolution, steps=steps, guidance_scale=3.0, batch_size=1, precision="fp32"
        )
        items = source_files(work, images, resolution)
        stock(pipeline, method, items[:1], settings)  # warm-up
        make_images(pipeline, method, "pretrained", PROMPT_CLASS, items[:1], work / "w", settings)
        seconds = min(stock(pipeline, method, items, settings) for _ in range(repeats))
        rows.append(
            {"method": method, "path": "stock", "batch": 1, "images": images, "seconds": seconds}
        )
        pipeline.unet.to(memory_format=torch.channels_last)
        pipeline.vae.to(memory_format=torch.channels_last)
        for batch in batches:
            run_settings = GenerateSettings(
                resolution=resolution, steps=steps, guidance_scale=3.0, batch_size=batch
            )
            seconds = min(
                make_images(
                    pipeline,
                    method,
                    "pretrained",
                    PROMPT_CLASS,
                    items,
                    work / f"{method}-b{batch}-{r}",
                    run_settings,
                )
                for r in range(repeats)
            )
            rows.append(
                {
                    "method": method,
                    "path": "ours",
                    "batch": batch,
                    "images": images,
                    "seconds": seconds,
                }
            )
        del pipeline
    for row in rows:
        row["images_per_s"] = row["images"] / row["seconds"]
        base = next(r for r in rows if r["method"] == row["method"] and r["path"] == "stock")
        row["vs_stock"] = row["images_per_s"] / (base["images"] / base["seconds"])
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=16, help="images per configuration")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batches", default="1,8,16")
    parser.add_argument("--models", default="tiny", help="tiny, full or tiny,full")
    parser.add_argument("--full-steps", type=int, default=2)
    parser.add_argument("--full-images", type=int, default=2)
    parser.add_argument("--full-batches", default="1,2")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    report = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "guidance": 3.0,
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        models = args.models.split(",")
        if "tiny" in models:
            tiny = write_tiny_models(work / "tiny", seed=0, texts=[PROMPT_CLASS])
            batches = [int(b) for b in args.batches.split(",")]
            (work / "t").mkdir()
            report["tiny_steps"] = args.steps
            report["tiny"] = run(
                tiny,
                64,
                args.steps,
                batches,
                args.images,
                device,
                torch.float32,
                work / "t",
                args.repeats,
            )
        if "full" in models:
            folders = full_size_models(work / "full")
            (work / "f").mkdir()
            dtype = torch.float16 if device == "cuda" else torch.float32
            full_batches = [int(b) for b in args.full_batches.split(",")]
            report["full_size"] = run(
                folders,
                512,
                args.full_steps,
                full_batches,
                args.full_images,
                device,
                dtype,
                work / "f",
                1,
            )
            report["full_steps"] = args.full_steps
    print(f"{'models':<10} {'method':<9} {'path':<6} {'batch':>5} {'images/s':>9} {'vs stock':>9}")
    for models in ("tiny", "full_size"):
        for row in report.get(models, []):
            print(
                f"{models:<10} {row['method']:<9} {row['path']:<6} {row['batch']:>5} "
                f"{row['images_per_s']:>9.3f} {row['vs_stock']:>8.2f}x"
            )
    for models, method in [(m, k) for m in ("tiny", "full_size") for k in ("text2img", "inpaint")]:
        rates = {
            r["batch"]: r["images_per_s"]
            for r in report.get(models, [])
            if r["method"] == method and r["path"] == "ours"
        }
        for batch in sorted(rates)[1:]:
            report[f"{models}_{method}_batch{batch}_over_batch1"] = rates[batch] / rates[1]
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

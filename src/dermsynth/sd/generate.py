"""Synthetic images by text-to-image, inpainting and in-then-outpainting (paper 2), in shards.

Settings as the authors' generation code (`generation/generate.py`): prompt "An image of
{label}, a skin disease" (an image whose source row names a disease, DDI's, is called by it:
`sources.prompt_for`), guidance 3.0, 50 DPM-Solver++ steps, 10 images per real training image,
inpainting strength 0.97 over a centred square (`dermsynth.sd.masks`), then an outpainting pass
at strength 0.95 over everything else but a 16 px frame. Their seeds differ: one generator,
seeded once per run, so their pixels depend on batch order; ours are per image (below). The
pipelines are diffusers' own (StableDiffusionPipeline, StableDiffusionInpaintPipeline), loaded
by `dermsynth.sd.load`.

Each synthetic image is an item: (source real image, its pool_rank, index 0..per_source-1). Its
seed comes from (seed, method, variant, class, source image, index), and its pipeline gets a
torch.Generator of its own (diffusers takes one per batch row), so an image does not depend on
its shard, its batch or the images beside it (up to rounding: batched kernels round differently
at different batch sizes). The mask of an item depends on (seed, class, source image, index)
only, so its inpainting and in-then-outpainting share it: the `inoutpaint` shard k starts from
the images of the `inpaint` shard k, and the inpainting is never computed twice.

A shard makes its images into a work folder, each written atomically, and skips images already
there, so a killed shard resumes; once every image is made, it packs them into one WebDataset
tar in the layout of the authors' released shards (`dermsynth.webdataset`: `<key>.png` and a
`<key>.json` with the authors' fields, `name, md5hash, label, method, submethod,
generation_num, tag`, then every manifest field but `file`), removes the work folder (or keeps
it as loose PNGs beside the tar, `loose_png`), and writes its manifest last: one row per image,
its `file` the reference `<shard.tar>#<key>.png`.

A manifest row records what ran for its image, as the pipeline reports it after the call: the
denoising steps taken (`steps`), the scheduler's class, the precision and the device. Steps
taken are not the steps asked for where a pass starts from an image: diffusers' inpainting
pipeline (`StableDiffusionInpaintPipeline.get_timesteps`) runs the last
`min(int(steps * strength), steps)` of the scheduler's timesteps, so 50 steps at the paper's
strengths run 48 (0.97) and 47 (0.95) UNet evaluations. Those values are kept, per image, in
`provenance.csv` beside the images as each batch is written (and in each image's json once
packed), so a resumed shard's manifest still records how its earlier images were made (an image
with no such record is made again).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from tqdm import tqdm

from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path
from dermsynth.design.released import authors_label, authors_names, generation_folder
from dermsynth.errors import DataError
from dermsynth.io import atomic_path, image_is_readable, read_table, write_csv
from dermsynth.sd import masks
from dermsynth.sd.load import check_folder, load_pipeline, model_sha256
from dermsynth.sd.sources import PROMPT, prompt_for, read_rgb, square_rgb
from dermsynth.seeds import derived_seed, text_key
from dermsynth.shards import even_ranges
from dermsynth.webdataset import (
    has_member,
    image_ref,
    iter_samples,
    pack_shard,
    work_folder,
)

log = logging.getLogger(__name__)

METHODS = ("text2img", "inpaint", "inoutpaint")
VARIANTS = ("pretrained", "dreambooth")
BASE_OF = {"text2img": "text2img", "inpaint": "inpaint", "inoutpaint": "inpaint"}
MANIFEST_COLUMNS = [
    "file",
    "method",
    "variant",
    "dataset",
    "class",
    "source_image",
    "pool_rank",
    "skin_type",
    "disease",
    "index",
    "init_image",
    "prompt",
    "seed",
    "steps",
    "guidance_scale",
    "strength",
    "mask_fraction",
    "scheduler",
    "scheduler_class",
    "precision",
    "device",
    "model_sha256",
]
# what ran for each image: written beside the images batch by batch (a resumed shard reads it)
PROVENANCE_FILE = "provenance.csv"
PROVENANCE_COLUMNS = ["file", "steps", "scheduler_class", "precision", "device"]
PRECISIONS = ("auto", "fp16", "bf16", "fp32")
MASK_STREAM = text_key("mask")


@dataclass(frozen=True)
class GenerateSettings:
    """Generation knobs; defaults are the authors' but the mask's side range (the shipped
    configs set the authors' fixed square, [0.5, 0.5]) and the seeds."""

    resolution: int = 512
    source_size: int | None = None  # preprocessed copies to read (default: resolution)
    guidance_scale: float = 3.0
    steps: int = 50
    per_source: int = 10
    strength_inpaint: float = 0.97
    strength_outpaint: float = 0.95
    mask_fraction: tuple[float, float] = (0.25, 0.75)
    outpaint_border: int | None = None  # px; None: 16 px at 512, scaled to the resolution
    batch_size: int = 8
    precision: str = "auto"  # auto, fp16, bf16 or fp32: `resolve_precision`
    scheduler: str = "dpm++"
    prompt: str = PROMPT
    skin_type_in_prompt: bool = False
    seed: int = 0
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "mask_fraction", tuple(float(v) for v in self.mask_fraction))
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")


def settings_from(config: dict) -> GenerateSettings:
    known = set(GenerateSettings.__dataclass_fields__)  # the rest (shard_size) is the workflow's
    return GenerateSettings(**{k: v for k, v in config.items() if k in known})


class Source(NamedTuple):
    """A real training image synthetic images are made from."""

    image_id: str
    pool_rank: int | None
    file: str  # its preprocessed copy
    skin_type: str = ""
    disease: str = ""  # the name its prompt gives it, where its row has one (DDI)


class Item(NamedTuple):
    """One synthetic image to make."""

    source_image: str
    pool_rank: int | None
    index: int
    init_file: str = ""  # the image it starts from: real (inpaint), inpainted (inoutpaint)
    skin_type: str = ""
    mask_fraction: float | None = None  # inoutpaint: the side its inpainting square had
    disease: str = ""  # its source's disease (DDI): the prompt names it


def sources_from(frame: pd.DataFrame, images_dir: str | Path, size: int) -> list[Source]:
    """Sources of a `pool_sources` table, their files the `size` px preprocessed copies."""
    return [
        Source(
            str(row.image_id),
            None if pd.isna(row.pool_rank) else int(row.pool_rank),
            str(resized_path(images_dir, size, row.image_id)),
            _text(row.skin_type),
            _text(getattr(row, "disease", "")),
        )
        for row in frame.itertuples(index=False)
    ]


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def shard_items(
    sources: Sequence[Source] | None, per_source: int, shard: tuple[int, int]
) -> list[Item]:
    """The items of one shard: item k is image k % per_source of source k // per_source."""
    start, stop = shard
    items = []
    for k in range(start, stop):
        position, index = divmod(k, per_source)
        if sources is None:
            items.append(Item("", None, index))
        else:
            s = Source(*sources[position])
            items.append(
                Item(s.image_id, s.pool_rank, index, s.file, s.skin_type, disease=s.disease)
            )
    return items


def class_shard_items(
    sources: Sequence[Source] | None,
    per_source: int,
    k: int,
    shards: int,
    expected_sources: int | None = None,
) -> list[Item]:
    """The items of shard `k` of `shards` of a class: its sources' items spread evenly over a
    shard count fixed before the data are read (so the workflow's shard list is static).
    `sources` None is a prompt-only class (a release): `per_source` images with no source.
    `expected_sources` is the count the shard count was planned for (DDI's declared training
    images): a different count is logged, since shard sizes and walltimes follow from it."""
    if not 0 <= k < shards:
        raise ValueError(f"shard {k} of {shards} does not exist")
    count = 1 if sources is None else len(sources)
    if expected_sources is not None and expected_sources != count:
        log.warning(
            "%d source images where the config plans %d (sd.sources_per_class): shards "
            "hold %s images than planned; set the count to %d",
            count,
            expected_sources,
            "more" if count > expected_sources else "fewer",
            count,
        )
    return shard_items(sources, per_source, even_ranges(count * per_source, shards)[k])


def items_from_manifest(manifest: str | Path, per_source: int | None = None) -> list[Item]:
    """The items of an inpaint shard, each starting from its inpainted image, with its square
    and its source's disease (so both passes have one prompt, as the authors' two passes);
    with `per_source`, only the images of index < per_source (a smaller set than the inpaint
    one, e.g. when only inpainting feeds the dose-response runs)."""
    columns = [
        "file",
        "method",
        "source_image",
        "pool_rank",
        "skin_type",
        "disease",
        "index",
        "mask_fraction",
    ]
    frame = read_table(manifest, columns)
    if len(frame) and set(frame["method"]) != {"inpaint"}:
        raise DataError(manifest, "in-then-outpainting starts from an inpaint shard's manifest")
    return [
        Item(
            r.source_image,
            None if r.pool_rank == "" else int(float(r.pool_rank)),
            int(r.index),
            r.file,
            r.skin_type,
            float(r.mask_fraction),
            r.disease,
        )
        for r in frame.itertuples(index=False)
        if per_source is None or int(r.index) < per_source
    ]


def image_seed(seed: int, method: str, variant: str, cls: str, source: str, index: int) -> int:
    """The seed of one synthetic image: independent of shards, batches and run order."""
    return derived_seed(
        seed, text_key(method), text_key(variant), text_key(cls), text_key(source), index
    )


def mask_side(settings: GenerateSettings, cls: str, item: Item, grid: int) -> float:
    """The side fraction of an item's inpainting square, on the latent grid: drawn from (seed,
    class, source, index), or the one its inpainting had (in-then-outpainting)."""
    if item.mask_fraction is not None:
        return item.mask_fraction
    key = derived_seed(
        settings.seed, MASK_STREAM, text_key(cls), text_key(item.source_image), item.index
    )
    drawn = masks.draw_side_fraction(key, *settings.mask_fraction)
    margin = masks.square_margin(grid, drawn, *settings.mask_fraction)
    return (grid - 2 * margin) / grid


def image_key(item: Item) -> str:
    """An image's WebDataset key in its shard: `{source image}_{index:03d}` (a release's
    prompt-only image: `{index:06d}`)."""
    if item.source_image:
        return f"{item.source_image}_{item.index:03d}"
    return f"{item.index:06d}"


def image_name(item: Item) -> str:
    return f"{image_key(item)}.png"


def shard_json(row: dict, key: str, tag: str) -> dict:
    """A sample's json: the authors' fields (`copy_images_to_webdataset.py`: the source image
    as md5hash, the class as their folders name it, their method and submethod, the index as
    their generation folder, `tag` naming our pool), then our manifest's fields but `file` and
    `method`, with `source` our method-variant."""
    method, submethod = authors_names(row["method"], row["variant"])
    ours = {k: v for k, v in row.items() if k not in ("file", "method")}
    return {
        "name": f"{key}.png",
        "md5hash": row["source_image"],
        "label": authors_label(row["class"]),
        "method": method,
        "submethod": submethod,
        "generation_num": generation_folder(int(row["index"])),
        "tag": tag,
        "source": f"{row['method']}-{row['variant']}",
        **ours,
    }


def read_packed_provenance(tar: str | Path) -> dict[str, dict]:
    """What ran for each image of a shard already packed (a rerun of a finished shard)."""
    if not Path(tar).is_file():
        return {}
    made = {}
    for sample in iter_samples(tar, read=("json",)):
        record = json.loads(sample.members.get("json") or b"{}")
        if all(c in record for c in PROVENANCE_COLUMNS[1:]):
            made[record["name"]] = {
                "file": record["name"],
                **{c: record[c] for c in PROVENANCE_COLUMNS[1:]},
                "steps": int(record["steps"]),
            }
    return made


def generate_shard(
    method: str,
    variant: str,
    dataset: str,
    cls: str,
    items: Sequence[Item],
    manifest: str | Path,
    settings: GenerateSettings,
    *,
    model: str | Path,
    unet: str | Path | None = None,
    lora: str | Path | None = None,
    device: str | None = None,
    threads: int | None = None,
    tar: str | Path | None = None,
    work: str | Path | None = None,
    tag: str = "",
    loose_png: bool = False,
) -> pd.DataFrame:
    """Make the images of `items` in the `work` folder, pack them into the WebDataset shard
    `tar` and write the manifest.

    `model` is the pretrained diffusers folder (text-to-image for `text2img`, inpainting for
    `inpaint` and `inoutpaint`); `unet` / `lora` the DreamBooth weights of variant
    `dreambooth`. For `inoutpaint`, items start from inpainted images (`items_from_manifest`).
    `tar` defaults to the manifest's path with `.tar`, `work` to `<tar>.work` beside it; `tag`
    names the images' generation (the pool) in their json; `loose_png` keeps the PNGs in a
    folder beside the tar.
    """
    import torch

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
    if variant == "pretrained" and (unet or lora):
        raise ValueError("the pretrained variant takes no DreamBooth weights")
    if variant == "dreambooth" and not (unet or lora):
        raise ValueError("the dreambooth variant needs its UNet or LoRA weights")
    if method != "text2img" and any(not item.init_file for item in items):
        raise DataError(manifest, f"{method} needs a source image for every item")
    names = [image_name(item) for item in items]
    if len(set(names)) != len(names):
        raise DataError(manifest, "two items of the shard make the same image")
    check_folder(model, BASE_OF[method])
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if threads:
        torch.set_num_threads(threads)
    tar = Path(tar) if tar is not None else Path(manifest).with_suffix(".tar")
    folder = Path(work) if work is not None else work_folder(tar)
    folder.mkdir(parents=True, exist_ok=True)
    made = {**read_packed_provenance(tar), **read_provenance(folder)}
    todo = [
        item
        for item, name in zip(items, names, strict=True)
        if name not in made or not (image_is_readable(folder / name) or has_member(tar, name))
    ]
    log.info(
        "%s-%s %s/%s: %d images in shard, %d to make on %s",
        method,
        variant,
        dataset,
        cls,
        len(items),
        len(todo),
        device,
    )
    if todo:
        pipeline = load_pipeline(
            model,
            BASE_OF[method],
            device=device,
            dtype=_torch_dtype(resolve_precision(settings.precision, device)),
            scheduler=settings.scheduler,
            unet=unet,
            lora=lora,
            channels_last=settings.channels_last,
            compile=settings.compile,
        )
        make_images(pipeline, method, variant, cls, todo, folder, settings)
        made = {**made, **read_provenance(folder)}
    grid = latent_grid(model, settings.resolution)
    sha = model_sha256(model, unet=unet, lora=lora)
    strength = {
        "text2img": "",
        "inpaint": settings.strength_inpaint,
        "inoutpaint": settings.strength_outpaint,
    }[method]
    rows = []
    for item, name in zip(items, names, strict=True):
        ran = made[name]
        rows.append(
            {
                "file": image_ref(tar, name),
                "method": method,
                "variant": variant,
                "dataset": dataset,
                "class": cls,
                "source_image": item.source_image,
                "pool_rank": "" if item.pool_rank is None else item.pool_rank,
                "skin_type": item.skin_type,
                "disease": item.disease,
                "index": item.index,
                "init_image": item.init_file,
                "prompt": _prompt(cls, item, settings),
                "seed": image_seed(
                    settings.seed, method, variant, cls, item.source_image, item.index
                ),
                "steps": ran["steps"],
                "guidance_scale": settings.guidance_scale,
                "strength": strength,
                "mask_fraction": ""
                if method == "text2img"
                else mask_side(settings, cls, item, grid),
                "scheduler": settings.scheduler,
                "scheduler_class": ran["scheduler_class"],
                "precision": ran["precision"],
                "device": ran["device"],
                "model_sha256": sha,
            }
        )
    records = {
        image_key(item): shard_json(row, image_key(item), tag)
        for item, row in zip(items, rows, strict=True)
    }
    pack_shard(tar, folder, records, loose_png=loose_png)
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    write_csv(table, manifest)
    return table


def _prompt(cls: str, item: Item, settings: GenerateSettings) -> str:
    return prompt_for(
        cls,
        item.skin_type,
        disease=item.disease,
        template=settings.prompt,
        with_skin_type=settings.skin_type_in_prompt,
    )


def latent_grid(model: str | Path, resolution: int) -> int:
    """Latent cells per side at `resolution`: the VAE downsamples 2^(blocks - 1) times."""
    import json

    config = json.loads((Path(model) / "vae" / "config.json").read_text())
    return resolution // 2 ** (len(config["block_out_channels"]) - 1)


def resolve_precision(precision: str, device: str) -> str:
    """The precision a pipeline runs in on `device`.

    `auto` is fp16 on a GPU (the authors' dtype, in which both models were released; a CUDA GPU
    with bf16 runs bf16 no faster) and fp32 on a CPU. An explicit fp16 on a CPU is logged and
    runs in fp32: torch's CPU half-precision kernels are slower than fp32 (a 512 px UNet
    convolution took twice as long on our AVX2 CPU) and the images would differ for nothing.
    bf16 runs as asked anywhere (CPUs with native bf16 run it fast)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    gpu = device.split(":")[0] in ("cuda", "mps")
    if precision == "auto":
        return "fp16" if gpu else "fp32"
    if precision == "fp16" and not gpu:
        log.warning(
            "precision fp16 on %s: running fp32 instead (fp16 is for a GPU; set precision: auto)",
            device,
        )
        return "fp32"
    return precision


def _torch_dtype(precision: str):
    import torch

    return {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]


def _precision_name(dtype) -> str:
    import torch

    return {torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32"}[dtype]


def _device_name(device) -> str:
    """The device, with its GPU's name (bit-identical images need the same hardware)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def read_provenance(folder: str | Path) -> dict[str, dict]:
    """What ran for each image already made in `folder`: image name -> its record."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return {}
    frame = read_table(path, PROVENANCE_COLUMNS)
    return {
        row["file"]: {**row, "steps": int(row["steps"])}
        for row in frame[PROVENANCE_COLUMNS].to_dict("records")
    }


def make_images(
    pipeline,
    method: str,
    variant: str,
    cls: str,
    items: Sequence[Item],
    folder: str | Path,
    settings: GenerateSettings,
) -> float:
    """Make `items` with a loaded pipeline into `folder`, `settings.batch_size` at a time, one
    generator per image, and record what ran for each in the folder's `provenance.csv`;
    returns the seconds it took."""
    import torch

    folder, todo = Path(folder), list(items)
    made = read_provenance(folder)
    device = _device_name(pipeline.device)
    grid = settings.resolution // pipeline.vae_scale_factor
    size = settings.resolution
    border = settings.outpaint_border or masks.border_px(size)
    started = time.perf_counter()
    progress = tqdm(total=len(todo), desc=f"{method}-{variant} {cls}", mininterval=10)
    for start in range(0, len(todo), settings.batch_size):
        batch = todo[start : start + settings.batch_size]
        generators = [
            torch.Generator().manual_seed(
                image_seed(settings.seed, method, variant, cls, item.source_image, item.index)
            )
            for item in batch
        ]
        kwargs = {
            "prompt": [_prompt(cls, item, settings) for item in batch],
            "num_inference_steps": settings.steps,
            "guidance_scale": settings.guidance_scale,
            "generator": generators,
            "height": size,
            "width": size,
            "output_type": "np",
        }
        if method != "text2img":
            inpaint = np.stack(
                [
                    masks.inpaint_mask(size, grid, mask_side(settings, cls, i, grid), 0, 1)
                    for i in batch
                ]
            )
            if method == "inpaint":
                mask = inpaint
            else:
                mask = np.stack([masks.outpaint_mask(m, border) for m in inpaint])
            kwargs["mask_image"] = torch.from_numpy(mask[:, None].copy())
            kwargs["image"] = _init_images(batch, method, settings)
            kwargs["strength"] = (
                settings.strength_inpaint if method == "inpaint" else settings.strength_outpaint
            )
        images = pipeline(**kwargs).images
        ran = {  # as the pipeline ran: steps after `strength`, the scheduler it stepped
            "steps": pipeline.num_timesteps,
            "scheduler_class": type(pipeline.scheduler).__name__,
            "precision": _precision_name(pipeline.unet.dtype),
            "device": device,
        }
        pixels = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
        for item, image in zip(batch, pixels, strict=True):
            with atomic_path(folder / image_name(item)) as tmp:
                write_png(tmp, image)
            made[image_name(item)] = {"file": image_name(item), **ran}
        write_csv(
            pd.DataFrame(list(made.values()), columns=PROVENANCE_COLUMNS), folder / PROVENANCE_FILE
        )
        progress.update(len(batch))
    progress.close()
    elapsed = time.perf_counter() - started
    log.info("made %d images in %.1f s (%.3f images/s)", len(todo), elapsed, len(todo) / elapsed)
    return elapsed


def _init_images(batch: Sequence[Item], method: str, settings: GenerateSettings):
    """The batch's starting images, float (B, 3, R, R) in [0, 1] as diffusers expects: the
    preprocessed real image (resized if its size differs), or the inpainted image as written."""
    import torch

    size = settings.resolution
    arrays = []
    for item in batch:
        if method == "inoutpaint":
            array = read_rgb(item.init_file)
            if array.shape[:2] != (size, size):
                raise DataError(item.init_file, f"expected a {size} px inpainted image")
        else:
            array = square_rgb(item.init_file, size)
        arrays.append(array)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255


def merge_manifests(manifests: Sequence[str | Path]) -> pd.DataFrame:
    """One table of every shard's manifest (a method-variant's synthetic set)."""
    frames = [read_table(m, MANIFEST_COLUMNS) for m in manifests]
    if not frames:
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def sample_grid(merged: pd.DataFrame, path: str | Path, title: str, per_class: int = 6) -> None:
    """A figure of the first `per_class` images of every class, beside the image each started
    from (when there is one)."""
    import matplotlib.pyplot as plt

    from dermsynth.plots import save_figure

    classes = sorted(merged["class"].unique())
    with_init = bool((merged["init_image"] != "").any())
    columns = per_class + int(with_init)
    fig, axes = plt.subplots(
        max(len(classes), 1),
        columns,
        figsize=(1.6 * columns, 1.7 * max(len(classes), 1)),
        squeeze=False,
    )
    for row, cls in enumerate(classes):
        rows = merged[merged["class"] == cls]
        # images made from a real image first (a release's prompt-only images have none)
        rows = rows.assign(_prompt_only=rows["source_image"] == "")
        rows = rows.sort_values(["_prompt_only", "source_image", "index"]).head(per_class)
        cells = list(rows["file"])
        if with_init:
            cells = [rows["init_image"].iloc[0], *cells]
        for col, ax in enumerate(axes[row]):
            ax.set_axis_off()
            if col < len(cells) and cells[col]:
                ax.imshow(read_rgb(cells[col]))
        axes[row][0].set_title(cls if not with_init else f"{cls}\n(start image)", fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)

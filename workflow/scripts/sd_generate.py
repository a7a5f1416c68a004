"""One shard of synthetic images of one class by one method and variant.

input:  model (pretrained diffusers folder: text-to-image for text2img, inpainting otherwise),
        split + images (split table and preprocessed images folder; text2img and inpaint, not a
        release),
        inpaint (the inpaint shard k's manifest.csv; inoutpaint only),
        dreambooth (the class's DreamBooth folder; variant dreambooth only)
output: tar (results/synthetic/sd/{method}-{variant}/{dataset}/{cls}/{pool}/shard-{k}.tar: the
        images as a WebDataset shard), manifest (shard-{k}.csv beside it: one row per image,
        `file` its `<tar>#<member>` reference)
params: method, variant, dataset, label (class name), k (shard number), shards (shards of the
        class), draw (n: sources are strict's first n images, with its val_per_class and
        split_seed; n None: every training image of the class), release (prompt-only
        images, no source: per_source is the class's count), per_source,
        expected_sources (the source count the shards were planned for),
        settings (GenerateSettings fields), work (the folder the images lie in until packed: a
        killed shard resumes from it), tag (the pool, in each image's json), loose_png (keep
        the PNGs in a folder beside the tar)
threads, log
"""

from dermsynth.design.draws import pool_sources
from dermsynth.io import read_table
from dermsynth.logs import to_rule_log
from dermsynth.sd.dreambooth import dreambooth_weights
from dermsynth.sd.generate import (
    class_shard_items,
    generate_shard,
    items_from_manifest,
    settings_from,
    sources_from,
)

with to_rule_log(snakemake.log[0]):
    params, inputs = snakemake.params, snakemake.input
    settings = settings_from({**params.settings, "per_source": params.per_source})
    if params.method == "inoutpaint":
        items = items_from_manifest(inputs.inpaint, per_source=params.per_source)
    else:
        sources = None  # a release: prompts alone
        if not params.release:
            split = read_table(inputs.split, ["image_id", "label", "split"])
            frame = pool_sources(split, params.label, **params.draw, source=inputs.split)
            size = settings.source_size or settings.resolution
            sources = sources_from(frame, inputs.images, size)
        items = class_shard_items(
            sources, params.per_source, int(params.k), params.shards, params.expected_sources
        )
    weights = dreambooth_weights(inputs.dreambooth) if params.variant == "dreambooth" else {}
    generate_shard(
        params.method,
        params.variant,
        params.dataset,
        params.label,
        items,
        manifest=snakemake.output.manifest,
        settings=settings,
        model=inputs.model,
        threads=snakemake.threads,
        tar=snakemake.output.tar,
        work=params.work,
        tag=params.tag,
        loose_png=params.loose_png,
        **weights,
    )

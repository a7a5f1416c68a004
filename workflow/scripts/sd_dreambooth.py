"""DreamBooth for one class on one base model (text-to-image or inpainting).

input:  model (the base's diffusers folder), split (split table: image_id, label, split
        [, pool_rank, skin_type]), images (the dataset's preprocessed images folder)
output: model (folder: unet/ or pytorch_lora_weights.safetensors, train_images.csv, loss.csv,
        dreambooth.json)
params: base ("text2img" or "inpaint"), label (class name), n (train on pool ranks < n, the
        `per_n` mode; None: the whole training pool, `full_pool`), state (checkpoint path,
        outside the output folder), settings (dict of DreamBoothSettings fields)
threads, log
"""

from dermsynth.io import read_table
from dermsynth.logs import to_rule_log
from dermsynth.sd.dreambooth import settings_from, train_dreambooth
from dermsynth.sd.sources import training_sources

with to_rule_log(snakemake.log[0]):
    split = read_table(snakemake.input.split, ["image_id", "label", "split"])
    train_dreambooth(
        base=snakemake.input.model,
        kind=snakemake.params.base,
        label=snakemake.params.label,
        images=training_sources(split, snakemake.params.label, n=snakemake.params.get("n")),
        images_dir=snakemake.input.images,
        out=snakemake.output.model,
        settings=settings_from(snakemake.params.settings),
        state_path=snakemake.params.state,
        threads=snakemake.threads,
    )

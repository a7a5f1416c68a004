"""DreamBooth for one class (or every class: a dataset's one model) on one base model
(text-to-image or inpainting).

input:  model (the base's diffusers folder), split (split table: image_id, label, split
        [, released_row, skin_type, disease]), images (the dataset's preprocessed images folder)
output: model (folder: unet/ or pytorch_lora_weights.safetensors, train_images.csv, loss.csv,
        dreambooth.json)
params: base ("text2img" or "inpaint"), label (class name; None: every class), draw (n: train
        on strict's first n images, with its val_per_class and split_seed; n None: every image
        of the class of its splits, the training split or also val), state (checkpoint path,
        outside the output folder), settings (dict of DreamBoothSettings fields)
threads, log
"""

from dermsynth.design.draws import pool_sources
from dermsynth.io import read_table
from dermsynth.logs import to_rule_log
from dermsynth.sd.dreambooth import settings_from, train_dreambooth

with to_rule_log(snakemake.log[0]):
    split = read_table(snakemake.input.split, ["image_id", "label", "split"])
    train_dreambooth(
        base=snakemake.input.model,
        kind=snakemake.params.base,
        label=snakemake.params.label,
        images=pool_sources(
            split, snakemake.params.label, **snakemake.params.draw, source=snakemake.input.split
        ),
        images_dir=snakemake.input.images,
        out=snakemake.output.model,
        settings=settings_from(snakemake.params.settings),
        state_path=snakemake.params.state,
        threads=snakemake.threads,
        splits=snakemake.params.draw["splits"],
    )

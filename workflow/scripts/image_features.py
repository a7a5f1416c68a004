"""An image set -> its InceptionV3 features (pool3, logits, thumbnails), cached for all readers."""

import torch

from dermsynth.logs import to_rule_log
from dermsynth.metrics.inception import extract_features

with to_rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    inception = snakemake.params.inception
    extract_features(
        snakemake.input.images,
        snakemake.output.features,
        image_size=snakemake.params.size,
        weights=snakemake.input.get("weights"),
        weights_note=snakemake.params.note,
        download=inception["download"],
        batch_size=inception["batch_size"],
        workers=snakemake.threads,
    )

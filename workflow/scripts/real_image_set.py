"""A split table (or pairs table) -> the real image set that a synthetic set is scored against."""

from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log
from dermsynth.metrics.images import real_image_set

with to_rule_log(snakemake.log[0]):
    images = real_image_set(
        snakemake.input.split,
        snakemake.input.images,
        size=snakemake.params.size,
        splits=snakemake.params.splits,
    )
    write_csv(images, snakemake.output.images)

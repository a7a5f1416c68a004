"""pairs.csv -> resized copies of every image at the configured sizes (square, and with the
shorter side at the configured short sides)."""

from dermsynth.data.preprocess import resize_images
from dermsynth.io import read_table
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    resize_images(
        read_table(snakemake.input.pairs, ["image_id", "path"]),
        out=snakemake.output.images,
        sizes=snakemake.params.sizes,
        crop=snakemake.params.crop,
        short_sides=snakemake.params.short_sides,
        workers=snakemake.threads,
        source=snakemake.input.pairs,
    )

"""Paper 2's real images decoded once (`dermsynth.classify.image_cache`): every resized copy of a
dataset at params.size px (and, with params.whole, its whole-image copy of that shorter side),
for params.input_size px network input."""

from dermsynth.classify.image_cache import real_references, write_image_cache
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    write_image_cache(
        real_references(
            snakemake.input.images, snakemake.params.size, whole=snakemake.params.whole
        ),
        pixels=snakemake.output.pixels,
        index=snakemake.output.index,
        size=snakemake.params.input_size,
        workers=snakemake.threads,
    )

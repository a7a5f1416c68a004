"""Paper 2's synthetic images of one pool decoded once (`dermsynth.classify.image_cache`): every
image of its shard manifests, for params.input_size px network input."""

from dermsynth.classify.image_cache import synthetic_references, write_image_cache
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    write_image_cache(
        synthetic_references(snakemake.input.manifests),
        pixels=snakemake.output.pixels,
        index=snakemake.output.index,
        size=snakemake.params.input_size,
        workers=snakemake.threads,
    )

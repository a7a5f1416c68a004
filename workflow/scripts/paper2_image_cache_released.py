"""The authors' released images of one method-variant decoded once
(`dermsynth.classify.image_cache`): every sample of the released index of that source whose
class folder is one of params.labels, for params.input_size px network input."""

from dermsynth.classify.image_cache import write_image_cache
from dermsynth.data.released import released_references
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    write_image_cache(
        released_references(
            snakemake.input.index, snakemake.params.source, snakemake.params.labels
        ),
        pixels=snakemake.output.pixels,
        index=snakemake.output.index,
        size=snakemake.params.input_size,
        workers=snakemake.threads,
    )

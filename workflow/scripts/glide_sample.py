"""Sample one shard of one class: base model with guidance, then the upsampler; the images packed
into one WebDataset tar (output.tar) and listed by output.manifest (params.work: where they lie
until packed, a killed shard resumes from it; params.loose_png: keep them beside the tar)."""

from dermsynth.glide.sample import sample_shard, settings_from
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    sample_shard(
        snakemake.wildcards.cls,
        prompt=snakemake.params.prompt,
        indices=snakemake.params.indices,
        base_weights=snakemake.input.base,
        upsample_weights=snakemake.input.upsample,
        base_options=snakemake.params.base_options,
        upsample_options=snakemake.params.upsample_options,
        manifest=snakemake.output.manifest,
        settings=settings_from(snakemake.params.settings),
        threads=snakemake.threads,
        tar=snakemake.output.tar,
        work=snakemake.params.work,
        tag=snakemake.wildcards.glide_protocol,
        loose_png=snakemake.params.loose_png,
    )

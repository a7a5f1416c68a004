"""Merge the GLIDE shards' manifests; figures of samples per class and of the training loss."""

from dermsynth.glide.figures import plot_finetune_loss, plot_samples_per_class
from dermsynth.glide.sample import merge_manifests
from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    manifest = merge_manifests(snakemake.input.manifests)
    write_csv(manifest, snakemake.output.manifest)
    plot_samples_per_class(manifest, snakemake.output.samples, run=snakemake.params.run)
    plot_finetune_loss(snakemake.input.loss, snakemake.output.loss, run=snakemake.params.run)

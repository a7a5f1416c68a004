"""Merge one protocol's GLIDE shard manifests (each row then names the images its GLIDE learned
from); figures of samples per class and of the training loss."""

from dermsynth.glide.figures import plot_finetune_loss, plot_samples_per_class
from dermsynth.glide.sample import merge_manifests
from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    manifest = merge_manifests(snakemake.input.manifests)
    manifest["generator_trained_on"] = snakemake.params.trained_on
    write_csv(manifest, snakemake.output.manifest)
    label = f"{snakemake.params.run}; trained on {snakemake.params.trained_on}"
    plot_samples_per_class(manifest, snakemake.output.samples, run=label)
    plot_finetune_loss(snakemake.input.loss, snakemake.output.loss, run=label)

"""The demo's stand-in for torch-fidelity's Inception weights: a seeded random network."""

from dermsynth.logs import to_rule_log
from dermsynth.metrics.inception import write_random_weights

with to_rule_log(snakemake.log[0]):
    write_random_weights(snakemake.output.weights, seed=snakemake.params.seed)

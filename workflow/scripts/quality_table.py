"""Cached features of a synthetic and a real set -> Table 1 (+ its pairs and figure)."""

import torch

from dermsynth.logs import to_rule_log
from dermsynth.metrics.figures import plot_quality
from dermsynth.metrics.quality import QualitySettings, score_synthetic_set

with to_rule_log(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    table = score_synthetic_set(
        snakemake.input.synthetic,
        snakemake.input.real,
        snakemake.output.table,
        snakemake.output.pairs,
        classes=snakemake.params.classes,
        settings=QualitySettings(**snakemake.params.settings),
        reference=snakemake.input.get("reference"),
        run=snakemake.params.run,
        method=snakemake.wildcards.method,
        trained_on=snakemake.params.trained_on,
    )
    plot_quality(
        table, snakemake.output.figure, run=snakemake.params.run, method=snakemake.wildcards.method
    )

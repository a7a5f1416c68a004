"""Gather the grid runs' metrics.json into Figure 3 (CSV, PNG) under each protocol, the dose
response (CSV, PNG), the per-skin-type table, the F17k-9 models on DDI's shared diseases and the
protocols' synthetic-image gains (CSV, PNG). Test sets are real only."""

from dermsynth.classify.paper2_figure3 import gather_grid
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    gather_grid(
        list(snakemake.input.metrics),
        accuracy=snakemake.output.accuracy,
        accuracy_figure=snakemake.output.accuracy_figure,
        dose=snakemake.output.dose,
        dose_figure=snakemake.output.dose_figure,
        skin_type=snakemake.output.skin_type,
        external=snakemake.output.external,
        protocols=snakemake.output.protocols,
        protocols_figure=snakemake.output.protocols_figure,
        run=snakemake.params.run,
        synthetic_per_real=snakemake.params.get("synthetic_per_real"),
    )

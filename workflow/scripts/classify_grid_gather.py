"""Gather the grid runs' metrics.json into Figure 3 (CSV, PNG), the dose response (CSV, PNG), the
per-skin-type table and the F17k-9 models on DDI's shared diseases. Test sets are real only."""

from dermsynth.classify.figure3 import gather_grid
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
        run=snakemake.params.run,
        synthetic_per_real=snakemake.params.get("synthetic_per_real"),
    )

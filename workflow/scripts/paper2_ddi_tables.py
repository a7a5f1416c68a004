"""Gather the DDI malignancy runs' metrics.json into ddi_malignancy.csv and its figure."""

from dermsynth.classify.paper2_ddi_results import gather_ddi
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    gather_ddi(
        list(snakemake.input.metrics),
        table=snakemake.output.table,
        figure=snakemake.output.figure,
        run=snakemake.params.run,
    )

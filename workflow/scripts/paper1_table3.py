"""Gather the CNN ablation's metrics.json files into Table 3 (long and wide CSV, F1 bars) with
the published values beside the runs computed as the paper's were, and, when asked, Table 2's AI
columns (combined, paper_random)."""

from dermsynth.classify.paper1_table3 import gather_table3
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    gather_table3(
        list(snakemake.input.metrics),
        paper_table3=snakemake.input.paper,
        table=snakemake.output.table,
        wide=snakemake.output.wide,
        figure=snakemake.output.figure,
        run=snakemake.params.run,
        paper_table2=snakemake.input.get("paper_table2"),
        table2=snakemake.output.get("table2"),
    )

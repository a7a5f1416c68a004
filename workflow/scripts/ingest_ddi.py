"""DDI metadata + images -> pairs.csv."""

from dermsynth.data.ingest import ingest_ddi
from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    pairs = ingest_ddi(snakemake.params.root, caption=snakemake.params.settings["caption"])
    write_csv(pairs, snakemake.output.pairs)

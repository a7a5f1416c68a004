"""HAM10000 metadata + images -> pairs.csv."""

from dermsynth.data.ingest import ingest_ham10000
from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    settings = snakemake.params.settings
    pairs = ingest_ham10000(
        snakemake.params.root, classes=settings["classes"], caption=settings["caption"]
    )
    write_csv(pairs, snakemake.output.pairs)

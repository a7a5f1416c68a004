"""pairs.csv (and for Fitzpatrick17k the authors' released split files) -> one split protocol's
table."""

from dermsynth.data.ingest import PAIRS_COLUMNS
from dermsynth.data.splits import make_split
from dermsynth.io import read_table, write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    pairs = read_table(snakemake.input.pairs, PAIRS_COLUMNS)
    released = {
        k: snakemake.input[k] for k in ("training", "held_out") if k in snakemake.input.keys()
    }
    table = make_split(
        snakemake.wildcards.dataset,
        snakemake.wildcards.protocol,
        pairs,
        {**snakemake.params.settings, **released},
        source=snakemake.input.pairs,
    )
    write_csv(table, snakemake.output.split)

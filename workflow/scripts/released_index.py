"""The index of the authors' released shards (`dermsynth.data.released`): one row per sample, its
shard, member, json fields and our method-variant (params.methods), of the generation runs in
params.tags (None: all)."""

from dermsynth.data.released import index_released
from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    index = index_released(snakemake.input.shards, snakemake.params.methods, snakemake.params.tags)
    write_csv(index, snakemake.output.index)

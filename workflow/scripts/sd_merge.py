"""Gather the shard manifests of one method-variant-dataset into one table and a sample grid.

input:  manifests (every shard's manifest.csv)
output: manifest (merged CSV), grid (PNG: the first images of each class beside their start image)
params: title (figure title, e.g. "inpaint-dreambooth, fitzpatrick17k (demo)")
log
"""

from dermsynth.io import write_csv
from dermsynth.logs import to_rule_log
from dermsynth.sd.generate import merge_manifests, sample_grid

with to_rule_log(snakemake.log[0]):
    merged = merge_manifests(list(snakemake.input.manifests))
    write_csv(merged, snakemake.output.manifest)
    sample_grid(merged, snakemake.output.grid, snakemake.params.title)

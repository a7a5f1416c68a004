"""pairs + splits of every dataset -> results/tables/data_splits.csv and its figure."""

from dermsynth.data.summary import plot_split_summary, split_summary
from dermsynth.io import read_table, write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    datasets, protocols = snakemake.params.datasets, snakemake.params.protocols
    pairs = {
        d: read_table(path, ["image_id", "group_id"])
        for d, path in zip(datasets, snakemake.input.pairs, strict=True)
    }
    keys = [(d, p) for d in datasets for p in protocols[d]]
    splits = {
        key: read_table(path, ["image_id", "label", "split"])
        for key, path in zip(keys, snakemake.input.splits, strict=True)
    }
    summary = split_summary(pairs, splits)
    write_csv(summary, snakemake.output.table)
    plot_split_summary(summary, snakemake.output.figure, snakemake.params.run)

"""Fitzpatrick17k CSV + images -> F17k-9 pairs.csv, missing.csv, class_counts.csv."""

from dermsynth.data.ingest import ingest_fitzpatrick17k
from dermsynth.io import read_table, write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    settings = snakemake.params.settings
    result = ingest_fitzpatrick17k(
        snakemake.params.root,
        classes=settings["classes"],
        caption=settings["caption"],
        drop_qc=settings["drop_qc"],
        missing_images=settings["missing_images"],
        reference_counts=read_table(snakemake.input.reference, ["label", "images"]),
    )
    write_csv(result.missing, snakemake.output.missing)
    write_csv(result.class_counts, snakemake.output.class_counts)
    write_csv(result.pairs, snakemake.output.pairs)

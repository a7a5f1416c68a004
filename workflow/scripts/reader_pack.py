"""A synthetic set and the real images -> the blinded reader packet, and its key kept apart."""

from dermsynth.logs import to_rule_log
from dermsynth.reader_study.packet import build_packet

with to_rule_log(snakemake.log[0]):
    build_packet(
        snakemake.input.synthetic,
        snakemake.input.real,
        snakemake.output.packet,
        snakemake.output.key,
        classes=dict(snakemake.params.classes),
        synthetic_per_class=snakemake.params.synthetic_per_class,
        real_per_class=snakemake.params.real_per_class,
        image_size=snakemake.params.image_size,
        seed=snakemake.params.seed,
        title=snakemake.params.title,
    )

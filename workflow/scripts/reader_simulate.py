"""The key -> a simulated reader's filled answer sheet (the demo's stand-in for a dermatologist)."""

from dermsynth.logs import to_rule_log
from dermsynth.reader_study.simulate import simulate_reader

with to_rule_log(snakemake.log[0]):
    simulate_reader(
        snakemake.input.key,
        snakemake.output.answers,
        classes=dict(snakemake.params.classes),
        entity_accuracy=snakemake.params.entity_accuracy,
        source_accuracy=snakemake.params.source_accuracy,
        seed=snakemake.params.seed,
    )

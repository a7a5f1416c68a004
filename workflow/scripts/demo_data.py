"""Write one embedded demo dataset in its real on-disk layout."""

from dermsynth.data.demo import make_demo_dataset
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    make_demo_dataset(
        snakemake.params.dataset,
        root=snakemake.params.root,
        settings=snakemake.params.settings,
        workers=snakemake.threads,
    )

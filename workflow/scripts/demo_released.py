"""The demo's stand-in for paper 2's authors' released images: WebDataset shards in exactly their
layout (`dermsynth.design.released`), made from the demo's Fitzpatrick17k images.

input:  training (the released training file of the demo), images (its images folder)
output: shards (the folder of shards, released.root of the demo config)
params: settings (labels, methods: [[method, submethod], ...], generations, size)
"""

from dermsynth.data.released import write_demo_release
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    settings = snakemake.params.settings
    write_demo_release(
        snakemake.input.training,
        snakemake.input.images,
        snakemake.output.shards,
        labels=settings["labels"],
        methods=settings["methods"],
        generations=settings["generations"],
        size=settings["size"],
    )

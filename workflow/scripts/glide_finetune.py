"""Fine-tune GLIDE's base model or upsampler on the HAM10000 image/caption pairs."""

from dermsynth.glide.finetune import FinetuneSettings, finetune, training_pairs
from dermsynth.io import read_table
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    pairs = read_table(snakemake.input.pairs, ["image_id", "caption"])
    split = (
        read_table(snakemake.input.split, ["image_id", "split"])
        if "split" in snakemake.input.keys()
        else None
    )
    finetune(
        snakemake.wildcards.glide_kind,
        training_pairs(pairs, split, snakemake.params.splits),
        images_dir=snakemake.input.images,
        options=snakemake.params.options,
        out=snakemake.output.model,
        state_path=snakemake.params.state,
        loss_csv=snakemake.output.loss,
        preview=snakemake.output.preview,
        settings=FinetuneSettings(**snakemake.params.settings),
        init=snakemake.input.get("init"),
        threads=snakemake.threads,
    )

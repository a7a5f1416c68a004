"""Fine-tune GLIDE's base model or upsampler on the images of one split protocol's GLIDE."""

from dermsynth.glide.finetune import FinetuneSettings, finetune, training_pairs
from dermsynth.io import read_table
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    pairs = read_table(snakemake.input.pairs, ["image_id", "caption"])
    train_images = read_table(snakemake.input.train_images, ["image_id"])
    finetune(
        snakemake.wildcards.glide_kind,
        training_pairs(pairs, train_images),
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

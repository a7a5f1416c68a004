"""The images one split protocol's GLIDE learns from: its train_images.csv."""

from dermsynth.design.paper1 import GlideSet, glide_training_images
from dermsynth.io import read_table, write_csv
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]) as log:
    glide_set = GlideSet.from_train_on(
        snakemake.wildcards.glide_protocol, snakemake.params.train_on
    )
    images = glide_training_images(
        read_table(snakemake.input.pairs, ["image_id", "label", "group_id"]),
        read_table(snakemake.input.split, ["image_id", "split"]),
        glide_set,
        split_name=snakemake.input.split,
    )
    write_csv(images, snakemake.output.images)
    log.info(
        "%s learns from %d images (%s): by split %s",
        glide_set.name,
        len(images),
        glide_set.trained_on,
        images["split"].value_counts().to_dict(),
    )

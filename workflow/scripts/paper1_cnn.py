"""Paper 1's CNN on one ablation arm (variant x split protocol): metrics.json, history, the
confusion matrix, the loss curves and the weights. The test set is the split's real images or
the arm's own images split 80/20 (classify.paper_cnn.test_set: real or paper)."""

from dermsynth.classify.paper1_run import run_paper_cnn
from dermsynth.classify.run_files import RunFiles
from dermsynth.classify.settings import settings_from
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    run_paper_cnn(
        split=snakemake.input.split,
        images_dir=snakemake.input.images,
        synthetic=snakemake.input.get("synthetic"),
        variant=snakemake.params.variant,
        protocol=snakemake.params.protocol,
        classes=dict(snakemake.params.classes),
        settings=settings_from(snakemake.params.settings, image_size=snakemake.params.size),
        files=RunFiles.from_outputs(snakemake.output, checkpoint=snakemake.params.checkpoint),
        test_set=snakemake.params.test_set,
        synthetic_split=dict(snakemake.params.synthetic_split),
        generator_images=snakemake.input.get("generator_images"),
        run=snakemake.params.run,
        threads=snakemake.threads,
    )

"""Paper 1's CNN on one ablation arm (variant x split protocol): metrics.json, history, the
confusion matrix, the loss curves and the weights. Test images are real only."""

from dermsynth.classify.run import run_paper_cnn
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
        metrics=snakemake.output.metrics,
        history=snakemake.output.history,
        confusion=snakemake.output.confusion,
        curves=snakemake.output.curves,
        model=snakemake.output.model,
        checkpoint=snakemake.params.checkpoint,
        run=snakemake.params.run,
        threads=snakemake.threads,
    )

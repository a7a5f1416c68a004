"""The DDI malignancy experiment, one run (params.run_id: s<source>_x<per real>_t<0|1>_seed<k>):
EfficientNetV2-M, benign vs malignant on DDI's paper split; accuracy overall and per skin tone."""

from dermsynth.classify.paper2_ddi_run import run_ddi
from dermsynth.classify.run_files import RunFiles
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    run_ddi(
        split=snakemake.input.split,
        images_dir=snakemake.input.images,
        synthetic=snakemake.input.get("synthetic"),
        caches=snakemake.input.get("image_cache"),
        run_id=snakemake.params.run_id,
        settings=dict(snakemake.params.settings),
        size=snakemake.params.size,
        files=RunFiles.from_outputs(snakemake.output, checkpoint=snakemake.params.checkpoint),
        run=snakemake.params.run,
        threads=snakemake.threads,
    )

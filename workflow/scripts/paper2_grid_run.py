"""Paper 2's Figure 3 grid, one run (params.run_id: n<real>_s<source>_x<per real>[from<i>]_t<0|1>
_seed<k>, under params.protocol): EfficientNetV2-M on the run's real and synthetic images, tested
on the held-out real images and, when DDI's external split is an input, on DDI's images of the
shared diseases."""

from dermsynth.classify.paper2_grid_run import run_grid
from dermsynth.classify.run_files import RunFiles
from dermsynth.logs import to_rule_log

with to_rule_log(snakemake.log[0]):
    run_grid(
        split=snakemake.input.split,
        images_dir=snakemake.input.images,
        synthetic=snakemake.input.get("synthetic"),
        caches=snakemake.input.get("image_cache"),
        ddi_split=snakemake.input.get("ddi_split"),
        ddi_images=snakemake.input.get("ddi_images"),
        run_id=snakemake.params.run_id,
        protocol=snakemake.params.protocol,
        classes=list(snakemake.params.classes),
        val_per_class=snakemake.params.val_per_class,
        split_seed=snakemake.params.split_seed,
        settings=dict(snakemake.params.settings),
        size=snakemake.params.size,
        files=RunFiles.from_outputs(snakemake.output, checkpoint=snakemake.params.checkpoint),
        run=snakemake.params.run,
        threads=snakemake.threads,
    )

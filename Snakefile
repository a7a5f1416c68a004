# dermsynth: two studies of synthetic dermatology images as one Snakemake graph.
#   snakemake --cores 2                              the embedded demo (config/config.yaml)
#   snakemake --cores 2 --configfile config/paper.yaml   paper scale
#   snakemake --cores 2 <target>                     one product or named target (see README)
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema/config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/glide.smk"
include: "rules/sd.smk"
include: "rules/metrics.smk"
include: "rules/reader_study.smk"
include: "rules/classify.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        rules.data.input,
        rules.data_summary.output,
        rules.glide.input,
        rules.metrics.input,
        rules.reader_study.input,
        rules.table3.input,
        rules.sd.input,
        rules.fig3.input,
        rules.ddi.input,

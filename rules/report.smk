# The named targets, one per table and figure of the two papers (`snakemake --cores N <target>`),
# and the data summary. Each target names the rule that makes it; the README's Layout section maps
# them to the modules of dermsynth. Tables and figures are registered with the report
# (snakemake --report report.html) where they are made.


# Data: every dataset's pairs.csv, resized images and split tables (rules/data.smk).
rule data:
    input:
        data_products(),


# Paper 1, section 2.1: each split protocol's GLIDE and its synthetic set (rules/glide.smk).
rule glide:
    input:
        glide_products(),


# Paper 1, Table 1 (section 3.1): image quality per synthetic set (rule quality_table).
rule table1:
    input:
        expand("results/tables/table1_{method}_quality.csv", method=METRIC_METHODS),


# Table 1 and the memorization audit of every synthetic set (rules/metrics.smk).
rule metrics:
    input:
        metrics_products(),


# Paper 1, section 2.3: the packets to send to readers (rule reader_pack).
rule reader_packet:
    input:
        expand("results/reader_study/{method}/packet", method=READER_METHODS),
        expand("results/reader_study/{method}/key.csv", method=READER_METHODS),


# Paper 1, Figure 2: the readers' ROC curves (rule reader_score).
rule fig2:
    input:
        expand("results/figures/fig2_{method}_reader_roc.png", method=READER_METHODS),


# Paper 1, Table 2: the readers' columns (rule reader_score; the AI columns are table3's).
rule table2:
    input:
        expand("results/tables/table2_{method}_reader.csv", method=READER_METHODS),


# Paper 1, section 2.3 in full: packets, Figure 2, Table 2, confusion matrices.
rule reader_study:
    input:
        rules.reader_packet.input,
        rules.fig2.input,
        rules.table2.input,
        expand("results/figures/{method}_reader_confusion.png", method=READER_METHODS),


# Paper 1, Table 3 (section 2.4) and Table 2's AI columns (rule paper1_table3).
rule table3:
    input:
        rules.paper1_table3.output,


# Paper 2: the Stable Diffusion sets, DreamBooth models first (rules/sd.smk).
rule sd:
    input:
        sd_products(),


# Paper 2, Figure 3 and its breakdowns: dose response, skin types, DDI's shared classes, the
# protocols' comparison (rule paper2_fig3).
rule fig3:
    input:
        rules.paper2_fig3.output,


# Paper 2: the DDI malignancy experiment (rule paper2_ddi_tables).
rule ddi:
    input:
        rules.paper2_ddi_tables.output,


# Pairs and splits per dataset, as a table and a figure.
rule data_summary:
    input:
        pairs=expand(pairs_table("{dataset}"), dataset=DATASETS),
        splits=split_tables(),
    output:
        table=report(
            "results/tables/data_splits.csv",
            caption="../report/data_splits.rst",
            category="Data",
        ),
        figure=report(
            "results/figures/data_splits.png",
            caption="../report/data_splits.rst",
            category="Data",
        ),
    log:
        "results/logs/report/data_summary.log",
    benchmark:
        "results/benchmarks/report/data_summary.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("data_summary"),
    params:
        datasets=DATASETS,
        protocols=PROTOCOLS,
        run=config["run"],
    script:
        "../workflow/scripts/data_summary.py"

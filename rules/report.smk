# Gathered tables and figures registered with the report (snakemake --report report.html).


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

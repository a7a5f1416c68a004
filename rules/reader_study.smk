# Paper 1, section 2.3: the blinded reader study (Figure 2, the reader columns of Table 2), for any
# synthetic set (a method wildcard), so each Stable Diffusion method-variant can get its packet.


rule reader_pack:
    input:
        synthetic=lambda wildcards: synthetic_source(wildcards.method)["manifest"],
        real=lambda wildcards: f"results/metrics/real/{real_set_name(wildcards.method)}.csv",
    output:
        packet=directory("results/reader_study/{method}/packet"),
        # the sealed key stays outside the packet that goes to the reader
        key="results/reader_study/{method}/key.csv",
    log:
        "results/logs/reader_study/packet_{method}.log",
    benchmark:
        "results/benchmarks/reader_study/packet_{method}.tsv"
    conda:
        "../envs/reader_study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("reader_pack"),
    params:
        classes=lambda wildcards: metric_classes(wildcards.method),
        synthetic_per_class=config["reader_study"]["synthetic_per_class"],
        real_per_class=config["reader_study"]["real_per_class"],
        image_size=config["reader_study"]["image_size"],
        seed=config["reader_study"]["seed"],
        title=lambda wildcards: f"dermsynth reader study ({wildcards.method}, {config['run']})",
    script:
        "../workflow/scripts/reader_pack.py"


rule reader_simulate:
    input:
        key="results/reader_study/{method}/key.csv",
    output:
        answers="results/reader_study/{method}/simulated_answers.xlsx",
    log:
        "results/logs/reader_study/simulate_{method}.log",
    benchmark:
        "results/benchmarks/reader_study/simulate_{method}.tsv"
    conda:
        "../envs/reader_study.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=rule_runtime("reader_simulate"),
    params:
        **config["reader_study"]["simulated_reader"],
        classes=lambda wildcards: metric_classes(wildcards.method),
    script:
        "../workflow/scripts/reader_simulate.py"


rule reader_score:
    input:
        answers=reader_answers,
        key="results/reader_study/{method}/key.csv",
        paper_table2="resources/reference/shavlokhova2023_table2.csv",
    output:
        reports="results/reader_study/{method}/classification_reports.csv",
        auc="results/reader_study/{method}/roc_auc.csv",
        table2=report(
            "results/tables/table2_{method}_reader.csv",
            caption="../report/reader_table2.rst",
            category="Reader study",
        ),
        roc=report(
            "results/figures/fig2_{method}_reader_roc.png",
            caption="../report/reader_roc.rst",
            category="Reader study",
        ),
        confusion=report(
            "results/figures/{method}_reader_confusion.png",
            caption="../report/reader_confusion.rst",
            category="Reader study",
        ),
    log:
        "results/logs/reader_study/score_{method}.log",
    benchmark:
        "results/benchmarks/reader_study/score_{method}.tsv"
    conda:
        "../envs/reader_study.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("reader_score"),
    params:
        classes=lambda wildcards: metric_classes(wildcards.method),
        run=config["run"],
        reader=reader_description,
    script:
        "../workflow/scripts/reader_score.py"

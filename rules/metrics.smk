# Paper 1, sections 2.2 and 3.1: Table 1 per synthetic set, and the memorization audit.
# Inception features are computed once per image set and shared by both (and by later readers).


rule real_image_set:
    input:
        unpack(real_set_inputs),
    output:
        images="results/metrics/real/{real_set}.csv",
    log:
        "results/logs/metrics/real_{real_set}.log",
    benchmark:
        "results/benchmarks/metrics/real_{real_set}.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("real_image_set"),
    params:
        size=features_size,
        splits=real_set_splits,
    script:
        "../workflow/scripts/real_image_set.py"


rule inception_random_weights:
    output:
        weights="results/models/inception/random_init.pth",
    log:
        "results/logs/metrics/inception_random_weights.log",
    benchmark:
        "results/benchmarks/metrics/inception_random_weights.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("inception_random_weights"),
    params:
        seed=config["metrics"]["seed"],
    script:
        "../workflow/scripts/inception_random_weights.py"


rule real_features:
    input:
        unpack(features_inputs),
    output:
        features="results/features/real/{real_set}.npz",
    log:
        "results/logs/metrics/features_real_{real_set}.log",
    benchmark:
        "results/benchmarks/metrics/features_real_{real_set}.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: job_threads()
    resources:
        mem_mb=8000,
        runtime=rule_runtime("real_features"),
        gpu=config["resources"]["gpu"],
    params:
        size=features_size,
        inception=config["metrics"]["inception"],
        note=inception_note(),
    script:
        "../workflow/scripts/image_features.py"


use rule real_features as synthetic_features with:
    input:
        unpack(features_inputs),
    output:
        features="results/features/synthetic/{method}.npz",
    log:
        "results/logs/metrics/features_synthetic_{method}.log",
    benchmark:
        "results/benchmarks/metrics/features_synthetic_{method}.tsv"
    resources:
        mem_mb=8000,
        runtime=rule_runtime("synthetic_features"),
        gpu=config["resources"]["gpu"],


rule quality_table:
    input:
        unpack(metrics_inputs),
        unpack(quality_reference),
    output:
        table=report(
            "results/tables/table1_{method}_quality.csv",
            caption="../report/table1_quality.rst",
            category="Metrics",
        ),
        pairs="results/metrics/{method}/pairs.csv",
        figure=report(
            "results/figures/table1_{method}_quality.png",
            caption="../report/table1_quality_figure.rst",
            category="Metrics",
        ),
    log:
        "results/logs/metrics/table1_{method}.log",
    benchmark:
        "results/benchmarks/metrics/table1_{method}.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=rule_runtime("quality_table"),
        gpu=config["resources"]["gpu"],
    params:
        classes=lambda wildcards: metric_classes(wildcards.method),
        trained_on=lambda wildcards: synthetic_source(wildcards.method)["trained_on"],
        settings=quality_settings(),
        run=config["run"],
    script:
        "../workflow/scripts/quality_table.py"


rule memorization_audit:
    input:
        unpack(metrics_inputs),
    output:
        audit=report(
            "results/audit/{method}_memorization.csv",
            caption="../report/memorization.rst",
            category="Metrics",
        ),
        summary=report(
            "results/audit/{method}_memorization_summary.csv",
            caption="../report/memorization_summary.rst",
            category="Metrics",
        ),
        figure=report(
            "results/figures/{method}_memorization.png",
            caption="../report/memorization_figure.rst",
            category="Metrics",
        ),
    log:
        "results/logs/metrics/memorization_{method}.log",
    benchmark:
        "results/benchmarks/metrics/memorization_{method}.tsv"
    conda:
        "../envs/metrics.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=rule_runtime("memorization_audit"),
    params:
        settings=config["metrics"]["memorization"],
        run=config["run"],
    script:
        "../workflow/scripts/memorization_audit.py"

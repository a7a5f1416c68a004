# Data layer: demo datasets, ingestion (pairs.csv), resized copies, splits.


rule demo_ham10000:
    output:
        **demo_outputs("ham10000"),
    log:
        "results/logs/data/demo_ham10000.log",
    benchmark:
        "results/benchmarks/data/demo_ham10000.tsv"
    conda:
        "../envs/data.yaml"
    threads: job_threads()
    resources:
        mem_mb=2000,
        runtime=rule_runtime("demo_ham10000"),
    params:
        dataset="ham10000",
        root=root_of_output,
        settings=demo_settings("ham10000", config),
    script:
        "../workflow/scripts/demo_data.py"


use rule demo_ham10000 as demo_fitzpatrick17k with:
    output:
        **demo_outputs("fitzpatrick17k"),
    log:
        "results/logs/data/demo_fitzpatrick17k.log",
    benchmark:
        "results/benchmarks/data/demo_fitzpatrick17k.tsv"
    params:
        dataset="fitzpatrick17k",
        root=root_of_output,
        settings=demo_settings("fitzpatrick17k", config),


use rule demo_ham10000 as demo_ddi with:
    output:
        **demo_outputs("ddi"),
    log:
        "results/logs/data/demo_ddi.log",
    benchmark:
        "results/benchmarks/data/demo_ddi.tsv"
    params:
        dataset="ddi",
        root=root_of_output,
        settings=demo_settings("ddi", config),


# the demo's stand-in for paper 2's authors' released images: shards in exactly their layout,
# made from the demo's Fitzpatrick17k images (released.root names it in the demo config)
rule demo_released:
    input:
        training=released_paths(f"{DEMO_ROOT}/fitzpatrick17k/fitz_metadata")["training"],
        images=f"{DEMO_ROOT}/fitzpatrick17k/images",
    output:
        shards=directory(DEMO_RELEASED),
    log:
        "results/logs/data/demo_released.log",
    benchmark:
        "results/benchmarks/data/demo_released.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("demo_released"),
    params:
        settings=demo_released_settings(),
    script:
        "../workflow/scripts/demo_released.py"


rule ingest_ham10000:
    input:
        **raw_inputs("ham10000"),
    output:
        pairs=pairs_table("ham10000"),
    log:
        "results/logs/data/ingest_ham10000.log",
    benchmark:
        "results/benchmarks/data/ingest_ham10000.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("ingest_ham10000"),
    params:
        root=root_of_input,
        settings=config["datasets"]["ham10000"],
    script:
        "../workflow/scripts/ingest_ham10000.py"


rule ingest_fitzpatrick17k:
    input:
        **raw_inputs("fitzpatrick17k"),
        reference=config["datasets"]["fitzpatrick17k"]["reference_counts"],
    output:
        pairs=pairs_table("fitzpatrick17k"),
        missing="results/data/fitzpatrick17k/missing.csv",
        class_counts=report(
            "results/data/fitzpatrick17k/class_counts.csv",
            caption="../report/class_counts.rst",
            category="Data",
        ),
    log:
        "results/logs/data/ingest_fitzpatrick17k.log",
    benchmark:
        "results/benchmarks/data/ingest_fitzpatrick17k.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("ingest_fitzpatrick17k"),
    params:
        root=root_of_input,
        settings=config["datasets"]["fitzpatrick17k"],
    script:
        "../workflow/scripts/ingest_fitzpatrick17k.py"


rule ingest_ddi:
    input:
        **raw_inputs("ddi"),
    output:
        pairs=pairs_table("ddi"),
    log:
        "results/logs/data/ingest_ddi.log",
    benchmark:
        "results/benchmarks/data/ingest_ddi.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("ingest_ddi"),
    params:
        root=root_of_input,
        settings=config["datasets"]["ddi"],
    script:
        "../workflow/scripts/ingest_ddi.py"


rule resize_images:
    input:
        pairs="results/data/{dataset}/pairs.csv",
    output:
        images=directory("results/data/{dataset}/images"),
    log:
        "results/logs/data/resize_images/{dataset}.log",
    benchmark:
        "results/benchmarks/data/resize_images/{dataset}.tsv"
    conda:
        "../envs/data.yaml"
    threads: job_threads()
    resources:
        mem_mb=4000,
        runtime=rule_runtime("resize_images"),
    params:
        sizes=lambda wildcards: config["preprocess"]["sizes"][wildcards.dataset],
        crop=config["preprocess"]["crop"],
        short_sides=lambda wildcards: config["preprocess"]["short_side"].get(wildcards.dataset, []),
    script:
        "../workflow/scripts/resize_images.py"


rule split:
    input:
        unpack(split_inputs),
    output:
        split="results/data/{dataset}/splits/{protocol}.csv",
    log:
        "results/logs/data/split/{dataset}/{protocol}.log",
    benchmark:
        "results/benchmarks/data/split/{dataset}/{protocol}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("split"),
    params:
        settings=split_settings,
    script:
        "../workflow/scripts/split.py"

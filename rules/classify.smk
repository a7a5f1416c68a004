# Paper 1, section 2.4: the CNN ablation (original / synthetic / combined x split protocol),
# one job per arm, gathered into Table 3 and Table 2's AI columns. Test sets are real only.


rule classify_cnn:
    input:
        unpack(paper_cnn_inputs),
    output:
        metrics="results/classify/paper_cnn/{protocol}/{variant}/metrics.json",
        history="results/classify/paper_cnn/{protocol}/{variant}/history.csv",
        confusion="results/classify/paper_cnn/{protocol}/{variant}/confusion.png",
        curves="results/classify/paper_cnn/{protocol}/{variant}/loss_curves.png",
        model="results/classify/paper_cnn/{protocol}/{variant}/model.pt",
    params:
        variant=lambda wildcards: wildcards.variant,
        protocol=lambda wildcards: wildcards.protocol,
        classes=config["datasets"]["ham10000"]["classes"],
        settings=PAPER_CNN["settings"],
        size=PAPER_CNN["image_size"],
        run=config["run"],
        # resume state: kept when the job dies (so it is not a declared output)
        checkpoint=lambda wildcards: (
            f"results/classify/paper_cnn/resume/{wildcards.protocol}_{wildcards.variant}.pt"
        ),
    log:
        "results/logs/classify/paper_cnn/{protocol}_{variant}.log",
    benchmark:
        "results/benchmarks/classify/paper_cnn/{protocol}_{variant}.tsv"
    threads: job_threads()
    resources:
        mem_mb=16000,
        runtime=rule_runtime("classify_cnn"),
        gpu=config["resources"]["gpu"],
    conda:
        "../envs/classify.yaml"
    script:
        "../workflow/scripts/classify_cnn.py"


rule classify_table3:
    input:
        metrics=paper_cnn_runs(),
        paper="resources/reference/shavlokhova2023_table3.csv",
        paper_table2="resources/reference/shavlokhova2023_table2.csv",
    output:
        **{
            name: report(path, caption=f"../report/cnn_{name}.rst", category="Classifiers")
            for name, path in paper_cnn_outputs().items()
        },
    params:
        run=config["run"],
    log:
        "results/logs/classify/table3.log",
    benchmark:
        "results/benchmarks/classify/table3.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("classify_table3"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/classify_table3.py"


rule table3:
    input:
        rules.classify_table3.output,

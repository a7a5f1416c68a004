# Paper 1, section 2.4: the CNN ablation (original / synthetic / combined x split protocol),
# one job per arm, gathered into Table 3 and Table 2's AI columns. Test sets are the split's real
# images (classify.paper_cnn.test_set: real) or the arm's own images split 80/20 (paper).


rule paper1_cnn:
    input:
        unpack(paper_cnn_inputs),
    output:
        metrics="results/classify/paper_cnn/{protocol}/{variant}/metrics.json",
        history="results/classify/paper_cnn/{protocol}/{variant}/history.csv",
        # wall-clock seconds, kept out of the products above (same inputs, same bytes)
        timing="results/classify/paper_cnn/{protocol}/{variant}/timing.json",
        confusion="results/classify/paper_cnn/{protocol}/{variant}/confusion.png",
        curves="results/classify/paper_cnn/{protocol}/{variant}/loss_curves.png",
        model="results/classify/paper_cnn/{protocol}/{variant}/model.pt",
    log:
        "results/logs/classify/paper_cnn/{protocol}_{variant}.log",
    benchmark:
        "results/benchmarks/classify/paper_cnn/{protocol}_{variant}.tsv"
    conda:
        "../envs/classify.yaml"
    threads: job_threads()
    resources:
        mem_mb=16000,
        runtime=rule_runtime("paper1_cnn"),
        gpu=config["resources"]["gpu"],
    params:
        variant=lambda wildcards: wildcards.variant,
        protocol=lambda wildcards: wildcards.protocol,
        classes=config["datasets"]["ham10000"]["classes"],
        settings=PAPER_CNN["settings"],
        size=PAPER_CNN["image_size"],
        test_set=PAPER_CNN["test_set"],
        # test_set paper: synthetic images split in the protocol's proportions, with its seed
        synthetic_split=lambda wildcards: config["splits"]["ham10000"][wildcards.protocol],
        run=config["run"],
        # resume state: kept when the job dies (so it is not a declared output)
        checkpoint=lambda wildcards: (
            f"results/classify/paper_cnn/resume/{wildcards.protocol}_{wildcards.variant}.pt"
        ),
    script:
        "../workflow/scripts/paper1_cnn.py"


rule paper1_table3:
    input:
        metrics=paper_cnn_runs(),
        paper="resources/reference/shavlokhova2023_table3.csv",
        paper_table2="resources/reference/shavlokhova2023_table2.csv",
    output:
        **{
            name: report(path, caption=f"../report/cnn_{name}.rst", category="Classifiers")
            for name, path in paper_cnn_outputs().items()
        },
    log:
        "results/logs/classify/table3.log",
    benchmark:
        "results/benchmarks/classify/table3.tsv"
    conda:
        "../envs/classify.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper1_table3"),
    params:
        run=config["run"],
    script:
        "../workflow/scripts/paper1_table3.py"


# Paper 2, Figure 3: EfficientNetV2-M over real images per class x synthetic source x transforms
# x seed (+ the dose-response runs), one job per run; the DDI malignancy experiment likewise.
# Their images are decoded once, into memory-mapped caches that every run reads (classify
# settings input: cache): per dataset, size of the copies and input size for the real images,
# per pool for the synthetic ones.


rule paper2_image_cache_real:
    input:
        images="results/data/{dataset}/images",
    output:
        index="results/classify/image_cache/real/{dataset}/{cache_size}px-for-{input_size}px/index.csv",
        pixels="results/classify/image_cache/real/{dataset}/{cache_size}px-for-{input_size}px/pixels.npy",
    log:
        "results/logs/classify/image_cache/real/{dataset}_{cache_size}px-for-{input_size}px.log",
    benchmark:
        "results/benchmarks/classify/image_cache/real/{dataset}_{cache_size}px-for-{input_size}px.tsv"
    conda:
        "../envs/classify.yaml"
    threads: job_threads()
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper2_image_cache_real"),
    params:
        size=lambda wildcards: int(wildcards.cache_size),
        input_size=lambda wildcards: int(wildcards.input_size),
        whole=image_cache_whole,
    script:
        "../workflow/scripts/paper2_image_cache_real.py"


rule paper2_image_cache_synthetic:
    input:
        manifests=image_cache_manifests,
        shards=image_cache_shards,
    output:
        index="results/classify/image_cache/synthetic/{sd_method}-{sd_variant}/{dataset}/{pool}/for-{input_size}px/index.csv",
        pixels="results/classify/image_cache/synthetic/{sd_method}-{sd_variant}/{dataset}/{pool}/for-{input_size}px/pixels.npy",
    log:
        "results/logs/classify/image_cache/synthetic/{sd_method}-{sd_variant}_{dataset}_{pool}_for-{input_size}px.log",
    benchmark:
        "results/benchmarks/classify/image_cache/synthetic/{sd_method}-{sd_variant}_{dataset}_{pool}_for-{input_size}px.tsv"
    conda:
        "../envs/classify.yaml"
    threads: job_threads()
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper2_image_cache_synthetic"),
    params:
        input_size=lambda wildcards: int(wildcards.input_size),
    script:
        "../workflow/scripts/paper2_image_cache_synthetic.py"


# the images of a released source (the authors' shards, rule released_index), decoded once
rule paper2_image_cache_released:
    input:
        index=RELEASED_INDEX,
    output:
        index="results/classify/image_cache/released/{sd_method}-{sd_variant}/for-{input_size}px/index.csv",
        pixels="results/classify/image_cache/released/{sd_method}-{sd_variant}/for-{input_size}px/pixels.npy",
    log:
        "results/logs/classify/image_cache/released/{sd_method}-{sd_variant}_for-{input_size}px.log",
    benchmark:
        "results/benchmarks/classify/image_cache/released/{sd_method}-{sd_variant}_for-{input_size}px.tsv"
    conda:
        "../envs/classify.yaml"
    threads: job_threads()
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper2_image_cache_released"),
    params:
        source=lambda wildcards: f"{wildcards.sd_method}-{wildcards.sd_variant}",
        labels=released_labels(),
        input_size=lambda wildcards: int(wildcards.input_size),
    script:
        "../workflow/scripts/paper2_image_cache_released.py"


rule paper2_grid_run:
    input:
        unpack(grid_run_inputs),
    output:
        metrics="results/classify/fig3/{grid_protocol}/{grid_run}/metrics.json",
        history="results/classify/fig3/{grid_protocol}/{grid_run}/history.csv",
        timing="results/classify/fig3/{grid_protocol}/{grid_run}/timing.json",
        model="results/classify/fig3/{grid_protocol}/{grid_run}/model.pt",
    log:
        "results/logs/classify/fig3/{grid_protocol}/{grid_run}.log",
    benchmark:
        "results/benchmarks/classify/fig3/{grid_protocol}/{grid_run}.tsv"
    conda:
        "../envs/classify.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=rule_runtime("paper2_grid_run"),
        gpu=config["resources"]["gpu"],
    params:
        run_id=lambda wildcards: wildcards.grid_run,
        protocol=lambda wildcards: wildcards.grid_protocol,
        classes=SD_CLASSES["fitzpatrick17k"],
        val_per_class=GRID["val_per_class"],
        split_seed=GRID["split_seed"],
        settings=grid_run_settings,
        size=GRID["image_size"],
        run=config["run"],
        # resume state: kept when the job dies (so it is not a declared output)
        checkpoint=lambda wildcards: (
            f"results/classify/fig3/resume/{wildcards.grid_protocol}/{wildcards.grid_run}.pt"
        ),
    script:
        "../workflow/scripts/paper2_grid_run.py"


rule paper2_fig3:
    input:
        metrics=grid_metrics(),
    output:
        accuracy=report(
            "results/tables/fig3_accuracy.csv",
            caption="../report/fig3_accuracy.rst",
            category="Classifiers",
        ),
        accuracy_figure=report(
            "results/figures/fig3_accuracy.png",
            caption="../report/fig3_accuracy.rst",
            category="Classifiers",
        ),
        dose=report(
            "results/tables/fig3_dose_response.csv",
            caption="../report/fig3_dose.rst",
            category="Classifiers",
        ),
        dose_figure=report(
            "results/figures/fig3_dose_response.png",
            caption="../report/fig3_dose.rst",
            category="Classifiers",
        ),
        skin_type=report(
            "results/tables/fig3_skin_type.csv",
            caption="../report/fig3_skin_type.rst",
            category="Classifiers",
        ),
        external=report(
            "results/tables/fig3_ddi_external.csv",
            caption="../report/fig3_external.rst",
            category="Classifiers",
        ),
        protocols=report(
            "results/tables/fig3_protocols.csv",
            caption="../report/fig3_protocols.rst",
            category="Classifiers",
        ),
        protocols_figure=report(
            "results/figures/fig3_protocols.png",
            caption="../report/fig3_protocols.rst",
            category="Classifiers",
        ),
    log:
        "results/logs/classify/fig3_gather.log",
    benchmark:
        "results/benchmarks/classify/fig3_gather.tsv"
    conda:
        "../envs/classify.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper2_fig3"),
    params:
        run=config["run"],
        synthetic_per_real=GRID["synthetic_per_real"],
    script:
        "../workflow/scripts/paper2_fig3.py"


rule paper2_ddi_run:
    input:
        unpack(ddi_run_inputs),
    output:
        metrics="results/classify/ddi/{ddi_run}/metrics.json",
        history="results/classify/ddi/{ddi_run}/history.csv",
        timing="results/classify/ddi/{ddi_run}/timing.json",
        model="results/classify/ddi/{ddi_run}/model.pt",
    log:
        "results/logs/classify/ddi/{ddi_run}.log",
    benchmark:
        "results/benchmarks/classify/ddi/{ddi_run}.tsv"
    conda:
        "../envs/classify.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=rule_runtime("paper2_ddi_run"),
        gpu=config["resources"]["gpu"],
    params:
        run_id=lambda wildcards: wildcards.ddi_run,
        settings=DDI_EXP["settings"],
        size=DDI_EXP["image_size"],
        run=config["run"],
        checkpoint=lambda wildcards: f"results/classify/ddi/resume/{wildcards.ddi_run}.pt",
    script:
        "../workflow/scripts/paper2_ddi_run.py"


rule paper2_ddi_tables:
    input:
        metrics=ddi_metrics(),
    output:
        table=report(
            "results/tables/ddi_malignancy.csv",
            caption="../report/ddi_malignancy.rst",
            category="Classifiers",
        ),
        figure=report(
            "results/figures/ddi_malignancy.png",
            caption="../report/ddi_malignancy.rst",
            category="Classifiers",
        ),
    log:
        "results/logs/classify/ddi_gather.log",
    benchmark:
        "results/benchmarks/classify/ddi_gather.tsv"
    conda:
        "../envs/classify.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("paper2_ddi_tables"),
    params:
        run=config["run"],
    script:
        "../workflow/scripts/paper2_ddi_tables.py"

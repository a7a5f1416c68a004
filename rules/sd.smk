# Paper 2's Stable Diffusion track (diffusers): DreamBooth per class (or one for a dataset's
# classes, as the authors' DDI model), then text-to-image, inpainting and in-then-outpainting in
# static shards, each one WebDataset tar in the layout of the authors' released shards and a
# manifest. Which sets and pools are made follows from the classifier runs that read them
# (dermsynth.design.pools; input functions in common.smk). The authors' released images are a
# source too: their shards indexed once (rule released_index).


rule sd_tiny_models:
    output:
        **{base: directory(path) for base, path in sd_tiny_model_paths().items()},
    log:
        "results/logs/sd/tiny_models.log",
    benchmark:
        "results/benchmarks/sd/tiny_models.tsv"
    conda:
        "../envs/sd.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("sd_tiny_models"),
    params:
        seed=SD["tiny_models"]["seed"],
        texts=[label for classes in SD_CLASSES.values() for label in classes],
    script:
        "../workflow/scripts/sd_tiny_models.py"


rule sd_dreambooth:
    input:
        model=lambda wildcards: sd_model(wildcards.sd_base),
        split=lambda wildcards: sd_split(wildcards.dataset),
        images="results/data/{dataset}/images",
    output:
        model=directory("results/models/sd/dreambooth/{sd_base}/{dataset}/{sd_cls}/{pool}"),
    log:
        "results/logs/sd/dreambooth/{sd_base}/{dataset}/{sd_cls}/{pool}.log",
    benchmark:
        "results/benchmarks/sd/dreambooth/{sd_base}/{dataset}/{sd_cls}/{pool}.tsv"
    conda:
        "../envs/sd.yaml"
    threads: job_threads()
    resources:
        mem_mb=32000,
        runtime=rule_runtime("sd_dreambooth"),
        gpu=config["resources"]["gpu"],
    params:
        base=lambda wildcards: wildcards.sd_base,
        label=sd_dreambooth_label,
        draw=sd_dreambooth_draw,
        settings=sd_dreambooth_settings,
        # resume state: kept when the job dies (so it is not a declared output)
        state=lambda wildcards: (
            f"results/models/sd/dreambooth/resume/{wildcards.sd_base}/{wildcards.dataset}/"
            f"{wildcards.sd_cls}/{wildcards.pool}.pt"
        ),
    script:
        "../workflow/scripts/sd_dreambooth.py"


rule sd_generate_shard:
    input:
        unpack(sd_generate_inputs),
    output:
        tar=(
            "results/synthetic/sd/{sd_method}-{sd_variant}/{dataset}/{sd_cls}/{pool}/"
            "shard-{k}.tar"
        ),
        manifest=(
            "results/synthetic/sd/{sd_method}-{sd_variant}/{dataset}/{sd_cls}/{pool}/"
            "shard-{k}.csv"
        ),
    log:
        "results/logs/sd/generate/{sd_method}-{sd_variant}/{dataset}/{sd_cls}/{pool}/shard-{k}.log",
    benchmark:
        "results/benchmarks/sd/generate/{sd_method}-{sd_variant}/{dataset}/{sd_cls}/{pool}/shard-{k}.tsv"
    conda:
        "../envs/sd.yaml"
    threads: 1
    resources:
        mem_mb=16000,
        runtime=rule_runtime("sd_generate_shard"),
        gpu=config["resources"]["gpu"],
    params:
        method=lambda wildcards: wildcards.sd_method,
        variant=lambda wildcards: wildcards.sd_variant,
        dataset=lambda wildcards: wildcards.dataset,
        label=lambda wildcards: SD_SLUGS[wildcards.dataset][wildcards.sd_cls],
        k=lambda wildcards: int(wildcards.k),
        shards=lambda wildcards: sd_shards(sd_pool(wildcards), wildcards.sd_cls),
        draw=sd_draw,
        release=lambda wildcards: sd_pool(wildcards).release,
        per_source=lambda wildcards: sd_pool(wildcards).per_source,
        expected_sources=sd_expected_sources,
        settings=SD["generate"]["settings"],
        tag=lambda wildcards: wildcards.pool,
        loose_png=config["storage"]["loose_png"],
        # the images until packed: kept when the job dies (so it is not a declared output)
        work=shard_work,
    script:
        "../workflow/scripts/sd_generate.py"


rule sd_synthetic_set:
    input:
        manifests=sd_set_manifests,
        shards=sd_set_tars,
    output:
        manifest="results/synthetic/sd/{sd_method}-{sd_variant}/{dataset}/manifest.csv",
        grid=report(
            "results/figures/sd_{sd_method}-{sd_variant}_{dataset}_samples.png",
            caption="../report/sd_samples.rst",
            category="Stable Diffusion",
        ),
    log:
        "results/logs/sd/set/{sd_method}-{sd_variant}_{dataset}.log",
    benchmark:
        "results/benchmarks/sd/set/{sd_method}-{sd_variant}_{dataset}.tsv"
    conda:
        "../envs/sd.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=rule_runtime("sd_synthetic_set"),
    params:
        title=lambda wildcards: (
            f"{wildcards.sd_method}-{wildcards.sd_variant}, {wildcards.dataset} ({config['run']})"
        ),
    script:
        "../workflow/scripts/sd_merge.py"


rule released_index:
    input:
        shards=RELEASED["root"],
    output:
        index=RELEASED_INDEX,
    log:
        "results/logs/sd/released_index.log",
    benchmark:
        "results/benchmarks/sd/released_index.tsv"
    conda:
        "../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=rule_runtime("released_index"),
    params:
        methods=RELEASED["methods"],
        tags=RELEASED["tags"],
    script:
        "../workflow/scripts/released_index.py"

# GLIDE track (paper 1, section 2.1): one GLIDE per split protocol (glide.train_on): the images it
# learns from, base and upsampler fine-tuned on them, and its synthetic set sampled per class in
# shards (each one WebDataset tar and a manifest).


rule glide_train_images:
    input:
        pairs=pairs_table("ham10000"),
        split="results/data/ham10000/splits/{glide_protocol}.csv",
    output:
        images="results/models/glide/{glide_protocol}/train_images.csv",
    log:
        "results/logs/glide/{glide_protocol}/train_images.log",
    benchmark:
        "results/benchmarks/glide/{glide_protocol}/train_images.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=rule_runtime("glide_train_images"),
    params:
        train_on=lambda wildcards: config["glide"]["train_on"][wildcards.glide_protocol],
    script:
        "../workflow/scripts/glide_train_images.py"


rule glide_finetune:
    input:
        unpack(glide_finetune_inputs),
    output:
        model="results/models/glide/{glide_protocol}/{glide_kind}.pt",
        loss="results/models/glide/{glide_protocol}/{glide_kind}_loss.csv",
        preview=report(
            "results/figures/glide_{glide_protocol}_finetune_{glide_kind}_preview.png",
            caption="../report/glide_finetune_preview.rst",
            category="GLIDE",
        ),
    log:
        "results/logs/glide/{glide_protocol}/finetune_{glide_kind}.log",
    benchmark:
        "results/benchmarks/glide/{glide_protocol}/finetune_{glide_kind}.tsv"
    conda:
        "../envs/glide.yaml"
    threads: job_threads()
    resources:
        mem_mb=32000,
        runtime=rule_runtime("glide_finetune"),
        gpu=config["resources"]["gpu"],
    params:
        options=lambda wildcards: glide_options(wildcards.glide_kind),
        settings=config["glide"]["finetune"],
        # resume state: kept when the job dies (so it is not a declared output)
        state=lambda wildcards: (
            f"results/models/glide/resume/{wildcards.glide_protocol}/{wildcards.glide_kind}.pt"
        ),
    script:
        "../workflow/scripts/glide_finetune.py"


rule glide_sample_shard:
    input:
        unpack(glide_models),
    output:
        tar="results/synthetic/glide/{glide_protocol}/{cls}/shard-{k}.tar",
        manifest="results/synthetic/glide/{glide_protocol}/{cls}/shard-{k}.csv",
    log:
        "results/logs/glide/{glide_protocol}/sample/{cls}/shard-{k}.log",
    benchmark:
        "results/benchmarks/glide/{glide_protocol}/sample/{cls}/shard-{k}.tsv"
    conda:
        "../envs/glide.yaml"
    threads: config["glide"]["sample"]["threads"]
    resources:
        mem_mb=16000,
        runtime=rule_runtime("glide_sample_shard"),
        gpu=config["resources"]["gpu"],
    params:
        indices=glide_shard_indices,
        prompt=glide_prompt,
        base_options=glide_options("base"),
        upsample_options=glide_options("upsample"),
        settings=config["glide"]["sample"],
        loose_png=config["storage"]["loose_png"],
        # the images until packed: kept when the job dies (so it is not a declared output)
        work=shard_work,
    script:
        "../workflow/scripts/glide_sample.py"


rule glide_synthetic_set:
    input:
        manifests=glide_shard_manifests,
        shards=glide_shard_tars,
        loss=expand(
            "results/models/glide/{{glide_protocol}}/{glide_kind}_loss.csv",
            glide_kind=GLIDE_KINDS,
        ),
    output:
        manifest="results/synthetic/glide/{glide_protocol}/manifest.csv",
        samples=report(
            "results/figures/glide_{glide_protocol}_samples.png",
            caption="../report/glide_samples.rst",
            category="GLIDE",
        ),
        loss=report(
            "results/figures/glide_{glide_protocol}_finetune_loss.png",
            caption="../report/glide_finetune_loss.rst",
            category="GLIDE",
        ),
    log:
        "results/logs/glide/{glide_protocol}/synthetic_set.log",
    benchmark:
        "results/benchmarks/glide/{glide_protocol}/synthetic_set.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=rule_runtime("glide_synthetic_set"),
    params:
        run=config["run"],
        trained_on=lambda wildcards: GLIDE_SETS[wildcards.glide_protocol].trained_on,
    script:
        "../workflow/scripts/glide_synthetic_set.py"

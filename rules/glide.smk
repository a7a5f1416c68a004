# GLIDE track (paper 1, section 2.1): fine-tune base and upsampler, sample per class in shards.


rule glide_finetune:
    input:
        unpack(glide_finetune_inputs),
    output:
        model="results/models/glide/{glide_kind}.pt",
        loss="results/models/glide/{glide_kind}_loss.csv",
        preview=report(
            "results/figures/glide_finetune_{glide_kind}_preview.png",
            caption="../report/glide_finetune_preview.rst",
            category="GLIDE",
        ),
    params:
        options=lambda wildcards: glide_options(wildcards.glide_kind),
        settings=config["glide"]["finetune"],
        splits=config["glide"]["train_on"]["splits"],
        # resume state: kept when the job dies (so it is not a declared output)
        state=lambda wildcards: f"results/models/glide/resume/{wildcards.glide_kind}.pt",
    log:
        "results/logs/glide/finetune_{glide_kind}.log",
    benchmark:
        "results/benchmarks/glide/finetune_{glide_kind}.tsv"
    threads: job_threads()
    resources:
        mem_mb=32000,
        runtime=rule_runtime("glide_finetune"),
        gpu=config["resources"]["gpu"],
    conda:
        "../envs/glide.yaml"
    script:
        "../workflow/scripts/glide_finetune.py"


rule glide_sample_shard:
    input:
        base="results/models/glide/base.pt",
        upsample="results/models/glide/upsample.pt",
    output:
        manifest="results/synthetic/glide/{cls}/shard-{k}/manifest.csv",
    params:
        indices=glide_shard_indices,
        prompt=glide_prompt,
        base_options=glide_options("base"),
        upsample_options=glide_options("upsample"),
        settings=config["glide"]["sample"],
    log:
        "results/logs/glide/sample/{cls}/shard-{k}.log",
    benchmark:
        "results/benchmarks/glide/sample/{cls}/shard-{k}.tsv"
    threads: config["glide"]["sample"]["threads"]
    resources:
        mem_mb=16000,
        runtime=rule_runtime("glide_sample_shard"),
        gpu=config["resources"]["gpu"],
    conda:
        "../envs/glide.yaml"
    script:
        "../workflow/scripts/glide_sample.py"


rule glide_synthetic_set:
    input:
        manifests=glide_shard_manifests(),
        loss=expand("results/models/glide/{glide_kind}_loss.csv", glide_kind=GLIDE_KINDS),
    output:
        manifest="results/synthetic/glide/manifest.csv",
        samples=report(
            "results/figures/glide_samples.png",
            caption="../report/glide_samples.rst",
            category="GLIDE",
        ),
        loss=report(
            "results/figures/glide_finetune_loss.png",
            caption="../report/glide_finetune_loss.rst",
            category="GLIDE",
        ),
    params:
        run=config["run"],
    log:
        "results/logs/glide/synthetic_set.log",
    benchmark:
        "results/benchmarks/glide/synthetic_set.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=rule_runtime("glide_synthetic_set"),
    conda:
        "../envs/report.yaml"
    script:
        "../workflow/scripts/glide_synthetic_set.py"


rule glide:
    input:
        rules.glide_synthetic_set.output,

"""Run the real snakemake on a copy of the workflow in a temporary directory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.design.draws import released_paths
from dermsynth.design.pools import (
    config_pools,
    dreambooth_models,
    dreambooth_slugs,
    find_pool,
    grid_run_pool,
    shard_count,
    sources_per_class,
    split_source,
)
from dermsynth.design.runs import (
    largest_real_per_class,
    reads_released,
    section_ddi_runs,
    section_grid_runs,
)

REPO = Path(__file__).resolve().parents[1]
DATASETS = ["ham10000", "fitzpatrick17k", "ddi"]
WORKFLOW_PARTS = ["Snakefile", "rules", "config", "report", "workflow", "envs", "profiles"]


def copy_workflow(target: Path) -> Path:
    """The workflow's files (not results/) copied into `target`, with resources/reference."""
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy(source, target / part)
    shutil.copytree(REPO / "resources" / "reference", target / "resources" / "reference")
    return target


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in `workdir`, with this interpreter's snakemake."""
    command = [sys.executable, "-m", "snakemake", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run, as {rule: jobs}."""
    table = dry_run_output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


def load_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def modules_loaded_by(*modules: str) -> set[str]:
    """Every module a fresh interpreter holds after importing `modules`: what a job or a
    snakemake parse that imports them pays for."""
    code = f"import json, sys; import {', '.join(modules)}; print(json.dumps(list(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"importing {modules} failed:\n{result.stderr}")
    return set(json.loads(result.stdout))


# a smaller HAM10000 demo, resized for GLIDE's base model and the copies its crops come from: the
# config the tests that fine-tune GLIDE through the workflow start from
SMALL_HAM10000_CONFIG = """
demo:
  ham10000:
    lesions_per_class: {akiec: 4, bcc: 4, bkl: 4, df: 4, mel: 4, nv: 4, vasc: 4}
preprocess:
  sizes: {ham10000: [64, 128]}   # the base model's input and the copies it crops from
"""


def place_paper_inputs(workdir) -> None:
    """Empty placeholders at every raw input path of config/paper.yaml: a dry-run reads none."""
    config = load_config(REPO / "config" / "paper.yaml")
    for dataset, layout in RAW_LAYOUT.items():
        root = workdir / config["datasets"][dataset]["root"]
        for folder in layout.images:
            (root / folder).mkdir(parents=True)
        (root / layout.metadata).touch()
    for path in released_paths(config["splits"]["fitzpatrick17k"]["paper"]["released"]).values():
        (workdir / path).parent.mkdir(parents=True, exist_ok=True)
        (workdir / path).touch()
    for kind in ("base", "upsample"):
        weights = workdir / config["glide"][kind]["init"]
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.touch()
    inception = workdir / config["metrics"]["inception"]["weights"]
    inception.parent.mkdir(parents=True, exist_ok=True)
    inception.touch()
    for model in config["sd"]["models"].values():
        (workdir / model).mkdir(parents=True)
    for experiment in ("grid", "ddi"):
        weights = workdir / config["classify"][experiment]["settings"]["weights"]
        weights.parent.mkdir(parents=True, exist_ok=True)
        weights.touch()


def expected_jobs(config: dict, with_demo: bool) -> dict[str, int]:
    """Jobs per rule that the spine's graph must have for `config`."""
    protocols = sum(len(config["splits"][d]) for d in DATASETS)
    jobs = {
        "ingest_ham10000": 1,
        "ingest_fitzpatrick17k": 1,
        "ingest_ddi": 1,
        "resize_images": len(DATASETS),
        "split": protocols,
        "data_summary": 1,
        "all": 1,
    }
    sample = config["glide"]["sample"]
    glides = len(config["glide"]["train_on"])  # one GLIDE per split protocol
    jobs["glide_train_images"] = glides
    jobs["glide_finetune"] = 2 * glides
    jobs["glide_sample_shard"] = glides * sum(
        -(-count // sample["images_per_shard"]) for count in sample["images_per_class"].values()
    )
    jobs["glide_synthetic_set"] = glides
    metrics = config["metrics"]
    methods = len(metrics["methods"])
    # each GLIDE's real set is what it learned from (all of HAM10000, or a protocol's splits);
    # a Stable Diffusion set's is its dataset's training images (<method>-<variant>-<dataset>),
    # shared by the sets of one dataset
    real_sets = len(
        {m if m.startswith("glide-") else m.rsplit("-", 1)[-1] for m in metrics["methods"]}
    )
    jobs.update(
        real_image_set=real_sets,
        real_features=real_sets,
        synthetic_features=methods,
        quality_table=methods,
        memorization_audit=methods,
    )
    readers = len(config["reader_study"]["methods"])
    jobs.update(reader_pack=readers, reader_score=readers)
    simulated = [
        m for m in config["reader_study"]["methods"] if m not in config["reader_study"]["answers"]
    ]
    if simulated:
        jobs["reader_simulate"] = len(simulated)
    cnn = config["classify"]["paper_cnn"]
    jobs["paper1_cnn"] = len(cnn["variants"]) * len(cnn["protocols"])
    jobs["paper1_table3"] = 1
    if not metrics["inception"]["weights"]:
        jobs["inception_random_weights"] = 1
    jobs.update(sd_and_grid_jobs(config))
    if with_demo:
        jobs.update({f"demo_{d}": 1 for d in DATASETS})
    return jobs


def sd_and_grid_jobs(config: dict) -> dict[str, int]:
    """Jobs of paper 2's rules: the pools the classifier runs read, their shards and
    DreamBooth models, the grid and DDI runs."""
    grid, ddi, sd = config["classify"]["grid"], config["classify"]["ddi"], config["sd"]
    pools = config_pools(config)
    classes = {
        "fitzpatrick17k": config["datasets"]["fitzpatrick17k"]["classes"],
        "ddi": ["benign", "malignant"],
    }
    shards = sum(
        shard_count(count, pool.per_source, sd["generate"]["images_per_shard"])
        for pool in pools
        for count in sources_per_class(
            pool, classes[pool.dataset], sd["sources_per_class"]
        ).values()
    )
    jobs = {
        "sd_generate_shard": shards,
        "sd_synthetic_set": len({(p.method, p.variant, p.dataset) for p in pools}),
        "paper2_grid_run": len(section_grid_runs(grid)),
        "paper2_fig3": 1,
        "paper2_ddi_run": len(section_ddi_runs(ddi)),
        "paper2_ddi_tables": 1,
    }
    models = sum(
        len(dreambooth_slugs(sd["dreambooth"], dataset, classes[dataset]))
        for _, dataset, _ in dreambooth_models(pools)
    )
    if models:
        jobs["sd_dreambooth"] = models
    if any(path.startswith("resources/demo/sd/") for path in sd["models"].values()):
        jobs["sd_tiny_models"] = 1
    # the authors' released images: their index once, and the demo's stand-in shards
    released = {
        run.source
        for run in [*section_grid_runs(grid), *section_ddi_runs(ddi)]
        if reads_released(run.source)
    }
    if released:
        jobs["released_index"] = 1
        root = (config.get("released") or {}).get("root", "")
        if root.startswith("resources/demo/released/"):
            jobs["demo_released"] = 1
    # a released source's images decoded once per network input size, where runs read caches
    caches = {
        (run.source, section["settings"].get("image_size", 224))
        for section, runs in ((grid, section_grid_runs(grid)), (ddi, section_ddi_runs(ddi)))
        if section["settings"].get("input", "cache") == "cache"
        for run in runs
        if reads_released(run.source)
    }
    if caches:
        jobs["paper2_image_cache_released"] = len(caches)
    jobs.update(image_cache_jobs(config, pools))
    return jobs


def image_cache_jobs(config: dict, pools) -> dict[str, int]:
    """The caches the runs read their images from (settings input: cache, the default): one per
    dataset, size of its copies and input size, one per synthetic pool and input size."""
    grid, ddi = config["classify"]["grid"], config["classify"]["ddi"]
    grid_runs, ddi_runs = section_grid_runs(grid), section_ddi_runs(ddi)
    largest, mode = largest_real_per_class(grid_runs), config["sd"]["dreambooth"]["mode"]
    real, synthetic = set(), set()
    grid_datasets = ["fitzpatrick17k", "ddi"] if grid["external"] else ["fitzpatrick17k"]
    for section, runs, datasets in ((grid, grid_runs, grid_datasets), (ddi, ddi_runs, ["ddi"])):
        settings = section["settings"]
        if not runs or settings.get("input", "cache") != "cache":
            continue
        size = settings.get("image_size", 224)
        real |= {(dataset, section["image_size"], size) for dataset in datasets}
        for run in runs:
            if not run.synthetic_per_real or reads_released(run.source):
                continue
            if section is grid:
                pool = grid_run_pool(run, pools, largest, mode)
            else:
                pool = find_pool(pools, "ddi", *split_source(run.source), "all")
            synthetic.add((pool.source, pool.dataset, pool.name, size))
    jobs = {"paper2_image_cache_real": len(real), "paper2_image_cache_synthetic": len(synthetic)}
    return {rule: count for rule, count in jobs.items() if count}


def paper_weights(config: dict) -> dict[str, set[str]]:
    """The weights a paper config reads (files, and Stable Diffusion's folders), each with the
    rules that read it."""
    weights = {
        config["glide"]["base"]["init"]: {"glide_finetune"},
        config["glide"]["upsample"]["init"]: {"glide_finetune"},
        config["metrics"]["inception"]["weights"]: {"real_features", "synthetic_features"},
    }
    for experiment, rule in (("grid", "paper2_grid_run"), ("ddi", "paper2_ddi_run")):
        weights.setdefault(config["classify"][experiment]["settings"]["weights"], set()).add(rule)
    for model in config["sd"]["models"].values():
        weights[model] = {"sd_dreambooth", "sd_generate_shard"}
    return weights


def remove_paper_weights(workdir: Path) -> dict[str, set[str]]:
    """The placeholder real tree with its datasets and without the weights (as after fetching
    the data only): removes what place_paper_inputs put for config/paper.yaml's weights."""
    weights = paper_weights(load_config(REPO / "config" / "paper.yaml"))
    for path in weights:
        target = Path(workdir) / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return weights

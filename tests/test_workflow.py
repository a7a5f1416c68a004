"""The real snakemake on the demo config (end to end) and on the paper config (dry-run)."""

from __future__ import annotations

import re
import time

import pandas as pd
import pytest
from workflow_helpers import (
    REPO,
    copy_workflow,
    job_counts,
    load_config,
    modules_loaded_by,
    snakemake,
)

from dermsynth.sd.sets import (
    config_pools,
    dreambooth_models,
    pool_images,
    section_ddi_runs,
    section_grid_runs,
    shard_count,
    sources_per_class,
)

pytestmark = pytest.mark.workflow

DATASETS = ["ham10000", "fitzpatrick17k", "ddi"]
RAW_LAYOUT = {
    "ham10000": ("HAM10000_metadata.csv", ["HAM10000_images_part_1", "HAM10000_images_part_2"]),
    "fitzpatrick17k": ("fitzpatrick17k.csv", ["images"]),
    "ddi": ("ddi_metadata.csv", ["images"]),
}


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The whole default (demo) graph, built once in a copy of the workflow."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    start = time.perf_counter()
    result = snakemake(workdir, "--cores", "2")
    print(f"demo graph: {time.perf_counter() - start:.1f} s")
    return workdir, result


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
    jobs["glide_finetune"] = 2
    jobs["glide_sample_shard"] = sum(
        -(-count // sample["images_per_shard"]) for count in sample["images_per_class"].values()
    )
    jobs["glide_synthetic_set"] = 1
    metrics = config["metrics"]
    methods = len(metrics["methods"])
    # GLIDE's real set is one HAM10000 split; a Stable Diffusion set's is its dataset's
    # training images (<method>-<variant>-<dataset>), shared by the sets of one dataset
    real_sets = len({m.rsplit("-", 1)[-1] if m != "glide" else "ham10000" for m in
                     metrics["methods"]})  # fmt: skip
    jobs.update(
        real_image_set=real_sets,
        real_features=real_sets,
        synthetic_features=methods,
        quality_table=methods,
        memorization_audit=methods,
    )
    readers = len(config["reader_study"]["methods"])
    jobs.update(reader_study_packet=readers, reader_score=readers)
    simulated = [m for m in config["reader_study"]["methods"]
                 if m not in config["reader_study"]["answers"]]  # fmt: skip
    if simulated:
        jobs["reader_simulate"] = len(simulated)
    cnn = config["classify"]["paper_cnn"]
    jobs["classify_cnn"] = len(cnn["variants"]) * len(cnn["protocols"])
    jobs["classify_table3"] = 1
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
    classes = {"fitzpatrick17k": config["datasets"]["fitzpatrick17k"]["classes"],
               "ddi": ["benign", "malignant"]}  # fmt: skip
    shards = sum(
        shard_count(count, pool.per_source, sd["generate"]["images_per_shard"])
        for pool in pools
        for count in sources_per_class(
            pool, classes[pool.dataset], sd["ddi_sources_per_class"]
        ).values()
    )
    jobs = {
        "sd_generate_shard": shards,
        "sd_synthetic_set": len({(p.method, p.variant, p.dataset) for p in pools}),
        "classify_grid_run": len(section_grid_runs(grid)),
        "classify_grid_gather": 1,
        "classify_ddi_run": len(section_ddi_runs(ddi)),
        "classify_ddi_gather": 1,
    }
    models = sum(len(classes[dataset]) for _, dataset, _ in dreambooth_models(pools))
    if models:
        jobs["sd_dreambooth"] = models
    if any(path.startswith("resources/demo/sd/") for path in sd["models"].values()):
        jobs["sd_tiny_models"] = 1
    return jobs


def place_paper_inputs(workdir) -> None:
    """Empty placeholders at every raw input path of config/paper.yaml: a dry-run reads none."""
    config = load_config(REPO / "config" / "paper.yaml")
    for dataset, (metadata, folders) in RAW_LAYOUT.items():
        root = workdir / config["datasets"][dataset]["root"]
        for folder in folders:
            (root / folder).mkdir(parents=True)
        (root / metadata).touch()
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


def test_paper_dry_run_lists_every_job_of_the_config(tmp_path):
    workdir = copy_workflow(tmp_path)
    place_paper_inputs(workdir)
    start = time.perf_counter()
    result = snakemake(workdir, "-n", "--configfile", "config/paper.yaml")
    elapsed = time.perf_counter() - start
    config = load_config(REPO / "config" / "paper.yaml")
    counts = job_counts(result.stdout)
    assert counts.pop("total") == sum(counts.values())
    assert counts == expected_jobs(config, with_demo=False)
    print(f"paper dry-run: {elapsed:.1f} s, {sum(counts.values())} jobs")


def test_paper_dry_run_names_the_missing_raw_file(tmp_path):
    workdir = copy_workflow(tmp_path)
    result = snakemake(workdir, "-n", "--configfile", "config/paper.yaml", check=False)
    assert result.returncode != 0
    assert "resources/raw/ham10000/HAM10000_metadata.csv" in result.stdout + result.stderr


def test_reading_the_workflow_imports_no_torch():
    """Every dry run, and every cluster job (it runs snakemake inside), parses the Snakefile: the
    modules the rules import must not pull in torch, timm or diffusers (seconds each)."""
    text = "\n".join(p.read_text() for p in [REPO / "Snakefile", *(REPO / "rules").glob("*.smk")])
    modules = sorted(set(re.findall(r"^\s*from (dermsynth[\w.]*) import", text, re.M)))
    assert {"dermsynth.sd.sets", "dermsynth.classify.ddi", "dermsynth.plan"} <= set(modules)
    heavy = {"torch", "timm", "diffusers", "transformers", "scipy"} & modules_loaded_by(*modules)
    assert not heavy, f"reading the workflow imports {sorted(heavy)}"


def test_demo_graph_builds_every_product(demo_run):
    workdir, _ = demo_run
    for dataset in DATASETS:
        pairs = pd.read_csv(workdir / f"results/data/{dataset}/pairs.csv", dtype=str)
        assert {"image_id", "path", "label", "caption", "group_id", "skin_type"} <= set(pairs)
        images = workdir / f"results/data/{dataset}/images"
        config = load_config(REPO / "config" / "config.yaml")
        for size in config["preprocess"]["sizes"][dataset]:
            assert len(list((images / str(size)).glob("*.png"))) == len(pairs)
        for protocol in config["splits"][dataset]:
            split = pd.read_csv(
                workdir / f"results/data/{dataset}/splits/{protocol}.csv", dtype=str
            )
            assert sorted(split["image_id"]) == sorted(pairs["image_id"])
    for product in [
        "results/data/fitzpatrick17k/class_counts.csv",
        "results/data/fitzpatrick17k/missing.csv",
        "results/tables/data_splits.csv",
        "results/figures/data_splits.png",
        "results/tables/table1_glide_quality.csv",
        "results/figures/table1_glide_quality.png",
        "results/audit/glide_memorization.csv",
        "results/figures/glide_memorization.png",
        "results/reader_study/glide/packet/answer_sheet.xlsx",
        "results/reader_study/glide/packet/index.html",
        "results/reader_study/glide/key.csv",
        "results/tables/table2_glide_reader.csv",
        "results/figures/fig2_glide_reader_roc.png",
        "results/tables/table3_cnn.csv",
        "results/tables/table3_cnn_wide.csv",
        "results/tables/table2_ai.csv",
        "results/tables/fig3_accuracy.csv",
        "results/figures/fig3_accuracy.png",
        "results/tables/fig3_dose_response.csv",
        "results/figures/fig3_dose_response.png",
        "results/tables/fig3_skin_type.csv",
        "results/tables/fig3_ddi_external.csv",
        "results/tables/ddi_malignancy.csv",
        "results/figures/ddi_malignancy.png",
        "results/tables/table1_inoutpaint-dreambooth-ddi_quality.csv",
        "results/audit/inoutpaint-dreambooth-ddi_memorization.csv",
    ]:
        assert (workdir / product).stat().st_size > 0, product


def test_demo_graph_writes_a_log_and_benchmark_for_every_job(demo_run):
    workdir, _ = demo_run
    logs = list((workdir / "results/logs").rglob("*.log"))
    benchmarks = list((workdir / "results/benchmarks").rglob("*.tsv"))
    jobs = sum(expected_jobs(load_config(REPO / "config/config.yaml"), True).values()) - 1
    assert len(logs) == len(benchmarks) == jobs


def test_demo_graph_has_nothing_left_to_do_after_a_run(demo_run):
    workdir, _ = demo_run
    result = snakemake(workdir, "-n", "--cores", "2")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_one_product_can_be_rebuilt_alone(demo_run):
    workdir, _ = demo_run
    target = workdir / "results/data/ham10000/splits/lesion_grouped.csv"
    before = target.read_bytes()
    # the target first: --forcerun takes every argument after it as a rule or file to force
    result = snakemake(
        workdir, "--cores", "2", str(target.relative_to(workdir)), "--forcerun", "split"
    )
    assert "glide_finetune" not in result.stdout + result.stderr  # nothing downstream reran
    assert target.read_bytes() == before  # deterministic for its seed


def test_report_bundles_the_registered_tables_and_figures(demo_run):
    workdir, _ = demo_run
    snakemake(workdir, "--report", "report.html")
    html = (workdir / "report.html").read_text(errors="replace")
    assert "data_splits.png" in html and "class_counts.csv" in html


def test_demo_synthetic_images_come_from_training_images_of_their_pool(demo_run):
    workdir, _ = demo_run
    config = load_config(REPO / "config/config.yaml")
    pools = config_pools(config)
    manifests = list((workdir / "results/synthetic/sd").glob("*/*/manifest.csv"))
    assert len(manifests) == len({(p.method, p.variant, p.dataset) for p in pools})
    # the demo makes every method x variant
    assert {m.parent.parent.name for m in manifests} == {
        f"{method}-{variant}" for method in ("text2img", "inpaint", "inoutpaint")
        for variant in ("pretrained", "dreambooth")
    }  # fmt: skip
    for manifest in manifests:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        # the release's images (sd.release) are made from prompts alone
        release = table["file"].str.contains("/release/shard-")
        assert (table.loc[release, ["source_image", "pool_rank"]] == "").all(axis=None)
        assert (table.loc[release, "method"] == "text2img").all()
        table = table[~release]
        dataset = manifest.parent.name
        split = pd.read_csv(workdir / f"results/data/{dataset}/splits/paper.csv", dtype=str)
        merged = table.merge(split, left_on="source_image", right_on="image_id", how="left")
        assert len(table) > 0 and (merged["split"] == "train").all(), manifest
        assert (merged["class"] == merged["label"]).all(), manifest
        for file in table["file"]:
            assert (workdir / file).is_file(), file


def test_paper_plan_counts_the_grid_the_shards_and_the_images():
    """Hand-counted from config/paper.yaml (README, "The paper's total")."""
    config = load_config(REPO / "config/paper.yaml")
    jobs = sd_and_grid_jobs(config)
    # 7 real counts x 7 sources x 2 transforms x 5 seeds; dose: 2 real x 1 source x 3 counts
    # beyond the main grid's 10 x 2 transforms x 5 seeds
    assert jobs["classify_grid_run"] == 490 + 60
    assert jobs["classify_ddi_run"] == 3 * 2 * 5
    # per_n DreamBooth: 2 bases x 7 n x 9 classes; the release trains none
    assert jobs["sd_dreambooth"] == 126
    # per class, 3,000 images a shard: text2img-, inpaint-, inoutpaint-pretrained 1 each;
    # text2img-dreambooth 5 n x 1 + n128 x 75 (4) + n228 x 75 (6); inpaint- and
    # inoutpaint-dreambooth 7 n x 1; the release 2; DDI 2 methods x (2 benign + 1 malignant)
    assert jobs["sd_generate_shard"] == 9 * (3 + 5 + 4 + 6 + 2 * 7 + 2) + 2 * 3
    sd = config["sd"]
    classes = {"fitzpatrick17k": config["datasets"]["fitzpatrick17k"]["classes"],
               "ddi": ["benign", "malignant"]}  # fmt: skip
    pools = config_pools(config)
    images = {p: pool_images(p, classes[p.dataset], sd["ddi_sources_per_class"]) for p in pools}
    n_sum = 1 + 8 + 16 + 32 + 64 + 128 + 228
    runs = (
        3 * 9 * 228 * 10  # the pretrained sets, one nested pool of 228 per class
        + 3 * 9 * n_sum * 10  # per_n DreamBooth, 10 per real image
        + 9 * (128 + 228) * (75 - 10)  # the dose response's DreamBooth text-to-image
        + 2 * 464 * 10  # DDI's inpaint and in-then-outpaint
    )
    release = [p for p in pools if p.release]
    assert sum(images[p] for p in pools if not p.release) == runs == 407_890
    assert [images[p] for p in release] == [9 * 5_670]
    assert sum(images.values()) == 458_920  # the slides' total


def test_scoring_a_stable_diffusion_set_no_run_makes_is_refused_naming_it(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "extra.yaml").write_text(
        "metrics:\n  methods: [glide, text2img-dreambooth-fitzpatrick17k]\n"
    )
    result = snakemake(workdir, "-n", "--configfile", "extra.yaml", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "'text2img-dreambooth-fitzpatrick17k' is scored, but no classifier run makes it" in output
    )
    assert "classify.grid.sources" in output

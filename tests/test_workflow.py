"""The real snakemake on the demo config, end to end: the graph built once, its products read
by every test (the dry-runs are tests/test_workflow_dry.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from readme_commands import local_program, readme_steps
from workflow_helpers import (
    DATASETS,
    REPO,
    copy_workflow,
    expected_jobs,
    load_config,
    snakemake,
)

from dermsynth.design.pools import (
    config_pools,
)
from dermsynth.images import image_exists
from dermsynth.io import file_sha256

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The whole default (demo) graph, built once in a copy of the workflow."""
    workdir = copy_workflow(tmp_path_factory.mktemp("demo"))
    start = time.perf_counter()
    result = snakemake(workdir, "--cores", "2")
    print(f"demo graph: {time.perf_counter() - start:.1f} s")
    return workdir, result


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
            if dataset == "fitzpatrick17k":  # the released files' rows of the classes
                assert set(split["image_id"]) <= set(pairs["image_id"])
                held_out = config["demo"]["fitzpatrick17k"]["released"]["held_out_per_label"]
                classes = config["datasets"]["fitzpatrick17k"]["classes"]
                assert (split["split"] == "test").sum() == held_out * len(classes)
            else:
                assert sorted(split["image_id"]) == sorted(pairs["image_id"])
    for product in [
        "results/data/fitzpatrick17k/class_counts.csv",
        "results/data/fitzpatrick17k/missing.csv",
        "results/tables/data_splits.csv",
        "results/figures/data_splits.png",
        *(
            product.format(glide=f"glide-{protocol}")
            for protocol in ("paper_random", "lesion_grouped")  # a GLIDE per split protocol
            for product in (
                "results/tables/table1_{glide}_quality.csv",
                "results/figures/table1_{glide}_quality.png",
                "results/audit/{glide}_memorization.csv",
                "results/figures/{glide}_memorization.png",
                "results/reader_study/{glide}/packet/answer_sheet.xlsx",
                "results/reader_study/{glide}/packet/index.html",
                "results/reader_study/{glide}/key.csv",
                "results/tables/table2_{glide}_reader.csv",
                "results/figures/fig2_{glide}_reader_roc.png",
            )
        ),
        "results/tables/table3_cnn.csv",
        "results/tables/table3_cnn_wide.csv",
        "results/tables/table2_ai.csv",
        "results/tables/fig3_accuracy.csv",
        "results/figures/fig3_accuracy.png",
        "results/tables/fig3_dose_response.csv",
        "results/figures/fig3_dose_response.png",
        "results/tables/fig3_skin_type.csv",
        "results/tables/fig3_ddi_external.csv",
        "results/tables/fig3_protocols.csv",
        "results/figures/fig3_protocols.png",
        "results/tables/ddi_malignancy.csv",
        "results/figures/ddi_malignancy.png",
        "results/tables/table1_inoutpaint-dreambooth-ddi_quality.csv",
        "results/audit/inoutpaint-dreambooth-ddi_memorization.csv",
    ]:
        assert (workdir / product).stat().st_size > 0, product


def test_demo_glides_learn_from_their_protocols_images_and_table3_counts_the_seen_ones(demo_run):
    workdir, _ = demo_run
    results = workdir / "results"
    pairs = pd.read_csv(results / "data/ham10000/pairs.csv", dtype=str)
    learned = {
        protocol: pd.read_csv(results / f"models/glide/{protocol}/train_images.csv", dtype=str)
        for protocol in ("paper_random", "lesion_grouped")
    }
    assert list(learned["paper_random"]["image_id"]) == list(pairs["image_id"])  # as section 2.1
    split = pd.read_csv(results / "data/ham10000/splits/lesion_grouped.csv", dtype=str)
    held_out = split.loc[split["split"] != "train", "image_id"]
    held_out_lesions = set(pairs.loc[pairs["image_id"].isin(held_out), "group_id"])
    assert held_out_lesions and not held_out_lesions & set(learned["lesion_grouped"]["group_id"])
    for protocol in learned:  # each set's images come from its own GLIDE
        manifest = pd.read_csv(results / f"synthetic/glide/{protocol}/manifest.csv")
        model = results / f"models/glide/{protocol}/base.pt"
        assert set(manifest["base_sha256"]) == {file_sha256(model)}, protocol
    table3 = pd.read_csv(results / "tables/table3_cnn.csv").drop_duplicates(["protocol", "variant"])
    seen = table3.set_index(["protocol", "variant"])["test_real_seen_by_generator"]
    for protocol in learned:
        metrics = json.loads(
            (results / f"classify/paper_cnn/{protocol}/combined/metrics.json").read_text()
        )
        expected = metrics["n_test_real"] if protocol == "paper_random" else 0
        assert seen[(protocol, "combined")] == expected > -1, protocol
        assert pd.isna(seen[(protocol, "original")])


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


def test_readme_commands_on_the_built_demo(demo_run):
    """The README's commands that read the demo's products, run as typed: the report bundles
    the registered tables and figures, the job-seconds sum adds up the rule benchmarks."""
    workdir, _ = demo_run
    steps = [s for s in readme_steps(REPO / "README.md") if s.kind == "after_demo"]
    assert any("--report" in s.words for s in steps)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    for step in steps:
        words = local_program(step.words, bin_dir)
        result = subprocess.run(words, cwd=workdir, capture_output=True, text=True, env=env)
        assert result.returncode == 0, f"README line {step.line}: {result.stderr[-3000:]}"
        if "--report" in step.words:
            html = (workdir / step.words[step.words.index("--report") + 1]).read_text(
                errors="replace"
            )
            assert "data_splits.png" in html and "class_counts.csv" in html
        else:
            assert float(result.stdout) > 0, f"README line {step.line}: {result.stdout!r}"


def test_demo_synthetic_images_come_from_training_images_of_their_pool(demo_run):
    workdir, _ = demo_run
    config = load_config(REPO / "config/config.yaml")
    pools = config_pools(config)
    manifests = list((workdir / "results/synthetic/sd").glob("*/*/manifest.csv"))
    assert len(manifests) == len({(p.method, p.variant, p.dataset) for p in pools})
    # the demo makes every method x variant
    assert {m.parent.parent.name for m in manifests} == {
        f"{method}-{variant}"
        for method in ("text2img", "inpaint", "inoutpaint")
        for variant in ("pretrained", "dreambooth")
    }
    for manifest in manifests:
        table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        # the release's images (sd.release) are made from prompts alone
        release = table["file"].str.contains("/release/shard-")
        assert (table.loc[release, ["source_image", "pool_rank"]] == "").all(axis=None)
        assert (table.loc[release, "method"] == "text2img").all()
        table = table[~release]
        if manifest.parent.parent.name.startswith(("inpaint", "inoutpaint")):
            # the authors' square: half of each side, the same for every image
            assert set(table["mask_fraction"].astype(float)) == {0.5}, manifest
        dataset = manifest.parent.name
        split = pd.read_csv(workdir / f"results/data/{dataset}/splits/paper.csv", dtype=str)
        merged = table.merge(split, left_on="source_image", right_on="image_id", how="left")
        assert len(table) > 0 and (merged["split"] == "train").all(), manifest
        assert (merged["class"] == merged["label"]).all(), manifest
        for file in table["file"]:  # each image a member of its shard's tar
            assert ".tar#" in file and image_exists(workdir / file), file
    # every synthetic set is stored as tars: no loose PNG is left (storage.loose_png: false)
    synthetic = workdir / "results/synthetic"
    assert not list(synthetic.rglob("*.png")) and not list(synthetic.rglob("*.work"))
    assert list(synthetic.glob("glide/*/*/shard-*.tar")) and list(synthetic.glob("sd/**/*.tar"))


def test_demo_reads_one_grid_source_from_shards_in_the_authors_layout(demo_run):
    workdir, _ = demo_run
    index = pd.read_csv(workdir / "results/synthetic/released/index.csv", dtype=str)
    root = load_config(REPO / "config/config.yaml")["released"]["root"]
    assert set(index["tar"].map(lambda tar: str(Path(tar).parent))) == {root}
    assert set(index["source"]) == {"text2img-dreambooth"}
    runs = [
        json.loads(path.read_text())
        for path in (workdir / "results/classify/fig3").glob("*/*released*/metrics.json")
    ]
    assert runs and {r["protocol"] for r in runs} == {"authors"}  # strict reads no released DB
    for record in runs:
        origin = record["synthetic_origin"]
        assert origin["origin"] == "released" and origin["shard_folder"] == root
        assert origin["read_by"] == ["results/synthetic/released/index.csv"]
        assert record["n_train_synthetic"] == 3 * record["n_train_real"]
    ours = json.loads(
        (
            workdir
            / "results/classify/fig3/authors/n2_stext2img-dreambooth_x2_t0_seed111108"
            / "metrics.json"
        ).read_text()
    )["synthetic_origin"]
    assert ours["origin"] == "generated"
    assert ours["shard_folder"] == "results/synthetic/sd/text2img-dreambooth/fitzpatrick17k"


def test_demo_runs_read_their_protocols_draw_and_strict_generators_saw_only_their_images(
    demo_run,
):
    workdir, _ = demo_run
    runs = {}
    for path in (workdir / "results/classify/fig3").glob("*/*/metrics.json"):
        record = json.loads(path.read_text())
        runs[(record["protocol"], record["run_id"])] = record
    assert {protocol for protocol, _ in runs} == {"authors", "strict"}

    def drawn(protocol, n, seed, part="train"):
        run_id = f"n{n}_snone_x0_t0_seed{seed}"
        return set(runs[(protocol, run_id)]["real_images"][part])

    # authors: two seeds of one n draw different real images (and validation), nested in n
    assert drawn("authors", 2, 111108) != drawn("authors", 2, 111109)
    assert drawn("authors", 2, 111108, "val") != drawn("authors", 2, 111109, "val")
    assert drawn("authors", 2, 111108) < drawn("authors", 4, 111108)
    # strict: one draw for every seed
    assert drawn("strict", 2, 111108) == drawn("strict", 2, 111109)
    # strict's DreamBooth model of each n learned from exactly the images its runs use
    models = workdir / "results/models/sd/dreambooth/text2img/fitzpatrick17k"
    for record in runs.values():
        if record["protocol"] != "strict" or record["source"] != "text2img-dreambooth":
            continue
        n = record["real_per_class"]
        for slug in ("psoriasis", "squamous_cell_carcinoma", "basal_cell_carcinoma"):
            learned = pd.read_csv(models / slug / f"n{n}" / "train_images.csv", dtype=str)
            assert set(learned["image_id"]) <= set(record["real_images"]["train"])
            assert not set(learned["image_id"]) & set(record["real_images"]["val"])
    # the authors' model of a class learned from every training row, validation images too
    split = pd.read_csv(workdir / "results/data/fitzpatrick17k/splits/paper.csv", dtype=str)
    learned = pd.read_csv(models / "psoriasis" / "all" / "train_images.csv", dtype=str)
    training = split[(split["split"] == "train") & (split["label"] == "psoriasis")]
    assert set(learned["image_id"]) == set(training["image_id"])


def test_demo_ddi_dreambooth_is_one_model_on_training_and_validation_images_by_disease(
    demo_run,
):
    workdir, _ = demo_run
    split = pd.read_csv(workdir / "results/data/ddi/splits/paper.csv", dtype=str)
    model = workdir / "results/models/sd/dreambooth/inpaint/ddi/all/all"
    learned = pd.read_csv(model / "train_images.csv", dtype=str)
    # the authors' model learned from their whole training file: both classes, validation too
    assert set(learned["image_id"]) == set(split.loc[split["split"] != "test", "image_id"])
    assert set(learned["label"]) == {"benign", "malignant"}
    diseases = split.set_index("image_id")["disease"]
    expected = [
        f"An image of {diseases[i].replace('-', ' ')}, a skin disease" for i in learned["image_id"]
    ]
    assert learned["prompt"].tolist() == expected
    assert not (workdir / "results/models/sd/dreambooth/inpaint/ddi/benign").exists()
    # its images are made from the training images only, each prompt naming its disease
    for method in ("inpaint", "inoutpaint"):
        made = pd.read_csv(
            workdir / f"results/synthetic/sd/{method}-dreambooth/ddi/manifest.csv", dtype=str
        )
        assert set(made["source_image"]) == set(split.loc[split["split"] == "train", "image_id"])
        assert (made["disease"] == made["source_image"].map(diseases)).all()
        named = made["disease"].str.replace("-", " ")
        assert (made["prompt"] == "An image of " + named + ", a skin disease").all()

"""The real snakemake without running jobs: the paper config's graph on the placeholder real tree
(every job, both protocols, a missing raw file named), the demo graph under other settings, the
paper's hand-counted totals, and what reading the workflow imports."""

from __future__ import annotations

import re
import time

import pytest
from workflow_helpers import (
    REPO,
    copy_workflow,
    expected_jobs,
    job_counts,
    load_config,
    modules_loaded_by,
    place_paper_inputs,
    sd_and_grid_jobs,
    snakemake,
)

from dermsynth.design.pools import config_pools, pool_images

pytestmark = pytest.mark.workflow


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


def test_paper_dry_run_with_both_protocols_lists_both_grids(tmp_path):
    workdir = copy_workflow(tmp_path)
    place_paper_inputs(workdir)
    (workdir / "both.yaml").write_text("classify:\n  grid:\n    protocols: [authors, strict]\n")
    result = snakemake(workdir, "-n", "--configfile", "config/paper.yaml", "both.yaml")
    config = load_config(REPO / "config" / "paper.yaml")
    config["classify"]["grid"]["protocols"] = ["authors", "strict"]
    counts = job_counts(result.stdout)
    counts.pop("total")
    assert counts == expected_jobs(config, with_demo=False)
    assert counts["paper2_grid_run"] == 2 * 570
    print(f"paper dry-run, both protocols: {sum(counts.values())} jobs")


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
    assert {"dermsynth.design.pools", "dermsynth.design.runs", "dermsynth.plan"} <= set(modules)
    # what the experiment is comes from dermsynth.design, not from the model code
    assert not [m for m in modules if m.startswith(("dermsynth.sd", "dermsynth.classify"))]
    heavy = {"torch", "timm", "diffusers", "transformers", "scipy"} & modules_loaded_by(*modules)
    assert not heavy, f"reading the workflow imports {sorted(heavy)}"


def test_paper_plan_counts_the_grid_the_shards_and_the_images():
    """Hand-counted from config/paper.yaml (README, "The paper's total")."""
    config = load_config(REPO / "config/paper.yaml")
    jobs = sd_and_grid_jobs(config)
    # 7 real counts x 7 sources x 2 transforms x 5 seeds; dose: 2 real x 1 source x 4 counts
    # from index 10 x 2 transforms x 5 seeds
    assert jobs["paper2_grid_run"] == 490 + 80
    assert jobs["paper2_ddi_run"] == 3 * 2 * 5
    # the authors' DreamBooth: 2 bases x 9 classes, each on the class's whole training file,
    # and one inpainting model for both DDI classes
    assert jobs["sd_dreambooth"] == 18 + 1
    rows = config["sd"]["sources_per_class"]["fitzpatrick17k"]
    assert sum(rows.values()) == 3339

    def shards(per_source):
        return sum(-(-count * per_source // 3000) for count in rows.values())

    # five sets at 10 per training row, DreamBooth text-to-image at 85 (the dose response's
    # indices 10-84), DDI 2 methods x (2 benign + 1 malignant)
    assert jobs["sd_generate_shard"] == 5 * shards(10) + shards(85) + 2 * 3 == 176
    sd = config["sd"]
    classes = {
        "fitzpatrick17k": config["datasets"]["fitzpatrick17k"]["classes"],
        "ddi": ["benign", "malignant"],
    }
    pools = config_pools(config)
    images = {p: pool_images(p, classes[p.dataset], sd["sources_per_class"]) for p in pools}
    assert not [p for p in pools if p.release]
    total = 5 * 3339 * 10 + 3339 * 85 + 2 * 464 * 10
    assert sum(images.values()) == total == 460_045
    assert total - 458_920 == 1_125  # the slides' total, which no released script produces


def test_scoring_a_stable_diffusion_set_no_run_makes_is_refused_naming_it(tmp_path):
    workdir = copy_workflow(tmp_path)
    (workdir / "extra.yaml").write_text(
        "metrics:\n  methods: [glide-paper_random, inpaint-dreambooth-fitzpatrick17k]\n"
    )
    result = snakemake(workdir, "-n", "--configfile", "extra.yaml", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "'inpaint-dreambooth-fitzpatrick17k' is scored, but no classifier run makes it" in output
    assert "classify.grid.sources" in output


def test_demo_dry_run_with_the_papers_test_set_composition_lists_the_same_jobs(tmp_path):
    # classify.paper_cnn.test_set changes what each CNN arm tests on, not which arms run
    workdir = copy_workflow(tmp_path)
    (workdir / "paper_test_set.yaml").write_text("classify:\n  paper_cnn:\n    test_set: paper\n")
    result = snakemake(workdir, "-n", "--configfile", "paper_test_set.yaml")
    counts = job_counts(result.stdout)
    counts.pop("total")
    assert counts == expected_jobs(load_config(REPO / "config" / "config.yaml"), with_demo=True)

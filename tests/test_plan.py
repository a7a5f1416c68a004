"""dermsynth.plan: job estimates, walltimes, Snakemake's DAG as jobs and edges, and the plan of
the demo and the paper graphs (the real snakemake, under profiles/slurm)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from workflow_helpers import (
    copy_workflow,
    expected_jobs,
    job_counts,
    place_paper_inputs,
    snakemake,
)

from dermsynth.cli import main
from dermsynth.plan import (
    PlannedJob,
    job_images,
    job_minutes,
    load_config,
    make_plan,
    read_dag,
    snakemake_jobs,
    walltime_minutes,
)

GPU_RULES = {  # rules that get a GPU under profiles/slurm (lead's new rules included)
    "glide_finetune",
    "glide_sample_shard",
    "real_features",
    "synthetic_features",
    "quality_table",
    "paper1_cnn",
    "sd_dreambooth",
    "sd_generate_shard",
    "paper2_grid_run",
    "paper2_ddi_run",
}


def sample_config(**sample) -> dict:
    return {
        "glide": {"sample": sample},
        "resources": {
            "walltime": {"margin": 1.5, "startup_minutes": 10},
            "minutes": {"default": 3, "glide_finetune": 600},
        },
    }


def test_a_glide_shard_takes_its_own_images_times_seconds_per_image():
    config = sample_config(images_per_class={"df": 5}, images_per_shard=2, seconds_per_image=30.0)
    assert [job_images("glide_sample_shard", {"cls": "df", "k": k}, config) for k in "012"] == [
        2,
        2,
        1,
    ]  # the last shard holds the remainder
    assert job_minutes("glide_sample_shard", {"cls": "df", "k": "2"}, config) == 0.5


def test_a_glide_fine_tune_takes_the_share_of_the_images_its_protocol_learns_from():
    config = sample_config()
    config["glide"]["train_on"] = {"paper_random": "all", "lesion_grouped": ["train"]}
    split = {"test_fraction": 0.2, "val_fraction": 0.1, "seed": 0}
    config["splits"] = {"ham10000": {"paper_random": split, "lesion_grouped": split}}
    minutes = {
        protocol: job_minutes("glide_finetune", {"glide_protocol": protocol}, config)
        for protocol in ("paper_random", "lesion_grouped")
    }
    assert minutes == {"paper_random": 600, "lesion_grouped": pytest.approx(600 * 0.7)}


def test_other_rules_take_their_configured_minutes_or_the_default():
    config = sample_config()
    assert job_minutes("split", {}, config) == 3
    assert job_images("split", {}, config) is None


def test_walltime_adds_margin_and_startup_and_widens_on_each_retry():
    resources = sample_config()["resources"]
    assert walltime_minutes(100, resources) == 160
    assert walltime_minutes(100, resources, attempt=2) == 310
    assert walltime_minutes(0.1, resources) == math.ceil(0.15 + 10)


# what `python -m dermsynth.plan ARGS` prints: Snakemake's DAG, resources as it evaluated them
DAG_JSON = json.dumps(
    {
        "jobs": [
            {
                "jobid": 0,
                "rule": "all",
                "wildcards": {},
                "resources": {"tmpdir": "/tmp", "mem_mb": 4000, "disk_mb": "<TBD>", "runtime": 30},
            },
            {
                "jobid": 7,
                "rule": "glide_sample_shard",
                "wildcards": {"cls": "df", "k": "1"},
                "resources": {
                    "mem_mb": 16000,
                    "mem": "16 GB",
                    "runtime": 11,
                    "gpu": 1,
                    "_cores": 2,
                },
            },
            {
                "jobid": 9,
                "rule": "paper2_grid_run",
                "wildcards": {"label": "squamous cell carcinoma", "n": "8"},
                "resources": {"slurm_partition": "", "runtime": "<TBD>"},
            },
        ],
        "edges": [[7, 0], [9, 0]],
    }
)


def test_the_dag_json_gives_each_job_its_rule_wildcards_resources_and_the_edges():
    jobs, edges = read_dag(json.loads(DAG_JSON))
    assert [(job.rule, job.jobid) for job in jobs] == [
        ("all", 0),
        ("glide_sample_shard", 7),
        ("paper2_grid_run", 9),
    ]
    assert edges == [(7, 0), (9, 0)]
    assert jobs[1].wildcards == {"cls": "df", "k": "1"}
    assert (jobs[1].gpus, jobs[1].runtime) == (1, 11)
    assert jobs[2].wildcards == {"label": "squamous cell carcinoma", "n": "8"}
    assert jobs[2].resources["slurm_partition"] == "" and jobs[2].gpus == 0
    assert jobs[2].runtime is None  # a value Snakemake could not evaluate yet is no walltime


def test_peak_gpus_counts_independent_gpu_jobs_running_side_by_side():
    config = sample_config(images_per_class={"df": 6}, images_per_shard=2, seconds_per_image=60)
    finetune = PlannedJob(1, "glide_finetune", {}, {"gpu": 1})
    shards = [
        PlannedJob(2 + k, "glide_sample_shard", {"cls": "df", "k": str(k)}, {"gpu": 2})
        for k in range(3)
    ]
    gather = PlannedJob(5, "glide_synthetic_set", {}, {})
    edges = [(1, 2), (1, 3), (1, 4), (2, 5), (3, 5), (4, 5)]
    plan = make_plan([finetune, *shards, gather], edges, config)
    assert plan.peak_gpus == 6  # three shards of two GPUs at once; the fine-tune runs alone
    assert plan.images == 6 and plan.shards == 3
    by_rule = {rule.rule: rule for rule in plan.rules}
    assert by_rule["glide_sample_shard"].gpu_hours == pytest.approx(3 * 2 * 2 / 60)
    assert by_rule["glide_finetune"].gpu_hours == 10
    assert by_rule["glide_synthetic_set"].gpu_hours == 0
    assert plan.makespan_hours == pytest.approx((600 + 2 + 3) / 60)


def sd_images(config) -> int:
    """Stable Diffusion images a config makes, counted pool by pool (`all`: declared counts)."""
    from dermsynth.design.pools import DDI_CLASSES, config_pools, pool_images

    classes = {
        "fitzpatrick17k": config["datasets"]["fitzpatrick17k"]["classes"],
        "ddi": list(DDI_CLASSES),
    }
    return sum(
        pool_images(pool, classes[pool.dataset], config["sd"]["sources_per_class"])
        for pool in config_pools(config)
    )


@pytest.mark.workflow
def test_demo_plan_has_every_job_of_the_dry_run(tmp_path, capsys):
    workdir = copy_workflow(tmp_path)
    jobs, edges = snakemake_jobs(workdir, ["--workflow-profile", "profiles/slurm"])
    counts = job_counts(snakemake(workdir, "-n").stdout)
    counts.pop("total")
    plan = make_plan(jobs, edges, load_config(workdir, []))
    assert {rule.rule: rule.jobs for rule in plan.rules} == {
        rule: n for rule, n in counts.items() if rule != "all"
    }
    config = load_config(workdir, [])
    assert config["resources"]["gpu"] == 0  # so a GPU here comes from the profile's set-resources
    assert {job.rule for job in jobs if job.gpus} == GPU_RULES & set(counts)
    assert all(job.resources["slurm_partition"] == "" for job in jobs)  # its default-resources
    glide_images = sum(config["glide"]["sample"]["images_per_class"].values())
    assert plan.images == len(config["glide"]["train_on"]) * glide_images + sd_images(config)
    main(["plan", "--directory", str(workdir)])
    assert "peak parallel GPUs" in capsys.readouterr().out
    main(["plan", "--directory", str(workdir), "--json", "data_summary"])  # a target narrows it
    narrowed = json.loads(capsys.readouterr().out)
    assert {row["rule"] for row in narrowed["rules"]} == {
        "data_summary",
        "split",
        "ingest_ham10000",
        "ingest_fitzpatrick17k",
        "ingest_ddi",
        "demo_ham10000",
        "demo_fitzpatrick17k",
        "demo_ddi",
    }


@pytest.mark.workflow
def test_a_graph_snakemake_cannot_build_fails_with_snakemakes_own_error(tmp_path):
    workdir = copy_workflow(tmp_path)  # the paper's raw inputs are not there
    with pytest.raises(RuntimeError, match="Missing input files for rule ingest_ham10000"):
        snakemake_jobs(workdir, ["--configfile", "config/paper.yaml"])


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory):
    """The paper graph's jobs and edges under profiles/slurm, asked of Snakemake once."""
    workdir = copy_workflow(tmp_path_factory.mktemp("paper"))
    place_paper_inputs(workdir)
    args = ["--configfile", "config/paper.yaml", "--workflow-profile", "profiles/slurm"]
    jobs, edges = snakemake_jobs(workdir, args)
    return workdir, jobs, edges


@pytest.mark.workflow
def test_paper_dag_under_the_slurm_profile_gives_every_job_its_resources(paper_jobs):
    workdir, jobs, _ = paper_jobs
    jobs = [job for job in jobs if job.rule != "all"]
    config = load_config(workdir, ["config/paper.yaml"])
    rules = {job.rule for job in jobs}
    expected = expected_jobs(config, with_demo=False)
    expected.pop("all")
    assert {r: sum(job.rule == r for job in jobs) for r in rules} == expected
    for job in jobs:
        assert job.gpus == (1 if job.rule in GPU_RULES else 0), job
        assert int(job.resources["mem_mb"]) > 0, job
        expected = walltime_minutes(
            job_minutes(job.rule, job.wildcards, config), config["resources"]
        )
        assert job.runtime == expected, job
        assert "slurm_partition" in job.resources and "slurm_account" in job.resources


@pytest.mark.workflow
def test_paper_plan_samples_as_many_glide_images_as_ham10000_has(paper_jobs):
    workdir, jobs, edges = paper_jobs
    config = load_config(workdir, ["config/paper.yaml"])
    plan = make_plan(jobs, edges, config)
    rules = {rule.rule: rule for rule in plan.rules}
    shards = rules["glide_sample_shard"]
    glides = len(config["glide"]["train_on"])  # one GLIDE, and one synthetic set, per protocol
    assert glides == 2
    assert shards.images == glides * 10015
    sample = config["glide"]["sample"]
    assert shards.jobs == glides * sum(
        -(-n // sample["images_per_shard"]) for n in sample["images_per_class"].values()
    )
    assert plan.peak_gpus >= shards.jobs  # every shard can run at once
    sd = rules["sd_generate_shard"]
    assert sd.images == sd_images(config) == 460_045  # README, "The paper's total"
    print(f"paper plan: {plan.jobs} jobs, {plan.gpu_hours:.1f} GPU-h, {plan.peak_gpus} GPUs")


def test_plan_passes_every_configfile_to_one_snakemake_flag(monkeypatch, tmp_path):
    """Snakemake's --configfile takes a list, and a second flag would replace the first."""
    import dermsynth.cli as cli

    seen = {}

    def jobs(workdir, args):
        seen["args"] = list(args)
        return [], []

    monkeypatch.setattr(cli, "snakemake_jobs", jobs)
    monkeypatch.setattr(cli, "load_config", lambda workdir, files: sample_config())
    monkeypatch.setattr(cli, "make_plan", lambda jobs, edges, config: None)
    monkeypatch.setattr(cli, "format_plan", lambda plan: "")
    main(
        [
            "plan",
            "--directory",
            str(tmp_path),
            "--configfile",
            "a.yaml",
            "--configfile",
            "b.yaml",
            "fig3",
        ]
    )
    assert seen["args"][:4] == ["fig3", "--configfile", "a.yaml", "b.yaml"]
    from snakemake.cli import parse_args  # what `python -m dermsynth.plan` reads them with

    _, parsed = parse_args(seen["args"])
    assert (set(parsed.targets), parsed.configfile) == ({"fig3"}, [Path("a.yaml"), Path("b.yaml")])

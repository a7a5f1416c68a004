"""dermsynth.plan: job estimates, walltimes, Snakemake's DAG as jobs and edges, and the plan of
the demo and the paper graphs (the real snakemake, under profiles/slurm)."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import (
    REPO,
    copy_workflow,
    expected_jobs,
    job_counts,
    paper_weights,
    place_paper_inputs,
    remove_paper_weights,
    snakemake,
)

from dermsynth.cli import main
from dermsynth.plan import (
    PlanError,
    PlannedJob,
    benchmark_seconds,
    calibrate,
    dreambooth_images,
    finetune_steps,
    job_images,
    job_minutes,
    job_work,
    load_config,
    make_plan,
    measured_config,
    merged,
    read_dag,
    snakemake_args,
    snakemake_graph,
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


@pytest.fixture(scope="module")
def demo_tree(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("demo"))


# (what is wrong, the command's extra words, what the one-line message says)
UNPLANNABLE = [
    ("a config key the schema does not know", ["--configfile", "bad.yaml"], "config glide: "),
    ("a target no rule makes", ["no_such_target"], "No rule to produce no_such_target"),
    ("a config file that is not there", ["--configfile", "nowhere.yaml"], "nowhere.yaml: No such"),
]


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("wrong", "words", "message"), UNPLANNABLE, ids=[case[0] for case in UNPLANNABLE]
)
def test_a_graph_snakemake_refuses_is_one_line_and_exit_code_2(
    demo_tree, capsys, wrong, words, message
):
    (demo_tree / "bad.yaml").write_text("glide:\n  nonsense: 1\n")
    targets = [w for w in words if not w.startswith("--") and not w.endswith(".yaml")]
    files = [w for w in words if w.endswith(".yaml")]
    argv = ["plan", *targets, "--directory", str(demo_tree)]
    with pytest.raises(SystemExit) as exit_:
        main(argv + (["--configfile", *files] if files else []))
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("dermsynth plan: ") and message in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.fixture(scope="module")
def paper_jobs(tmp_path_factory):
    """The paper graph under profiles/slurm, asked of Snakemake once, on the placeholder real
    tree with the datasets placed and no weights: planned as if they were there."""
    workdir = copy_workflow(tmp_path_factory.mktemp("paper"))
    place_paper_inputs(workdir)
    remove_paper_weights(workdir)
    start = time.perf_counter()
    graph = snakemake_graph(workdir, snakemake_args([], ["config/paper.yaml"], "profiles/slurm"))
    print(f"paper graph, weights missing: {time.perf_counter() - start:.1f} s")
    return workdir, graph


@pytest.mark.workflow
def test_paper_plan_with_the_weights_missing_plans_every_job_and_lists_what_is_missing(
    paper_jobs, monkeypatch, capsys
):
    workdir, graph = paper_jobs
    config = load_config(workdir, ["config/paper.yaml"])
    missing = {item.path: set(item.rules) for item in graph.missing(workdir)}
    assert missing == paper_weights(config)
    # every raw input is an external input, placed, so not missing
    external = {item.path for item in graph.inputs}
    assert "resources/raw/ham10000/HAM10000_metadata.csv" in external - set(missing)
    import dermsynth.cli as cli

    monkeypatch.setattr(cli, "snakemake_graph", lambda workdir, args: graph)
    main(["plan", "--directory", str(workdir), "--configfile", "config/paper.yaml"])
    out = capsys.readouterr().out
    assert "peak parallel GPUs" in out
    listed = out.split("missing: 6 external input(s)", 1)[1]
    for path, rules in missing.items():
        assert re.search(rf"{re.escape(path)}\s+read by {', '.join(sorted(rules))}\n", listed)


@pytest.mark.workflow
def test_paper_dag_under_the_slurm_profile_gives_every_job_its_resources(paper_jobs):
    workdir, graph = paper_jobs
    jobs = graph.jobs
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
    workdir, graph = paper_jobs
    jobs, edges = graph.jobs, graph.edges
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
    """Snakemake's --configfile takes a list, and a second flag would replace the first; ours
    takes every word after it, as Snakemake's does, so targets come first."""
    import dermsynth.cli as cli
    from dermsynth.plan import Graph

    seen = {}

    def graph(workdir, args):
        seen["args"] = list(args)
        return Graph([], [], [])

    monkeypatch.setattr(cli, "snakemake_graph", graph)
    monkeypatch.setattr(cli, "load_config", lambda workdir, files: sample_config())
    main(["plan", "fig3", "--directory", str(tmp_path), "--configfile", "a.yaml", "b.yaml"])
    assert seen["args"][:4] == ["fig3", "--configfile", "a.yaml", "b.yaml"]
    from snakemake.cli import parse_args  # what `python -m dermsynth.plan` reads them with

    _, parsed = parse_args(seen["args"])
    assert (set(parsed.targets), parsed.configfile) == ({"fig3"}, [Path("a.yaml"), Path("b.yaml")])


# --- the pilot, and a plan calibrated by its benchmark files ------------------------------------

PAPER = ["config/paper.yaml"]
PILOT = ["config/paper.yaml", "config/pilot.yaml"]
# what config/pilot.yaml may change: how many images, steps, epochs, runs and seeds; never
# what one image, step or epoch costs (models, resolutions, batch sizes, samplers, precision)
PILOT_COUNTS = {
    "glide.finetune.max_steps",
    *(f"glide.sample.images_per_class.{c}" for c in ("akiec", "bcc", "bkl", "df", "mel", "nv")),
    "glide.sample.images_per_class.vasc",
    "metrics.methods",
    "reader_study.methods",
    "classify.paper_cnn.variants",
    "classify.paper_cnn.protocols",
    "classify.grid.protocols",  # strict: per-n generators, at the same cost per image and step
    "classify.grid.real_per_class",
    "classify.grid.sources",
    "classify.grid.transforms",
    "classify.grid.seeds",
    "classify.grid.dose_response.real_per_class",
    "classify.grid.settings.epochs",
    "classify.ddi.sources",
    "classify.ddi.transforms",
    "classify.ddi.seeds",
    "classify.ddi.settings.epochs",
    "sd.dreambooth.settings.epochs",
    "resources.minutes.glide_finetune",  # the shortened fine-tunes' walltimes
    "resources.minutes.sd_dreambooth",
}


def flat(config, prefix="") -> dict:
    if not isinstance(config, dict):
        return {prefix: config}
    items = {}
    for key, value in config.items():
        items.update(flat(value, f"{prefix}.{key}" if prefix else key))
    return items


def test_the_pilot_changes_only_counts_never_what_one_image_or_step_costs():
    paper, pilot = flat(load_config(REPO, PAPER)), flat(load_config(REPO, PILOT))
    changed = {key for key in paper.keys() | pilot.keys() if paper.get(key) != pilot.get(key)}
    assert changed <= PILOT_COUNTS, sorted(changed - PILOT_COUNTS)
    for axis in ("transforms", "seeds"):  # one of the paper's own values
        assert set(pilot[f"classify.grid.{axis}"]) <= set(paper[f"classify.grid.{axis}"])


@pytest.fixture(scope="module")
def pilot_jobs(paper_jobs):
    """The pilot's graph (config/paper.yaml, then config/pilot.yaml) on the same tree."""
    workdir, _ = paper_jobs
    return snakemake_graph(workdir, snakemake_args([], PILOT, "profiles/slurm"))


@pytest.mark.workflow
def test_the_pilot_plans_one_job_or_more_of_every_gpu_rule_and_few_images(paper_jobs, pilot_jobs):
    workdir, _ = paper_jobs
    config = load_config(workdir, PILOT)
    plan = make_plan(pilot_jobs.jobs, pilot_jobs.edges, config)
    assert {job.rule for job in pilot_jobs.jobs if job.gpus} == GPU_RULES
    assert plan.images < 5000 and plan.jobs < 100
    print(f"pilot plan: {plan.jobs} jobs, {plan.images} images, {plan.gpu_hours:.1f} GPU-h")


# measured seconds per unit of work (`job_work`), each rule its own, so that a mix-up shows
MEASURED = {
    "glide_sample_shard": 0.8,  # per image
    "sd_generate_shard": 1.5,
    "glide_finetune": 0.3,  # per step
    "sd_dreambooth": 0.9,
    "paper2_grid_run": 0.002,  # per training image and epoch
    "paper2_ddi_run": 0.003,
}
PER_JOB = 100.0  # every other rule: seconds per job


def write_benchmarks(folder: Path, jobs, config) -> None:
    """Snakemake benchmark files for the pilot's jobs, their `s` the measured rate x work; the
    GLIDE fine-tune's with two repeats around it (their mean counts)."""
    for job in jobs:
        if not job.benchmark:
            continue
        seconds = job_work(job.rule, job.wildcards, config)[1] * MEASURED.get(job.rule, PER_JOB)
        repeats = [seconds - 5, seconds + 5] if job.rule == "glide_finetune" else [seconds]
        path = folder / Path(job.benchmark).relative_to("results/benchmarks")
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = "".join(f"{s:.4f}\t0:00:01\t100.0\n" for s in repeats)
        path.write_text("s\th:m:s\tmax_rss\n" + rows)


@pytest.mark.workflow
def test_calibration_measures_each_rule_per_image_step_epoch_image_or_job(
    paper_jobs, pilot_jobs, tmp_path
):
    workdir, graph = paper_jobs
    pilot_config = load_config(workdir, PILOT)
    write_benchmarks(tmp_path, pilot_jobs.jobs, pilot_config)
    rates = calibrate(tmp_path, pilot_jobs.jobs, pilot_config)
    units = {rule: rate.unit for rule, rate in rates.items()}
    assert units["glide_sample_shard"] == units["sd_generate_shard"] == "image"
    assert units["glide_finetune"] == units["sd_dreambooth"] == "step"
    assert units["paper2_grid_run"] == units["paper2_ddi_run"] == "epoch-image"
    assert units["paper1_cnn"] == units["real_features"] == "job"
    for rule, rate in rates.items():
        assert rate.per_unit == pytest.approx(MEASURED.get(rule, PER_JOB), rel=1e-4), rule
        assert rate.jobs == sum(job.rule == rule for job in pilot_jobs.jobs if job.benchmark)
    config = load_config(workdir, PAPER)
    updates = measured_config(rates, graph.jobs, config)
    assert updates["glide"]["sample"]["seconds_per_image"] == 0.8
    assert updates["sd"]["generate"]["seconds_per_image"] == 1.5
    resources = updates["resources"]
    assert resources["train_seconds_per_image"] == 0.003  # one key: the larger of the two
    # a GLIDE learning from all 10,015 images: 60 epochs x 2,504 batches of 4, at 0.3 s a step
    assert resources["minutes"]["glide_finetune"] == pytest.approx(60 * 2504 * 0.3 / 60, abs=0.1)
    assert resources["minutes"]["paper1_cnn"] == pytest.approx(PER_JOB / 60, abs=0.1)
    measured = merged(config, updates)
    assert measured["glide"]["sample"]["images_per_shard"] == 512  # the rest is the paper's


@pytest.mark.workflow
def test_plan_calibrate_prints_the_calibrated_plan_beside_the_estimate(
    paper_jobs, pilot_jobs, tmp_path, monkeypatch, capsys
):
    import dermsynth.cli as cli

    workdir, graph = paper_jobs
    write_benchmarks(tmp_path / "bench", pilot_jobs.jobs, load_config(workdir, PILOT))
    graphs = {False: graph, True: pilot_jobs}
    monkeypatch.setattr(
        cli, "snakemake_graph", lambda wd, args: graphs["config/pilot.yaml" in args]
    )
    argv = ["plan", "--directory", str(workdir), "--calibrate", str(tmp_path / "bench")]
    main(
        [*argv, "--json", "--save-config", str(tmp_path / "measured.yaml"), "--configfile", *PAPER]
    )
    result = json.loads(capsys.readouterr().out)
    after = {row["rule"]: row for row in result["calibrated"]["rules"]}
    assert after["glide_sample_shard"]["gpu_hours"] == pytest.approx(20030 * 0.8 / 3600, abs=1e-3)
    assert after["sd_generate_shard"]["gpu_hours"] == pytest.approx(460045 * 1.5 / 3600, abs=1e-3)
    rows = {row["rule"]: row for row in result["rules"]}
    assert rows["glide_sample_shard"]["assumed"] == 1.0  # config/paper.yaml's seconds per image
    assert rows["glide_sample_shard"]["measured"] == pytest.approx(0.8)
    assert rows["sd_generate_shard"]["jobs"] == 176
    assert result["unmeasured"] == []
    saved = yaml.safe_load((tmp_path / "measured.yaml").read_text())
    assert saved == result["measured_config"]
    main([*argv, "--configfile", *PAPER])
    text = capsys.readouterr().out
    assert text.startswith("calibrated plan")
    assert re.search(r"\nglide_sample_shard\s+image\s+1\s+0\.8\s+14\s+50\s+5\.6\s+4\.5\n", text)


@pytest.mark.workflow
def test_plan_calibrate_with_nothing_measured_keeps_every_assumed_value(
    paper_jobs, pilot_jobs, tmp_path, monkeypatch, capsys
):
    import dermsynth.cli as cli

    workdir, graph = paper_jobs
    graphs = {False: graph, True: pilot_jobs}
    monkeypatch.setattr(
        cli, "snakemake_graph", lambda wd, args: graphs["config/pilot.yaml" in args]
    )
    argv = ["plan", "--directory", str(workdir), "--calibrate", str(tmp_path / "none"), "--json"]
    main([*argv, "--configfile", *PAPER])
    result = json.loads(capsys.readouterr().out)
    assert result["calibrated"] == result["estimate"] and result["measured_config"] == {}
    assert set(result["unmeasured"]) == GPU_RULES


def test_a_fine_tune_takes_epochs_times_batches_of_its_images_at_most_max_steps():
    config = load_config(REPO, PAPER)
    glide = {"glide_protocol": "paper_random", "glide_kind": "base"}
    assert finetune_steps("glide_finetune", glide, config) == 60 * 2504  # 10,015 / 4
    grouped = {**glide, "glide_protocol": "lesion_grouped"}  # 70% of the images
    assert finetune_steps("glide_finetune", grouped, config) == 60 * math.ceil(7010 / 4)
    config["glide"]["finetune"]["max_steps"] = 500
    assert job_work("glide_finetune", glide, config) == ("step", 500)
    psoriasis = {"sd_base": "text2img", "dataset": "fitzpatrick17k", "sd_cls": "psoriasis"}
    assert dreambooth_images({**psoriasis, "pool": "all"}, config) == 584
    assert dreambooth_images({**psoriasis, "pool": "n24"}, config) == 24
    assert finetune_steps("sd_dreambooth", {**psoriasis, "pool": "all"}, config) == 4 * 146
    ddi = {"sd_base": "inpaint", "dataset": "ddi", "sd_cls": "all", "pool": "all"}
    assert dreambooth_images(ddi, config) == 343 + 121  # one model of both classes
    assert finetune_steps("sd_dreambooth", ddi, config) == 25 * 116  # DDI's own 25 epochs
    assert job_work("split", {}, config) == ("job", 1)


def test_a_benchmark_file_without_seconds_is_refused_naming_it(tmp_path):
    path = tmp_path / "job.tsv"
    path.write_text("h:m:s\tmax_rss\n0:00:01\t10\n")
    with pytest.raises(PlanError, match="job.tsv: not a Snakemake benchmark file"):
        benchmark_seconds(path)
    path.write_text("s\th:m:s\n3.0\t0:00:03\n5.0\t0:00:05\n")
    assert benchmark_seconds(path) == 4.0  # --benchmark-repeats: their mean

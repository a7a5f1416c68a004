"""Cluster plan: how long each job takes, its walltime limit, and the paper graph's totals.

One estimate serves two readers: the rules' `runtime` resource (the SLURM walltime limit) and
`dermsynth plan`, which asks Snakemake for the jobs of a config and sums GPU-hours.
A job's estimate is (images it makes) x (measured seconds per image) for the sharded samplers,
and the configured minutes of its rule (`resources.minutes`) otherwise.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from dermsynth.shards import shard_ranges


def job_images(rule: str, wildcards: Mapping[str, str], config: Mapping) -> int | None:
    """Images one job of `rule` makes, for the sampling rules; None for the others."""
    if rule == "glide_sample_shard":
        sample = config["glide"]["sample"]
        count = sample["images_per_class"].get(wildcards["cls"], 0)
        start, stop = shard_ranges(count, sample["images_per_shard"])[int(wildcards["k"])]
        return stop - start
    if rule == "sd_generate_shard":
        from dermsynth.design.work import shard_images

        return shard_images(
            config,
            wildcards["dataset"],
            wildcards["sd_method"],
            wildcards["sd_variant"],
            wildcards["pool"],
            wildcards["sd_cls"],
            int(wildcards["k"]),
        )
    return None


def seconds_per_image(rule: str, config: Mapping) -> float:
    """Measured seconds per image of a sampling rule (on one GPU at paper scale)."""
    if rule == "glide_sample_shard":
        return float(config["glide"]["sample"]["seconds_per_image"])
    if rule == "sd_generate_shard":
        return float(config["sd"]["generate"]["seconds_per_image"])
    raise KeyError(f"no seconds per image configured for rule {rule!r}")


def training_images(rule: str, wildcards: Mapping[str, str], config: Mapping) -> int | None:
    """Training images per epoch of a paper 2 classifier run (`dermsynth.design.work`); None
    for the other rules."""
    from dermsynth.design import runs, work

    if rule == "paper2_grid_run":
        run = runs.parse_run_id(wildcards["grid_run"], wildcards["grid_protocol"])
        return work.grid_training_images(config, run)
    if rule == "paper2_ddi_run":
        return work.ddi_training_images(config, runs.parse_ddi_run_id(wildcards["ddi_run"]))
    return None


def job_minutes(rule: str, wildcards: Mapping[str, str], config: Mapping) -> float:
    """Estimated minutes of work of one job (not counting start-up or safety margin).

    Samplers: images x seconds per image. Paper 2's classifier runs: training images x the
    configured epochs (an upper bound: early stopping ends most runs sooner) x seconds per
    training image (`resources.train_seconds_per_image`), plus the rule's minutes for loading
    and testing. Others: the rule's configured minutes."""
    images = job_images(rule, wildcards, config)
    if images is not None:
        return images * seconds_per_image(rule, config) / 60
    minutes = config["resources"]["minutes"]
    fixed = float(minutes.get(rule, minutes["default"]))
    train = training_images(rule, wildcards, config)
    if train is not None:
        experiment = config["classify"]["grid" if rule == "paper2_grid_run" else "ddi"]
        epochs = experiment["settings"].get("epochs", 50)
        return fixed + train * epochs * config["resources"]["train_seconds_per_image"] / 60
    if rule == "glide_finetune" and "glide_protocol" in wildcards:
        from dermsynth.design.paper1 import image_share

        return fixed * image_share(config, wildcards["glide_protocol"])
    return fixed


def walltime_minutes(estimate: float, resources: Mapping, attempt: int = 1) -> int:
    """The SLURM walltime limit for a job estimated at `estimate` minutes.

    margin x estimate + start-up, widened on each retry (a timed-out job resumes from its
    checkpoint or shard, so a retry with more time finishes it).
    """
    walltime = resources["walltime"]
    return math.ceil(walltime["margin"] * estimate * attempt + walltime["startup_minutes"])


# --- the plan of a config: jobs and edges from Snakemake's DAG, estimates from the config ----


@dataclass(frozen=True)
class PlannedJob:
    jobid: int
    rule: str
    wildcards: dict[str, str]
    resources: dict[str, int | float | str]  # as Snakemake evaluates them for a submission

    @property
    def gpus(self) -> int:
        value = self.resources.get("gpu", 0)
        return value if isinstance(value, int) else 0

    @property
    def runtime(self) -> int | None:
        value = self.resources.get("runtime")
        return value if isinstance(value, int) else None


@dataclass
class RulePlan:
    rule: str
    jobs: int = 0
    gpus_per_job: int = 0
    images: int = 0
    minutes: float = 0.0  # estimated work, all jobs
    walltime_minutes: int = 0  # the limits requested, all jobs

    @property
    def gpu_hours(self) -> float:
        return self.minutes * self.gpus_per_job / 60


@dataclass
class Plan:
    rules: list[RulePlan]
    peak_gpus: int
    makespan_hours: float  # with unlimited GPUs: the longest chain of estimated jobs
    shards: int = 0

    @property
    def jobs(self) -> int:
        return sum(rule.jobs for rule in self.rules)

    @property
    def images(self) -> int:
        return sum(rule.images for rule in self.rules)

    @property
    def gpu_hours(self) -> float:
        return sum(rule.gpu_hours for rule in self.rules)

    @property
    def gpu_jobs(self) -> int:
        return sum(rule.jobs for rule in self.rules if rule.gpus_per_job)


def snakemake_dag(argv: Sequence[str]) -> dict:
    """The graph Snakemake builds for the command line `argv`, run in the workflow's directory,
    as if nothing were built: each job's jobid, rule, wildcards and the resources a submission
    gets (after the profiles' default-resources and set-resources), and the edges
    [dependency's jobid, dependent's jobid]. Plain JSON values, through Snakemake's API.

    Snakemake changes the process's directory and keeps global state, so `snakemake_jobs`
    calls this in a fresh interpreter (`python -m dermsynth.plan ARGS`)."""
    import contextlib
    import io

    from snakemake.api import SnakemakeApi
    from snakemake.cli import parse_args, parse_config
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        ResourceSettings,
    )

    _, args = parse_args(list(argv))  # Snakemake reads the flags and the profiles itself
    # stdout is the JSON's alone: what Snakemake or the Snakefile print goes nowhere (logs: stderr)
    with (
        contextlib.redirect_stdout(io.StringIO()),
        SnakemakeApi(OutputSettings(enable_file_logging=False)) as api,
    ):
        try:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(  # as `snakemake ARGS` would submit
                    cores=args.cores,
                    nodes=args.jobs,
                    local_cores=args.local_cores,
                    max_threads=args.max_threads,
                    resources=args.resources,
                    overwrite_threads=args.set_threads,
                    overwrite_scatter=args.set_scatter,
                    overwrite_resource_scopes=args.set_resource_scopes,
                    overwrite_resources=args.set_resources,
                    default_resources=args.default_resources,
                ),
                config_settings=ConfigSettings(
                    config=parse_config(args.config),
                    configfiles=args.configfile,
                    config_args=args.config,
                    replace_workflow_config=args.replace_workflow_config,
                ),
                snakefile=args.snakefile,
                workdir=args.directory,
            )
            dag_api = workflow_api.dag(DAGSettings(targets=args.targets, forceall=True))
            dag_api.printd3dag()  # builds the DAG; we read the DAG itself, not its print
            dag = workflow_api._workflow.dag
            by_jobid = attrgetter("jobid")
            jobs = sorted(dag.jobs, key=by_jobid)
            return {
                "jobs": [
                    {
                        "jobid": job.jobid,
                        "rule": job.rule.name,
                        "wildcards": dict(job.wildcards_dict),
                        "resources": dict(job.resources.items()),
                    }
                    for job in jobs
                ],
                "edges": [
                    [dependency.jobid, job.jobid]
                    for job in jobs
                    for dependency in sorted(dag.dependencies[job], key=by_jobid)
                ],
            }
        except Exception as error:
            api.print_exception(error)
            raise SystemExit(1) from error


def read_dag(dag: Mapping) -> tuple[list[PlannedJob], list[tuple[int, int]]]:
    """`snakemake_dag`'s JSON as jobs and edges."""
    jobs = [
        PlannedJob(job["jobid"], job["rule"], dict(job["wildcards"]), dict(job["resources"]))
        for job in dag["jobs"]
    ]
    return jobs, [(u, v) for u, v in dag["edges"]]


def snakemake_jobs(
    workdir: Path, args: Sequence[str]
) -> tuple[list[PlannedJob], list[tuple[int, int]]]:
    """Every job Snakemake would run for `args` in `workdir` (with resources), and the DAG's
    edges."""
    command = [sys.executable, "-m", "dermsynth.plan", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return read_dag(json.loads(result.stdout))


def _schedule(
    jobs: Sequence[PlannedJob], edges: Sequence[tuple[int, int]], minutes: Mapping[int, float]
) -> tuple[int, float]:
    """Peak GPUs in use and total minutes, when every job starts as soon as its inputs exist."""
    parents = defaultdict(list)
    for u, v in edges:
        parents[v].append(u)
    finish: dict[int, float] = {}

    def finish_of(jobid: int) -> float:  # iterative: the paper's DAG is deep in places
        stack = [jobid]
        while stack:
            top = stack[-1]
            pending = [p for p in parents[top] if p not in finish]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            start = max((finish[p] for p in parents[top]), default=0.0)
            finish[top] = start + minutes.get(top, 0.0)
        return finish[jobid]

    events = []
    for job in jobs:
        end = finish_of(job.jobid)
        if job.gpus:
            events += [(end - minutes[job.jobid], job.gpus), (end, -job.gpus)]
    peak = running = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        peak = max(peak, running)
    return peak, max(finish.values(), default=0.0)


def make_plan(
    jobs: Sequence[PlannedJob], edges: Sequence[tuple[int, int]], config: Mapping
) -> Plan:
    """Jobs, images, estimated GPU-hours per rule, peak parallel GPUs and the critical path."""
    jobs = [job for job in jobs if job.rule != "all"]
    rules: dict[str, RulePlan] = {}
    minutes: dict[int, float] = {}
    shards = 0
    for job in jobs:
        rule = rules.setdefault(job.rule, RulePlan(job.rule))
        estimate = job_minutes(job.rule, job.wildcards, config)
        images = job_images(job.rule, job.wildcards, config)
        minutes[job.jobid] = estimate
        rule.jobs += 1
        rule.gpus_per_job = max(rule.gpus_per_job, job.gpus)
        rule.images += images or 0
        shards += images is not None
        rule.minutes += estimate
        rule.walltime_minutes += job.runtime or 0
    peak, makespan = _schedule(jobs, edges, minutes)
    return Plan(
        rules=sorted(rules.values(), key=lambda rule: (-rule.gpu_hours, rule.rule)),
        peak_gpus=peak,
        makespan_hours=makespan / 60,
        shards=shards,
    )


def format_plan(plan: Plan) -> str:
    """The plan as a table, one row per rule, then the totals."""
    header = (
        f"{'rule':<24} {'jobs':>6} {'gpu/job':>7} {'images':>8} {'GPU-h':>9} {'walltime-h':>10}"
    )
    lines = [header, "-" * len(header)]
    for rule in plan.rules:
        lines.append(
            f"{rule.rule:<24} {rule.jobs:>6} {rule.gpus_per_job:>7} {rule.images:>8} "
            f"{rule.gpu_hours:>9.1f} {rule.walltime_minutes / 60:>10.1f}"
        )
    lines += [
        "-" * len(header),
        f"{'total':<24} {plan.jobs:>6} {'':>7} {plan.images:>8} {plan.gpu_hours:>9.1f} "
        f"{sum(rule.walltime_minutes for rule in plan.rules) / 60:>10.1f}",
        "",
        f"jobs: {plan.jobs} ({plan.gpu_jobs} on GPUs); sampling shards: {plan.shards}; "
        f"images: {plan.images}",
        f"estimated GPU-hours: {plan.gpu_hours:.1f}; peak parallel GPUs: {plan.peak_gpus}; "
        f"critical path with unlimited GPUs: {plan.makespan_hours:.1f} h",
    ]
    return "\n".join(lines)


def plan_as_dict(plan: Plan) -> dict:
    return {
        "rules": [
            {
                "rule": rule.rule,
                "jobs": rule.jobs,
                "gpus_per_job": rule.gpus_per_job,
                "images": rule.images,
                "gpu_hours": round(rule.gpu_hours, 3),
                "walltime_hours": round(rule.walltime_minutes / 60, 3),
            }
            for rule in plan.rules
        ],
        "jobs": plan.jobs,
        "gpu_jobs": plan.gpu_jobs,
        "shards": plan.shards,
        "images": plan.images,
        "gpu_hours": round(plan.gpu_hours, 3),
        "peak_gpus": plan.peak_gpus,
        "critical_path_hours": round(plan.makespan_hours, 3),
    }


def load_config(workdir: Path, configfiles: Sequence[str | Path]) -> dict:
    """The workflow's config as Snakemake builds it: config/config.yaml, then each configfile
    merged over it, then the schema's defaults."""
    import yaml
    from snakemake.utils import update_config, validate

    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    for path in configfiles:
        update_config(config, yaml.safe_load((workdir / path).read_text()))
    validate(config, str(workdir / "config" / "schema" / "config.schema.yaml"))
    return config


if __name__ == "__main__":  # `snakemake_jobs`'s fresh interpreter: the DAG of argv as JSON
    print(json.dumps(snakemake_dag(sys.argv[1:]), default=str))

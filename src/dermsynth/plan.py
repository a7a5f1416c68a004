"""Cluster plan: how long each job takes, its walltime limit, and the paper graph's totals.

One estimate serves two readers: the rules' `runtime` resource (the SLURM walltime limit) and
`dermsynth plan`, which asks Snakemake for the jobs of a config and sums GPU-hours.
A job's estimate is (images it makes) x (measured seconds per image) for the sharded samplers,
and the configured minutes of its rule (`resources.minutes`) otherwise.

The graph is Snakemake's own, planned as if every external input (datasets, weights) were
there; the missing ones are listed beside it. A pilot's benchmark files calibrate the
estimates: seconds per unit of a job's work (`job_work`) instead of the assumed ones.
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
from pathlib import Path, PurePosixPath

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


def run_epochs(rule: str, config: Mapping) -> int:
    """The configured epochs of a paper 2 classifier run (early stopping may end it sooner)."""
    experiment = config["classify"]["grid" if rule == "paper2_grid_run" else "ddi"]
    return experiment["settings"].get("epochs", 50)


def dreambooth_images(wildcards: Mapping[str, str], config: Mapping) -> int:
    """Training images of one DreamBooth model: n per class of a strict pool (`n<N>`), else the
    expected training images of its class (`sd.sources_per_class`), all classes for a
    dataset's one model (validation images such a model adds are not counted)."""
    from dermsynth.design.pools import ONE_MODEL, class_slug, dataset_classes

    dataset, pool = wildcards["dataset"], wildcards["pool"]
    classes = dataset_classes(config)[dataset]
    if pool[1:].isdigit():
        per_class = dict.fromkeys(classes, int(pool[1:]))
    else:
        per_class = config["sd"]["sources_per_class"][dataset]
    labels = [c for c in classes if wildcards["sd_cls"] in (ONE_MODEL, class_slug(c))]
    return sum(int(per_class[label]) for label in labels)


def finetune_steps(rule: str, wildcards: Mapping[str, str], config: Mapping) -> int | None:
    """Optimizer steps of one fine-tune job (GLIDE, DreamBooth): its epochs x batches of its
    training images, at most its `max_steps`; None for the other rules. A GLIDE learns from
    its protocol's share of HAM10000's published rows."""
    if rule == "glide_finetune" and "glide_protocol" in wildcards:
        from dermsynth.data.ingest import PUBLISHED_ROWS
        from dermsynth.design.paper1 import image_share

        settings = config["glide"]["finetune"]
        share = image_share(config, wildcards["glide_protocol"])
        images = round(share * PUBLISHED_ROWS["ham10000"])
    elif rule == "sd_dreambooth":
        from dermsynth.design.pools import dreambooth_settings

        settings = dreambooth_settings(config["sd"]["dreambooth"], wildcards["dataset"])
        images = dreambooth_images(wildcards, config)
    else:
        return None
    steps = settings["epochs"] * math.ceil(images / settings["batch_size"])
    limit = settings.get("max_steps")
    return min(steps, limit) if limit else steps


def job_work(rule: str, wildcards: Mapping[str, str], config: Mapping) -> tuple[str, float]:
    """The unit one job's time scales with, and how many of it the job does: the images of a
    sampling shard, the training images x epochs of a classifier run, the steps of a
    fine-tune; one job for the other rules. A pilot's seconds per unit, times a paper job's
    units, is that job's measured estimate (`calibrate`)."""
    images = job_images(rule, wildcards, config)
    if images is not None:
        return "image", images
    train = training_images(rule, wildcards, config)
    if train is not None:
        return "epoch-image", train * run_epochs(rule, config)
    steps = finetune_steps(rule, wildcards, config)
    if steps is not None:
        return "step", steps
    return "job", 1


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
        seconds = config["resources"]["train_seconds_per_image"]
        return fixed + train * run_epochs(rule, config) * seconds / 60
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
    benchmark: str | None = None  # the job's benchmark file (its rule's `benchmark:`)

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


@dataclass(frozen=True)
class ExternalInput:
    """A file or folder the graph reads that no rule makes (a dataset, weights, a released split
    file), and the rules that read it."""

    path: str
    rules: tuple[str, ...]


@dataclass
class Graph:
    """Snakemake's graph of a config: its jobs, its edges and its external inputs."""

    jobs: list[PlannedJob]
    edges: list[tuple[int, int]]
    inputs: list[ExternalInput]

    def missing(self, workdir: Path) -> list[ExternalInput]:
        """The external inputs that are not at their path (relative to `workdir`)."""
        return [i for i in self.inputs if not (Path(workdir) / i.path).exists()]


class PlanError(Exception):
    """Snakemake could not build the graph for a reason a user can fix (a config key, a target,
    a config file): a one-line message, no traceback."""


def _chain(error: BaseException | None) -> list[BaseException]:
    """The exception, and those it was raised from or while handling, innermost last."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _one_line(error: BaseException) -> str:
    """A Snakemake exception as one line: a config's schema error names the key at fault, a
    file error the file, others their first line."""
    from jsonschema import ValidationError

    for cause in _chain(error):
        if isinstance(cause, ValidationError):
            where = ".".join(str(part) for part in cause.absolute_path)
            return f"config{' ' + where if where else ''}: {cause.message}"
        if isinstance(cause, OSError) and cause.filename:
            return f"{cause.filename}: {cause.strerror}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else ""
    name = type(error).__name__
    return message if message.startswith(name) else f"{name}: {message}".rstrip(": ")


def external_inputs(dag) -> list[ExternalInput]:
    """The inputs of the DAG's jobs that no job of it makes, each with the rules that read it."""
    readers: dict[str, set[str]] = defaultdict(set)
    for job in dag.jobs:
        made = set().union(*dag.dependencies[job].values())
        for file in job.input:
            if file not in made:
                readers[str(file)].add(job.rule.name)
    return [ExternalInput(path, tuple(sorted(rules))) for path, rules in sorted(readers.items())]


def snakemake_dag(argv: Sequence[str]) -> dict:
    """The graph Snakemake builds for the command line `argv`, run in the workflow's directory,
    as if nothing were built and every external input were there: each job's jobid, rule,
    wildcards, benchmark file and the resources a submission gets (after the profiles'
    default-resources and set-resources), the edges [dependency's jobid, dependent's jobid],
    and the external inputs (`external_inputs`). Plain JSON values, through Snakemake's API;
    {"error": one line} where Snakemake refuses the graph (`PlanError`).

    External inputs are taken as present the way Snakemake does inside a job it runs itself
    (exec mode `subprocess`, where it trusts the inputs its main process checked): the graph
    is then the one a real run builds once the files are there (no rule of this workflow is
    chosen by which files exist: it has no `ruleorder` and no checkpoint), and the files that
    are missing are read off it instead of stopping it at the first.

    Snakemake changes the process's directory and keeps global state, so `snakemake_graph`
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
        WorkflowSettings,
    )
    from snakemake_interface_executor_plugins.settings import ExecMode

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
                workflow_settings=WorkflowSettings(exec_mode=ExecMode.SUBPROCESS),
                snakefile=args.snakefile,
                workdir=args.directory,
            )
            dag_api = workflow_api.dag(DAGSettings(targets=args.targets, forceall=True))
            dag_api.printd3dag()  # builds the DAG; we read the DAG itself, not its print
        except Exception as error:
            api.print_exception(error)  # Snakemake's own message, on stderr
            return {"error": _one_line(error)}
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
                    "benchmark": str(job.benchmark) if job.benchmark else None,
                }
                for job in jobs
            ],
            "edges": [
                [dependency.jobid, job.jobid]
                for job in jobs
                for dependency in sorted(dag.dependencies[job], key=by_jobid)
            ],
            "inputs": [
                {"path": item.path, "rules": list(item.rules)} for item in external_inputs(dag)
            ],
        }


def read_dag(dag: Mapping) -> tuple[list[PlannedJob], list[tuple[int, int]]]:
    """`snakemake_dag`'s JSON as jobs and edges."""
    jobs = [
        PlannedJob(
            job["jobid"],
            job["rule"],
            dict(job["wildcards"]),
            dict(job["resources"]),
            job.get("benchmark"),
        )
        for job in dag["jobs"]
    ]
    return jobs, [(u, v) for u, v in dag["edges"]]


def read_graph(dag: Mapping) -> Graph:
    """`snakemake_dag`'s JSON as a Graph; PlanError for Snakemake's refusal."""
    if "error" in dag:
        raise PlanError(dag["error"])
    jobs, edges = read_dag(dag)
    inputs = [ExternalInput(i["path"], tuple(i["rules"])) for i in dag.get("inputs", [])]
    return Graph(jobs, edges, inputs)


def snakemake_args(
    targets: Sequence[str], configfiles: Sequence[str | Path], profile: str | None
) -> list[str]:
    """Snakemake's command line for a graph: targets first, then every config file after one
    --configfile (a second flag would replace the first), then the workflow profile."""
    args = [str(target) for target in targets]
    if configfiles:
        args += ["--configfile", *map(str, configfiles)]
    if profile:
        args += ["--workflow-profile", profile]
    return args


def snakemake_graph(workdir: Path, args: Sequence[str]) -> Graph:
    """Every job Snakemake would run for `args` in `workdir` (with resources and benchmark
    files), the DAG's edges, and the external inputs, whether or not they are there yet."""
    if not Path(workdir).is_dir():
        raise PlanError(f"{workdir}: no such directory (the workflow's)")
    command = [sys.executable, "-m", "dermsynth.plan", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    try:
        dag = json.loads(result.stdout)
    except json.JSONDecodeError:
        dag = None
    if result.returncode not in (0, 2) or dag is None:
        raise RuntimeError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        )
    return read_graph(dag)


def snakemake_jobs(
    workdir: Path, args: Sequence[str]
) -> tuple[list[PlannedJob], list[tuple[int, int]]]:
    """Every job Snakemake would run for `args` in `workdir` (with resources), and the DAG's
    edges."""
    graph = snakemake_graph(workdir, args)
    return graph.jobs, graph.edges


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
    width = max([24, *(len(rule.rule) for rule in plan.rules)])
    header = (
        f"{'rule':<{width}} {'jobs':>6} {'gpu/job':>7} {'images':>8} {'GPU-h':>9} "
        f"{'walltime-h':>10}"
    )
    lines = [header, "-" * len(header)]
    for rule in plan.rules:
        lines.append(
            f"{rule.rule:<{width}} {rule.jobs:>6} {rule.gpus_per_job:>7} {rule.images:>8} "
            f"{rule.gpu_hours:>9.1f} {rule.walltime_minutes / 60:>10.1f}"
        )
    lines += [
        "-" * len(header),
        f"{'total':<{width}} {plan.jobs:>6} {'':>7} {plan.images:>8} {plan.gpu_hours:>9.1f} "
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


def format_missing(missing: Sequence[ExternalInput]) -> str:
    """The external inputs that are not there, under the plan: planned as if they were."""
    if not missing:
        return ""
    width = max(len(item.path) for item in missing)
    lines = [
        f"missing: {len(missing)} external input(s), planned as if they were there "
        "(`dermsynth check` says what to do):"
    ]
    lines += [f"  {item.path:<{width}}  read by {', '.join(item.rules)}" for item in missing]
    return "\n".join(lines)


# --- calibration: a pilot's benchmark files instead of the assumed seconds and minutes -------

BENCHMARKS = PurePosixPath("results/benchmarks")  # where the rules' `benchmark:` files go


@dataclass(frozen=True)
class Rate:
    """A rule's measured seconds per unit of its work (`job_work`), from a pilot's benchmark
    files: all its measured jobs' seconds over all their units."""

    rule: str
    unit: str
    seconds: float
    work: float
    jobs: int

    @property
    def per_unit(self) -> float:
        return self.seconds / self.work


def benchmark_seconds(path: Path) -> float:
    """The `s` column of a Snakemake benchmark file (the mean of its repeats)."""
    import csv

    with open(path, newline="") as stream:
        rows = list(csv.DictReader(stream, delimiter="\t"))
    try:
        return sum(float(row["s"]) for row in rows) / len(rows)
    except (KeyError, ValueError, ZeroDivisionError):
        raise PlanError(f"{path}: not a Snakemake benchmark file (no `s` value)") from None


def benchmark_file(benchmarks: Path, job_benchmark: str) -> Path:
    """Where a job's benchmark file is under `benchmarks` (the pilot's results/benchmarks,
    or a copy of it elsewhere)."""
    path = PurePosixPath(job_benchmark)
    if path.is_relative_to(BENCHMARKS):
        path = path.relative_to(BENCHMARKS)
    return Path(benchmarks) / path


def calibrate(
    benchmarks: Path, pilot_jobs: Sequence[PlannedJob], pilot_config: Mapping
) -> dict[str, Rate]:
    """Each rule's seconds per unit of work, from the benchmark files the pilot's jobs wrote
    under `benchmarks` (jobs without one are not counted)."""
    totals: dict[str, list] = {}
    for job in pilot_jobs:
        if not job.benchmark:
            continue
        path = benchmark_file(benchmarks, job.benchmark)
        if not path.is_file():
            continue
        unit, work = job_work(job.rule, job.wildcards, pilot_config)
        if work <= 0:
            continue
        total = totals.setdefault(job.rule, [unit, 0.0, 0.0, 0])
        total[1] += benchmark_seconds(path)
        total[2] += work
        total[3] += 1
    return {rule: Rate(rule, *total) for rule, total in sorted(totals.items())}


def measured_config(rates: Mapping[str, Rate], jobs: Sequence[PlannedJob], config: Mapping) -> dict:
    """The config values that the rates replace, as a config to merge over `config`:
    seconds per image of the samplers, `resources.train_seconds_per_image` of the classifier
    runs (the larger, where both were measured: one key serves both; their fixed minutes stay),
    and `resources.minutes.<rule>` for the others (a GLIDE fine-tune's: all of HAM10000's
    images, as the config means it; a DreamBooth model's: the longest of the plan's)."""
    updates: dict = {}
    minutes: dict[str, float] = {}
    per_epoch_image = []
    for rule, rate in rates.items():
        if rate.unit == "image":
            section = "glide" if rule == "glide_sample_shard" else "sd"
            key = "sample" if section == "glide" else "generate"
            updates.setdefault(section, {})[key] = {"seconds_per_image": round(rate.per_unit, 4)}
        elif rate.unit == "epoch-image":
            per_epoch_image.append(rate.per_unit)
        elif rate.unit == "job":
            minutes[rule] = rate.per_unit / 60
        else:  # step: the longest job of the plan, per the config's meaning of the rule's minutes
            longest = 0.0
            for job in jobs:
                if job.rule == rule:
                    work = job_work(rule, job.wildcards, config)[1]
                    share = 1.0
                    if rule == "glide_finetune" and "glide_protocol" in job.wildcards:
                        from dermsynth.design.paper1 import image_share

                        share = image_share(config, job.wildcards["glide_protocol"])
                    longest = max(longest, work * rate.per_unit / 60 / share)
            if longest:
                minutes[rule] = longest
    resources: dict = {}
    if per_epoch_image:
        resources["train_seconds_per_image"] = round(max(per_epoch_image), 6)
    if minutes:
        resources["minutes"] = {rule: round(value, 1) for rule, value in minutes.items()}
    if resources:
        updates["resources"] = resources
    return updates


def merged(config: Mapping, updates: Mapping) -> dict:
    """`updates` merged over a copy of `config`, key by key (as Snakemake merges configfiles)."""
    import copy

    result = copy.deepcopy(dict(config))
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def with_walltimes(jobs: Sequence[PlannedJob], config: Mapping) -> list[PlannedJob]:
    """The jobs with the walltimes `config`'s estimates give them (as the rules' `runtime`)."""
    import dataclasses

    return [
        dataclasses.replace(
            job,
            resources={
                **job.resources,
                "runtime": walltime_minutes(
                    job_minutes(job.rule, job.wildcards, config), config["resources"]
                ),
            },
        )
        if job.rule != "all"
        else job
        for job in jobs
    ]


@dataclass(frozen=True)
class RuleCalibration:
    """One rule, assumed against measured: seconds per unit, and its jobs' GPU-hours."""

    rule: str
    unit: str
    assumed: float  # seconds per unit, as the config's estimates imply for the plan's jobs
    measured: float
    pilot_jobs: int
    jobs: int
    gpu_hours_before: float
    gpu_hours_after: float


def compare(
    rates: Mapping[str, Rate],
    jobs: Sequence[PlannedJob],
    config: Mapping,
    estimate: Plan,
    calibrated: Plan,
) -> list[RuleCalibration]:
    """Per measured rule: the seconds per unit the config assumes (its jobs' estimated
    minutes over their units), the pilot's, and the GPU-hours before and after."""
    before = {rule.rule: rule for rule in estimate.rules}
    after = {rule.rule: rule for rule in calibrated.rules}
    rows = []
    for rule, rate in rates.items():
        if rule not in before:
            continue
        seconds = work = 0.0
        for job in jobs:
            if job.rule == rule:
                seconds += job_minutes(rule, job.wildcards, config) * 60
                work += job_work(rule, job.wildcards, config)[1]
        rows.append(
            RuleCalibration(
                rule,
                rate.unit,
                seconds / work if work else 0.0,
                rate.per_unit,
                rate.jobs,
                before[rule].jobs,
                before[rule].gpu_hours,
                after[rule].gpu_hours,
            )
        )
    return sorted(rows, key=lambda row: (-row.gpu_hours_before, row.rule))


def format_calibration(
    rows: Sequence[RuleCalibration], estimate: Plan, calibrated: Plan, unmeasured: Sequence[str]
) -> str:
    """Assumed against measured, rule by rule, and the totals before and after."""
    header = (
        f"{'rule':<24} {'per':<11} {'assumed s':>10} {'measured s':>10} {'pilot jobs':>10} "
        f"{'jobs':>6} {'GPU-h before':>12} {'GPU-h after':>11}"
    )
    lines = [header, "-" * len(header)]
    if not rows:
        lines.append("(no benchmark file of a pilot job: nothing measured yet; run the pilot)")
    for row in rows:
        lines.append(
            f"{row.rule:<24} {row.unit:<11} {row.assumed:>10.4g} {row.measured:>10.4g} "
            f"{row.pilot_jobs:>10} {row.jobs:>6} {row.gpu_hours_before:>12.1f} "
            f"{row.gpu_hours_after:>11.1f}"
        )
    lines += [
        "-" * len(header),
        f"estimated GPU-hours: {estimate.gpu_hours:.1f} assumed, {calibrated.gpu_hours:.1f} "
        f"measured; critical path: {estimate.makespan_hours:.1f} h assumed, "
        f"{calibrated.makespan_hours:.1f} h measured",
    ]
    if unmeasured:
        lines.append(f"not measured by the pilot (assumed values kept): {', '.join(unmeasured)}")
    return "\n".join(lines)


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


if __name__ == "__main__":  # `snakemake_graph`'s fresh interpreter: the DAG of argv as JSON
    _dag = snakemake_dag(sys.argv[1:])
    print(json.dumps(_dag, default=str))
    sys.exit(2 if "error" in _dag else 0)

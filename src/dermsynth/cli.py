"""The `dermsynth` command: `dermsynth plan` prints the cluster plan of a config."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dermsynth.plan import format_plan, load_config, make_plan, plan_as_dict, snakemake_jobs


def plan(args: argparse.Namespace) -> None:
    workdir = Path(args.directory).resolve()
    snakemake_args = [*args.targets]
    if args.configfile:  # one flag for all: a second --configfile would replace the first
        snakemake_args += ["--configfile", *args.configfile]
    if args.profile:
        snakemake_args += ["--workflow-profile", args.profile]
    jobs, edges = snakemake_jobs(workdir, snakemake_args)
    result = make_plan(jobs, edges, load_config(workdir, args.configfile))
    print(json.dumps(plan_as_dict(result), indent=2) if args.json else format_plan(result))


def fetch(args: argparse.Namespace) -> int:
    from dermsynth.fetch.run import fetch_inputs, format_summary

    workdir = Path(args.directory).resolve()
    config = load_config(workdir, args.configfile)
    try:
        rows, notes = fetch_inputs(
            workdir,
            config,
            args.what,
            sources=args.sources,
            jobs=args.jobs,
            dry_run=args.dry_run,
        )
    except (ValueError, OSError) as error:  # a name or a sources file that is wrong
        raise SystemExit(f"dermsynth fetch: {error}") from None
    print(format_summary(rows, notes))
    return 1 if any(row.failed for row in rows) else 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="dermsynth")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser(
        "plan",
        help="jobs per rule, images, shards, estimated GPU-hours and peak parallel GPUs",
        description=(
            "Asks Snakemake's API for every job of the graph (its DAG of the whole graph, as if "
            "nothing were built, with the resources the profile gives each job) and adds up the "
            "estimates of dermsynth.plan."
        ),
    )
    plan_parser.add_argument("targets", nargs="*", help="targets (default: all)")
    plan_parser.add_argument(
        "--configfile", action="append", default=[], help="e.g. config/paper.yaml"
    )
    plan_parser.add_argument(
        "--profile",
        default="profiles/slurm",
        help="workflow profile whose per-rule GPUs count (default profiles/slurm; '' for none)",
    )
    plan_parser.add_argument("--directory", default=".", help="the workflow's directory")
    plan_parser.add_argument("--json", action="store_true", help="print JSON")
    fetch_parser = commands.add_parser(
        "fetch",
        help="download every external input of a config to where the config reads it",
        description=(
            "Downloads the inputs config/sources.yaml names (released weights, HAM10000, "
            "Fitzpatrick17k, the authors' split files; DDI: where to request it) to the paths "
            "the merged config reads, checks each against a published digest or the lock file "
            "(config/sources.lock.csv, which records what no source publishes), and prints a "
            "summary. Exits non-zero if anything failed."
        ),
    )
    fetch_parser.add_argument(
        "what",
        nargs="*",
        help="weights (glide, inception, torchvision, sd), ham10000, fitzpatrick17k, splits, "
        "ddi (default: everything the config reads)",
    )
    fetch_parser.add_argument(
        "--configfile", action="append", default=[], help="e.g. config/paper.yaml (repeatable)"
    )
    fetch_parser.add_argument("--directory", default=".", help="the workflow's directory")
    fetch_parser.add_argument(
        "--sources", default="config/sources.yaml", help="the sources file (its lock beside it)"
    )
    fetch_parser.add_argument(
        "--jobs", type=int, default=8, help="parallel image downloads (default 8)"
    )
    fetch_parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list each destination as present or to fetch; download nothing",
    )
    args = parser.parse_args(argv)
    if args.command == "fetch":
        raise SystemExit(fetch(args))
    plan(args)


if __name__ == "__main__":
    main()

"""The `dermsynth` command: `plan` prints the cluster plan of a config (calibrated by a pilot's
benchmark files with --calibrate), `check` checks every external input before a run, `fetch`
downloads them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from dermsynth.plan import (
    PlanError,
    calibrate,
    compare,
    format_calibration,
    format_missing,
    format_plan,
    load_config,
    make_plan,
    measured_config,
    merged,
    plan_as_dict,
    snakemake_args,
    snakemake_graph,
    with_walltimes,
)

PILOT_CONFIG = "config/pilot.yaml"


def plan(args: argparse.Namespace) -> int:
    workdir = Path(args.directory).resolve()
    try:
        graph = snakemake_graph(
            workdir, snakemake_args(args.targets, args.configfile, args.profile)
        )
        config = load_config(workdir, args.configfile)
        estimate = make_plan(graph.jobs, graph.edges, config)
        missing = graph.missing(workdir)
        if args.calibrate is None:
            result = {**plan_as_dict(estimate), "missing": [vars(m) for m in missing]}
            text = "\n\n".join(filter(None, [format_plan(estimate), format_missing(missing)]))
            print(json.dumps(result, indent=2, default=list) if args.json else text)
            return 0
        pilot_files = args.pilot or [*args.configfile, PILOT_CONFIG]
        pilot = snakemake_graph(workdir, snakemake_args([], pilot_files, args.profile))
        # a pilot not run yet (or not to its end) measured nothing (or some rules): the rest
        # keep their assumed values
        rates = calibrate(workdir / args.calibrate, pilot.jobs, load_config(workdir, pilot_files))
    except PlanError as error:
        print(f"dermsynth plan: {error}", file=sys.stderr)
        return 2
    updates = measured_config(rates, graph.jobs, config)
    measured = merged(config, updates)
    calibrated = make_plan(with_walltimes(graph.jobs, measured), graph.edges, measured)
    rows = compare(rates, graph.jobs, config, estimate, calibrated)
    unmeasured = sorted({r.rule for r in estimate.rules if r.gpus_per_job} - set(rates))
    if args.save_config:
        try:
            (workdir / args.save_config).write_text(yaml.safe_dump(updates, sort_keys=False))
        except OSError as error:
            print(f"dermsynth plan: {error}", file=sys.stderr)
            return 2
    if args.json:
        result = {
            "estimate": plan_as_dict(estimate),
            "calibrated": plan_as_dict(calibrated),
            "rules": [vars(row) for row in rows],
            "unmeasured": unmeasured,
            "measured_config": updates,
            "missing": [vars(m) for m in missing],
        }
        print(json.dumps(result, indent=2, default=list))
        return 0
    parts = [
        "calibrated plan (the pilot's measured seconds instead of the assumed ones):",
        format_plan(calibrated),
        format_calibration(rows, estimate, calibrated, unmeasured),
        "the measured values, as a config to give after the others (--save-config FILE):\n"
        + yaml.safe_dump(updates, sort_keys=False).rstrip(),
        format_missing(missing),
    ]
    print("\n\n".join(filter(None, parts)))
    return 0


def check(args: argparse.Namespace) -> int:
    from dermsynth.check import check_run, format_findings

    try:
        findings = check_run(
            Path(args.directory).resolve(),
            args.targets,
            args.configfile,
            args.profile,
            digests_too=not args.no_digests,
        )
    except PlanError as error:
        print(f"dermsynth check: {error}", file=sys.stderr)
        return 2
    print(format_findings(findings))
    return 1 if any(finding.fails for finding in findings) else 0


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


def graph_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments that name a graph: targets, config files, profile, directory."""
    parser.add_argument("targets", nargs="*", help="targets (default: all), before --configfile")
    parser.add_argument(
        "--configfile",
        action="extend",
        nargs="+",
        default=[],
        help="e.g. config/paper.yaml config/pilot.yaml (every word after it)",
    )
    parser.add_argument(
        "--profile",
        default="profiles/slurm",
        help="workflow profile whose per-rule GPUs count (default profiles/slurm; '' for none)",
    )
    parser.add_argument("--directory", default=".", help="the workflow's directory")


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
    graph_arguments(plan_parser)
    plan_parser.add_argument("--json", action="store_true", help="print JSON")
    plan_parser.add_argument(
        "--calibrate",
        metavar="BENCHMARKS",
        help="a pilot's benchmark folder (results/benchmarks): its measured seconds replace "
        "the assumed ones, and the calibrated plan is printed beside the estimate",
    )
    plan_parser.add_argument(
        "--pilot",
        nargs="+",
        metavar="CONFIGFILE",
        help=f"the pilot's config files (default: --configfile's, then {PILOT_CONFIG})",
    )
    plan_parser.add_argument(
        "--save-config",
        metavar="FILE",
        help="with --calibrate: write the measured values there, a config to give last",
    )
    check_parser = commands.add_parser(
        "check",
        help="before a run: every external input present, sound and loadable; disk; GPU",
        description=(
            "Lists every file the graph reads that no rule makes (datasets, weights, released "
            "split files) and checks each: present, readable, size, digest where "
            "config/sources.lock.csv or config/sources.yaml records one, weights against "
            "their architecture (keys and shapes), datasets' rows against the published "
            "counts; then free disk space against the images the plan makes, and whether a "
            "GPU is visible. Exits 1 when something would stop the run, 2 when Snakemake "
            "cannot build the graph."
        ),
    )
    graph_arguments(check_parser)
    check_parser.add_argument(
        "--no-digests", action="store_true", help="skip the sha256 of recorded files (slow)"
    )
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
        "--configfile",
        action="extend",
        nargs="+",
        default=[],
        help="e.g. config/paper.yaml (every word after it, as Snakemake's)",
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
    status = check(args) if args.command == "check" else plan(args)
    if status:
        raise SystemExit(status)


if __name__ == "__main__":
    main()

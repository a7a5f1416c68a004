"""The SLURM profile on a real single-node SLURM (.ci/slurm_up.sh): every job of a reduced demo
target goes through sbatch, the products match a local run, and a job killed by scancel is
reported, retried and resumes from its checkpoint.

The reduced target is the lesion_grouped protocol's fine-tuned GLIDE base model: demo data,
ingestion, resizing, the split, the images it learns from and the fine-tune (a GPU rule, on the
node's fake GPU), six jobs. CI runs .ci/slurm_up.sh first; in CI
(env CI set) a cluster that does not answer fails the test with the reason, locally it skips.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from workflow_helpers import SMALL_HAM10000_CONFIG, copy_workflow

pytestmark = pytest.mark.slurm

SLURM_ROOT = Path(os.environ.get("DERMSYNTH_SLURM_ROOT", "/tmp/dermsynth-slurm"))
TARGET = "results/models/glide/lesion_grouped/base.pt"
RULES = [
    "demo_ham10000",
    "ingest_ham10000",
    "resize_images",
    "split",
    "glide_train_images",
    "glide_finetune",
]
# a smaller HAM10000 demo and fewer steps, with a checkpoint every 2 steps for scancel to land after
TEST_CONFIG = (
    SMALL_HAM10000_CONFIG
    + """glide:
  finetune: {max_steps: 8, checkpoint_every: 2}
"""
)
CHECKPOINT = "results/models/glide/resume/lesion_grouped/base.pt"
# the local cluster: its one partition, an account (no accounting database checks it), squeue
# for job status (no slurmdbd, so no sacct), and status checks from the first second
CLUSTER_ARGS = [
    "--workflow-profile",
    "profiles/slurm",
    "--default-resources",
    "slurm_partition=debug",
    "slurm_account=dermsynth",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--latency-wait",
    "5",
]


def cluster_problem() -> str | None:
    """Why the local SLURM cannot take jobs, or None when it can."""
    if not shutil.which("sbatch"):
        return "sbatch not found: run .ci/slurm_up.sh (as root) first"
    result = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True)
    state = result.stdout.strip()
    if result.returncode != 0 or state not in ("idle", "mixed", "allocated"):
        return f"no SLURM node takes jobs (sinfo: {state or result.stderr.strip()!r})"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"SLURM did not start: {problem}")
        pytest.skip(problem)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def product_digests(workdir: Path) -> dict[str, str]:
    """Checksums of the deterministic products of the target (data, split, losses, images); the
    weights are compared tensor by tensor (tests/test_same_bytes.py compares their bytes)."""
    paths = [
        "results/data/ham10000/pairs.csv",
        "results/data/ham10000/splits/lesion_grouped.csv",
        "results/models/glide/lesion_grouped/base_loss.csv",
        *sorted(
            str(p.relative_to(workdir))
            for p in (workdir / "results/data/ham10000/images").rglob("*.png")
        ),
    ]
    return {path: sha256(workdir / path) for path in paths}


def job_comments() -> dict[str, str]:
    """SLURM job id -> the executor's comment (rule_<name>_wildcards_<...>), for every job the
    controller still knows."""
    result = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%i|%k"], capture_output=True, text=True
    )
    return dict(line.split("|", 1) for line in result.stdout.splitlines() if "|" in line)


def cancel_when_checkpointed(workdir: Path, process: subprocess.Popen, timeout: float) -> str:
    """scancel the fine-tune's SLURM job once it has written a checkpoint; its job id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if (workdir / CHECKPOINT).exists():
            running = [
                jobid
                for jobid, comment in job_comments().items()
                if comment.startswith("rule_glide_finetune")
            ]
            if running:
                subprocess.run(["scancel", *running], check=True)
                return running[-1]
        time.sleep(0.2)
    raise AssertionError(f"the fine-tune wrote no checkpoint ({CHECKPOINT}) in {timeout} s")


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The reduced target run twice: through SLURM (its fine-tune cancelled once) and locally."""
    on_slurm = copy_workflow(tmp_path_factory.mktemp("on_slurm"))
    local = copy_workflow(tmp_path_factory.mktemp("local"))
    for workdir in (on_slurm, local):
        (workdir / "test.yaml").write_text(TEST_CONFIG)
    command = [sys.executable, "-m", "snakemake", TARGET, "--configfile", "test.yaml"]
    start = time.perf_counter()
    slurm_run = subprocess.Popen(
        [*command, *CLUSTER_ARGS],
        cwd=on_slurm,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # the local run works while the SLURM run mostly waits for the scheduler's status checks
    local_run = subprocess.Popen(
        [*command, "--cores", "2"],
        cwd=local,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        cancelled = cancel_when_checkpointed(on_slurm, slurm_run, timeout=900)
        output, _ = slurm_run.communicate(timeout=900)
        print(
            f"reduced target through SLURM, one job cancelled: {time.perf_counter() - start:.1f} s"
        )
        local_output, _ = local_run.communicate(timeout=900)
    finally:
        for process in (slurm_run, local_run):
            if process.poll() is None:
                process.kill()
    assert slurm_run.returncode == 0, output
    assert local_run.returncode == 0, local_output
    return {"slurm": on_slurm, "local": local, "output": output, "cancelled": cancelled}


def submissions(output: str) -> list[tuple[int, str, str]]:
    """(snakemake job id, SLURM job id, rule) of every sbatch the executor reported."""
    pattern = r"Job (\d+) has been submitted with SLURM jobid (\d+) \(log: .*?/rule_(\w+?)/"
    return [(int(job), slurm, rule) for job, slurm, rule in re.findall(pattern, output)]


def test_every_job_of_the_target_is_submitted_with_sbatch(runs):
    submitted = submissions(runs["output"])
    finished = re.findall(r"Finished jobid: (\d+) \(Rule: (\w+)\)", runs["output"])
    assert sorted(rule for _, rule in finished) == sorted(RULES)
    submitted_jobs = {job for job, _, _ in submitted}
    assert {int(job) for job, _ in finished} <= submitted_jobs
    # and the controller itself accepted each of those batch jobs
    controller_log = (SLURM_ROOT / "log" / "slurmctld.log").read_text()
    for _, slurm_id, rule in submitted:
        assert re.search(rf"_slurm_rpc_submit_batch_job: JobId={slurm_id}\b", controller_log), rule


def test_gpu_rules_get_a_gpu_from_slurm_and_cpu_rules_none(runs):
    for _, slurm_id, rule in submissions(runs["output"]):
        job = subprocess.run(
            ["scontrol", "show", "job", slurm_id], capture_output=True, text=True
        ).stdout
        asks_gpu = "gres/gpu=1" in job or "gres:gpu:1" in job
        assert asks_gpu == (rule == "glide_finetune"), (rule, job)


def test_products_through_slurm_match_a_local_run(runs):
    assert product_digests(runs["slurm"]) == product_digests(runs["local"])
    on_slurm, local = (
        torch.load(runs[run] / TARGET, map_location="cpu", weights_only=True)
        for run in ("slurm", "local")
    )
    assert on_slurm.keys() == local.keys()
    assert all(torch.equal(on_slurm[key], local[key]) for key in local)


def test_a_cancelled_job_is_reported_retried_and_resumes_from_its_checkpoint(runs):
    output, cancelled = runs["output"], runs["cancelled"]
    assert f"SLURM-job '{cancelled}' failed, SLURM status is: 'CANCELLED'" in output
    finetune_jobs = [slurm for _, slurm, rule in submissions(output) if rule == "glide_finetune"]
    assert finetune_jobs[0] == cancelled and len(finetune_jobs) == 2
    log = (runs["slurm"] / "results/logs/glide/lesion_grouped/finetune_base.log").read_text()
    resumed = re.search(r"resumed from \S+ at step (\d+) of 8", log)
    assert resumed and int(resumed[1]) > 0, log
    assert "trained to step 8" in log

"""Run the real snakemake on a copy of the workflow in a temporary directory."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_PARTS = ["Snakefile", "rules", "config", "report", "workflow", "envs", "profiles"]


def copy_workflow(target: Path) -> Path:
    """The workflow's files (not results/) copied into `target`, with resources/reference."""
    for part in WORKFLOW_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part)
        else:
            shutil.copy(source, target / part)
    shutil.copytree(REPO / "resources" / "reference", target / "resources" / "reference")
    return target


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`snakemake ARGS` in `workdir`, with this interpreter's snakemake."""
    command = [sys.executable, "-m", "snakemake", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=1800)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry-run, as {rule: jobs}."""
    table = dry_run_output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\S+)\s+(\d+)", line.strip())
        if not match:
            break
        counts[match[1]] = int(match[2])
    return counts


def load_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def modules_loaded_by(*modules: str) -> set[str]:
    """Every module a fresh interpreter holds after importing `modules`: what a job or a
    snakemake parse that imports them pays for."""
    code = f"import json, sys; import {', '.join(modules)}; print(json.dumps(list(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"importing {modules} failed:\n{result.stderr}")
    return set(json.loads(result.stdout))


# a smaller HAM10000 demo, resized for GLIDE's base model and the copies its crops come from: the
# config the tests that fine-tune GLIDE through the workflow start from
SMALL_HAM10000_CONFIG = """
demo:
  ham10000:
    lesions_per_class: {akiec: 4, bcc: 4, bkl: 4, df: 4, mel: 4, nv: 4, vasc: 4}
preprocess:
  sizes: {ham10000: [64, 128]}   # the base model's input and the copies it crops from
"""

"""Every shell command of the README works as a user types it (tests/readme_commands.py says how
each kind of step is run); the ones that need the demo's products run in tests/test_workflow.py
on the built demo graph."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from readme_commands import Step, dry, local_program, readme_steps
from workflow_helpers import REPO, copy_workflow, place_paper_inputs

pytestmark = pytest.mark.workflow

STEPS = readme_steps(REPO / "README.md")
BIN = Path(sys.executable).parent
CI_RUN = (REPO / ".ci" / "run").read_text()


def of_kind(kind: str) -> list[Step]:
    """The steps of one kind, a command the README shows twice once (its first place)."""
    unique = {}
    for step in STEPS:
        if step.kind == kind:
            unique.setdefault(" ".join(step.words), step)
    return list(unique.values())


def step_id(step: Step) -> str:
    return f"README:{step.line}:{step.text[:60]}"


def run(words: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_every_readme_command_has_a_way_to_be_checked():
    unknown = [f"README line {s.line}: {s.text}" for s in STEPS if s.kind == "unknown"]
    assert not unknown, "no test runs these README commands: " + "; ".join(unknown)
    assert len(of_kind("snakemake")) >= 5  # the README has commands at all


def test_readme_installs_are_ci_installs():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    ci_installs = re.findall(r'pip install [^\n]*-e "?\.(\[[^\]"]*\])?', CI_RUN)
    assert ci_installs, ".ci/run installs nothing"
    for step in of_kind("install"):
        words = step.words
        if "pip" not in Path(words[0]).name:
            assert words == ["python3", "-m", "venv", ".venv"], step.text
            assert "python3 -m venv .venv" in CI_RUN
            continue
        spec = words[words.index("-e") + 1]
        wanted = re.fullmatch(r"\.(?:\[(.*)\])?", spec)
        assert wanted, f"README line {step.line}: install spec {spec!r} is not this checkout"
        for extra in filter(None, (wanted[1] or "").split(",")):
            assert extra in extras, f"README line {step.line}: no extra {extra!r} in pyproject"


def test_readme_test_commands_are_what_ci_runs():
    markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "markers"
    ]
    registered = {m.split(":")[0] for m in markers}
    steps = of_kind("tests")
    assert steps
    main = steps[0].words[1:]  # the Quick start's test command
    assert re.search(rf"pytest {re.escape(' '.join(main))}\n", CI_RUN), (
        f".ci/run does not run the README's test command pytest {' '.join(main)}"
    )
    for step in steps:
        words = step.words
        for i, word in enumerate(words):
            if word == "-m":
                assert words[i + 1] in registered, f"README line {step.line}: marker {words[i + 1]}"
            elif word.startswith("tests/"):
                assert (REPO / word).exists(), f"README line {step.line}: no {word}"


@pytest.mark.parametrize("step", of_kind("ci_script"), ids=step_id)
def test_readme_ci_scripts_exist(step):
    words = step.words[1:] if step.words[0] == "sudo" else step.words
    script = REPO / words[0]
    assert script.is_file() and os.access(script, os.X_OK), f"README line {step.line}: {script}"


@pytest.mark.parametrize("step", of_kind("benchmark"), ids=step_id)
def test_readme_benchmark_flags_exist(step):
    words = step.words
    result = run([str(BIN / "python"), words[1], "--help"], REPO, timeout=120)
    assert result.returncode == 0, f"README line {step.line}: {result.stderr[-2000:]}"
    for flag in (w for w in words[2:] if w.startswith("--")):
        assert flag in result.stdout, f"README line {step.line}: {words[1]} has no {flag}"


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    """A fresh copy of the workflow (the demo config) and one with the paper's placeholder real
    tree: what a user has after cloning, and after placing the datasets and weights."""
    demo = copy_workflow(tmp_path_factory.mktemp("readme_demo"))
    paper = copy_workflow(tmp_path_factory.mktemp("readme_paper"))
    place_paper_inputs(paper)
    return {"demo": demo, "paper": paper}


def tree_for(step: Step, trees: dict[str, Path]) -> Path:
    return trees["paper"] if "config/paper.yaml" in step.words else trees["demo"]


@pytest.mark.parametrize("step", of_kind("snakemake"), ids=step_id)
def test_readme_snakemake_commands_dry_run_as_typed(step, trees):
    words = dry(local_program(step.words, BIN))
    result = run(words, tree_for(step, trees))
    assert result.returncode == 0, (
        f"README line {step.line}: {shlex.join(words)} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )


@pytest.mark.parametrize("step", of_kind("dermsynth"), ids=step_id)
def test_readme_dermsynth_commands_run_as_typed(step, trees):
    """`fetch` needs the internet: its dry run lists what it would download. `check` on the
    placeholder tree exits 1 (the placeholders are no weights) and must say what is wrong."""
    words = local_program(step.words, BIN)
    command = step.words[1]
    if command == "fetch":
        words = [*words, "--dry-run"]
    result = run(words, tree_for(step, trees))
    allowed = {0, 1} if command == "check" else {0}
    assert result.returncode in allowed, (
        f"README line {step.line}: {shlex.join(words)} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    if result.returncode:
        assert "Traceback" not in result.stderr, result.stderr[-3000:]

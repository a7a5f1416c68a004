"""Same inputs, same bytes: two runs of the workflow, each in a fresh copy (another folder,
minutes apart), write identical files under results/, logs, rule benchmarks and files named
`*timing*` (wall-clock time) aside.

The targets are small and reach the products most at risk: GLIDE's lesion_grouped base model
(demo data, ingestion, resizing, the split, the images it learns from, the fine-tune: its
weights, resume checkpoint, loss CSV and preview figure) and paper 1's CNN on that split's
original images (metrics.json, history, timing, figures, weights), on a smaller HAM10000 demo
with a few steps and epochs.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from workflow_helpers import SMALL_HAM10000_CONFIG, copy_workflow, snakemake

pytestmark = pytest.mark.workflow

TARGETS = [
    "results/models/glide/lesion_grouped/base.pt",
    "results/classify/paper_cnn/lesion_grouped/original/metrics.json",
]
TEST_CONFIG = (
    SMALL_HAM10000_CONFIG
    + """glide:
  finetune: {max_steps: 4, checkpoint_every: 2}
classify:
  paper_cnn:
    settings: {epochs: 2}
"""
)
# written by the runs but free to differ: Snakemake's logs and benchmarks, and the files that
# hold wall-clock time (named *timing*)
EXEMPT_FOLDERS = ("results/logs/", "results/benchmarks/")


def exempt(relative: str) -> bool:
    return relative.startswith(EXEMPT_FOLDERS) or "timing" in Path(relative).name


def results_files(workdir: Path) -> list[str]:
    """Every file under `workdir`/results, relative to `workdir`, sorted."""
    return sorted(
        str(path.relative_to(workdir))
        for path in (workdir / "results").rglob("*")
        if path.is_file()
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Path]:
    """The targets made twice, in two fresh copies of the workflow, one after the other."""
    runs = []
    start = time.perf_counter()
    for name in ("first", "second"):
        workdir = copy_workflow(tmp_path_factory.mktemp(name))
        (workdir / "test.yaml").write_text(TEST_CONFIG)
        snakemake(workdir, *TARGETS, "--cores", "2", "--configfile", "test.yaml")
        runs.append(workdir)
    print(f"two runs of the reduced targets: {time.perf_counter() - start:.1f} s")
    return runs


def test_the_comparison_covers_the_targets_and_leaves_out_only_logs_benchmarks_and_timing(
    two_runs,
):
    files = results_files(two_runs[0])
    compared = [f for f in files if not exempt(f)]
    assert set(TARGETS) <= set(compared)
    assert "results/models/glide/resume/lesion_grouped/base.pt" in compared
    assert "results/classify/paper_cnn/lesion_grouped/original/model.pt" in compared
    timing = "results/classify/paper_cnn/lesion_grouped/original/timing.json"
    assert timing in files and timing not in compared
    assert all(f.startswith(EXEMPT_FOLDERS) or f == timing for f in set(files) - set(compared))


def test_two_runs_write_the_same_files(two_runs):
    first, second = (results_files(workdir) for workdir in two_runs)
    assert first == second


def test_two_runs_write_the_same_bytes(two_runs):
    first, second = two_runs
    compared = [f for f in results_files(first) if not exempt(f)]
    differing = [f for f in compared if (first / f).read_bytes() != (second / f).read_bytes()]
    assert not differing, (
        f"first differing file: {differing[0]} ({len(differing)} of {len(compared)} differ: "
        f"{differing[:10]})"
    )

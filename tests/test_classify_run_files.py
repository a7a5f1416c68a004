"""dermsynth.classify.run_files: a run's files are read once from the rule's outputs, by name,
and a run that draws figures finds out before training when none are named."""

from __future__ import annotations

from pathlib import Path

import pytest
from snakemake.iocontainers import Namedlist  # what a script's snakemake.output is

from dermsynth.classify.run_files import RunFiles

GRID_OUTPUTS = {
    "metrics": "run/metrics.json",
    "history": "run/history.csv",
    "timing": "run/timing.json",
    "model": "run/model.pt",
}


def test_a_rules_outputs_name_the_files_and_the_params_the_checkpoint():
    files = RunFiles.from_outputs(Namedlist(fromdict=GRID_OUTPUTS), checkpoint="resume/run.pt")
    assert files == RunFiles(
        metrics=Path("run/metrics.json"),
        history=Path("run/history.csv"),
        timing=Path("run/timing.json"),
        model=Path("run/model.pt"),
        checkpoint=Path("resume/run.pt"),
    )
    assert files.confusion is None and files.curves is None


def test_a_run_without_figures_says_so_when_asked_for_them():
    files = RunFiles.from_outputs(GRID_OUTPUTS, checkpoint="c.pt")
    with pytest.raises(ValueError, match="no confusion or curves"):
        files.figures()
    drawn = RunFiles.from_outputs(
        {**GRID_OUTPUTS, "confusion": "run/confusion.png", "curves": "run/curves.png"},
        checkpoint="c.pt",
    )
    assert drawn.figures() == (Path("run/confusion.png"), Path("run/curves.png"))


def test_dropping_the_checkpoint_removes_it_and_forgives_its_absence(tmp_path):
    files = RunFiles.from_outputs(GRID_OUTPUTS, checkpoint=tmp_path / "c.pt")
    files.checkpoint.write_bytes(b"state")
    files.drop_checkpoint()
    assert not files.checkpoint.exists()
    files.drop_checkpoint()  # a run that finished before its first checkpoint

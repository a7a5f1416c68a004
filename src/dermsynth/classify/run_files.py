"""The files of one classifier run, in both papers: its products (metrics.json, the history CSV,
the weights; paper 1's confusion matrix and loss curves), its timing file and its resume
checkpoint. Built once from the rule's outputs and passed whole to the run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunFiles:
    """Where a run writes: `metrics`, `history`, `timing` (wall-clock seconds, kept out of the
    products so that they repeat byte for byte) and `model` always; `confusion` and `curves`
    (figures) where the run draws them; `checkpoint`, the resume state, removed once the run
    has written everything else."""

    metrics: Path
    history: Path
    timing: Path
    model: Path
    checkpoint: Path
    confusion: Path | None = None
    curves: Path | None = None

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], *, checkpoint: str | Path) -> RunFiles:
        """The files named in a rule's outputs (`snakemake.output`, or a dict of the same
        names), with the checkpoint that its params name."""

        def optional(name: str) -> Path | None:
            path = outputs.get(name)
            return None if path is None else Path(path)

        return cls(
            metrics=Path(outputs["metrics"]),
            history=Path(outputs["history"]),
            timing=Path(outputs["timing"]),
            model=Path(outputs["model"]),
            checkpoint=Path(checkpoint),
            confusion=optional("confusion"),
            curves=optional("curves"),
        )

    def figures(self) -> tuple[Path, Path]:
        """The confusion matrix and loss curves, for a run that draws them."""
        if self.confusion is None or self.curves is None:
            raise ValueError(f"{self.metrics}'s run names no confusion or curves file")
        return self.confusion, self.curves

    def drop_checkpoint(self) -> None:
        """Remove the resume state: the run is complete."""
        self.checkpoint.unlink(missing_ok=True)

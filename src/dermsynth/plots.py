"""Saving figures: matplotlib without a display, written atomically like every product."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dermsynth.io import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 110) -> None:
    """Write `fig` as PNG to `path` (temporary file, then rename) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)


def draw_confusion(ax: plt.Axes, counts: np.ndarray, labels: Sequence[str]):
    """A confusion matrix on `ax`: true class on y (rows), predicted on x, counts written in."""
    image = ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(int(counts.max()), 1))
    for (i, j), n in np.ndenumerate(counts):
        colour = "white" if n > counts.max() / 2 else "black"
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color=colour)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return image

"""dermsynth.metrics.figures: Table 1's figure draws a published value only beside a number
computed the same way."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from dermsynth.metrics import figures
from dermsynth.metrics.figures import PANELS, plot_quality


def quality_rows(same: dict[str, bool]) -> pd.DataFrame:
    """A two-class table with a published value beside each of the paper's five metrics."""
    table = pd.DataFrame({"group": ["nv", "mel", "overall", "class_mean"]})
    for metric in PANELS:
        table[metric] = [1.0, 2.0, 1.5, 1.5]
        table[f"{metric}_low"], table[f"{metric}_high"] = table[metric] - 0.1, table[metric] + 0.1
    for metric, value in same.items():
        table[f"paper_{metric}"] = [3.0, 4.0, np.nan, 3.5]
        table[f"paper_{metric}_same_definition"] = pd.array([value, value, pd.NA, value])
    settings = {"definitions": "paper", "pixel_scale": "unit", "pairing": "random_same_class"}
    return table.assign(**settings, inception_weights="random stand-in")


@pytest.fixture
def drawn(monkeypatch):
    """The figure plot_quality would save, kept open."""
    kept = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: kept.append(fig))
    yield kept
    for fig in kept:
        plt.close(fig)


def ticks_per_panel(fig) -> dict[str, int]:
    panels = dict(zip(PANELS, fig.axes, strict=False))
    return {
        metric: sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
        for metric, ax in panels.items()
    }


def test_a_published_value_is_drawn_only_where_ours_is_computed_the_same_way(drawn, tmp_path):
    same = {"ssim": True, "psnr": False, "mse": True, "fid": True, "is": False}
    plot_quality(quality_rows(same), tmp_path / "table1.png", run="t", method="glide")
    ticks = ticks_per_panel(drawn[0])
    assert {m: ticks[m] for m in same} == {"ssim": 2, "psnr": 0, "mse": 2, "fid": 2, "is": 0}
    assert "definitions paper" in drawn[0].texts[0].get_text()

"""Figures of the metrics: Table 1 as bars with confidence intervals, and the audit's closest
synthetic-training pairs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dermsynth.images import load_rgb  # noqa: E402
from dermsynth.metrics.inception import ImageFeatures  # noqa: E402
from dermsynth.plots import save_figure  # noqa: E402

PANELS = ("ssim", "psnr", "mse", "fid", "is", "kid", "precision", "coverage")


def plot_quality(table: pd.DataFrame, path: str | Path, *, run: str, method: str) -> None:
    """One panel per metric: a bar per class (and pooled), 95% bootstrap intervals, and the
    paper's published value as a black tick where ours is computed the same way
    (`paper_<metric>_same_definition`)."""
    rows = table[table["group"] != "class_mean"].reset_index(drop=True)
    x = np.arange(len(rows))
    fig, axes = plt.subplots(2, 4, figsize=(15, 6.5), squeeze=False)
    for ax, metric in zip(axes.flat, PANELS, strict=True):
        values = rows[metric].to_numpy(float)
        low = np.clip(values - rows[f"{metric}_low"].to_numpy(float), 0, None)
        high = np.clip(rows[f"{metric}_high"].to_numpy(float) - values, 0, None)
        finite = np.isfinite(values)
        ax.bar(x[finite], values[finite], color="tab:blue", alpha=0.7)
        ax.errorbar(
            x[finite],
            values[finite],
            yerr=np.nan_to_num([low[finite], high[finite]]),
            fmt="none",
            ecolor="black",
            capsize=2,
            lw=0.8,
        )
        paper = f"paper_{metric}"
        # a published value computed otherwise (the paper's PSNR beside a true PSNR) is no target
        same = np.zeros(len(rows), bool)
        if paper in rows:
            same = rows[f"{paper}_same_definition"].fillna(False).to_numpy(bool)
        if same.any():
            ax.scatter(x[same], rows[paper][same], marker="_", s=200, c="black", label="paper 1")
            ax.legend(fontsize=7)
        ax.set_xticks(x, rows["group"], rotation=60, fontsize=7)
        ax.set_title(metric.upper() if len(metric) <= 4 else metric, fontsize=9)
    fig.suptitle(
        f"Table 1, {method} ({run}): definitions {table['definitions'].iloc[0]}, pixel scale "
        f"{table['pixel_scale'].iloc[0]}, pairing {table['pairing'].iloc[0]}\n"
        f"Inception: {table['inception_weights'].iloc[0]}",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path)


def plot_closest_pairs(
    audit: pd.DataFrame,
    synthetic: ImageFeatures,
    train: ImageFeatures,
    path: str | Path,
    *,
    count: int,
    run: str,
    method: str,
) -> None:
    """The synthetic images closest to a training image (by SSIM), each beside that image."""
    closest = audit.sort_values("ssim", ascending=False).head(max(1, count))
    files = dict(zip(synthetic.ids, synthetic.files, strict=True))
    train_files = dict(zip(train.ids, train.files, strict=True))
    size = synthetic.image_size
    fig, axes = plt.subplots(2, len(closest), figsize=(1.9 * len(closest), 4.4), squeeze=False)
    for column, row in enumerate(closest.itertuples()):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(load_rgb(files[row.synthetic_id], size))
        bottom.imshow(load_rgb(train_files[row.ssim_nearest_id], size))
        top.set_title(f"{row.synthetic_id}\n{row._2}", fontsize=6)
        flag = " FLAG" if row.flagged else ""
        bottom.set_title(f"{row.ssim_nearest_id}\nSSIM {row.ssim:.2f}{flag}", fontsize=6)
        top.axis("off")
        bottom.axis("off")
    fig.suptitle(
        f"Memorization audit, {method} ({run}): synthetic (top) and nearest training image",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, path)

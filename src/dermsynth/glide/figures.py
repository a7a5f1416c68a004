"""Figures of the GLIDE track: samples per class, and the fine-tuning loss curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dermsynth.images import open_rgb  # noqa: E402
from dermsynth.plots import save_figure  # noqa: E402


def plot_samples_per_class(
    manifest: pd.DataFrame, path: str | Path, run: str, per_class: int = 6
) -> None:
    """A grid: one row per class, its first `per_class` synthetic images."""
    classes = list(dict.fromkeys(manifest["class"]))
    columns = max(1, min(per_class, manifest.groupby("class").size().max()))
    fig, axes = plt.subplots(
        len(classes), columns, figsize=(1.6 * columns, 1.7 * len(classes)), squeeze=False
    )
    for row, label in zip(axes, classes, strict=True):
        files = manifest.loc[manifest["class"] == label].sort_values("index")["file"]
        for ax, file in zip(row, list(files)[:columns] + [None] * columns, strict=False):
            ax.axis("off")
            if file is not None:
                ax.imshow(open_rgb(file))
        row[0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(f"GLIDE synthetic images per class ({run})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_finetune_loss(loss_csvs: Sequence[str | Path], path: str | Path, run: str) -> None:
    """Training loss per step of each fine-tuned model (one panel per model): its mse and vb
    terms, and the loss trained when it is not the mse alone."""
    fig, axes = plt.subplots(1, len(loss_csvs), figsize=(5 * len(loss_csvs), 3.5), squeeze=False)
    for ax, csv in zip(axes[0], loss_csvs, strict=True):
        history = pd.read_csv(csv)
        if not history["loss"].equals(history["mse"]):  # the hybrid loss was trained
            ax.plot(history["step"], history["loss"], lw=0.8, label="loss (mse + vb)")
        ax.plot(history["step"], history["mse"], lw=0.8, label="mse (noise)")
        ax.plot(history["step"], history["vb"], lw=0.8, label="vb (variational bound)")
        ax.set_title(Path(csv).stem.replace("_loss", ""), fontsize=9)
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.suptitle(f"GLIDE fine-tuning loss ({run})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def plot_preview(
    columns: Sequence[str], rows: dict[str, Sequence], path: str | Path, title: str
) -> None:
    """A grid of uint8 (H, W, 3) images: one column per caption, one row per named series."""
    fig, axes = plt.subplots(
        len(rows), len(columns), figsize=(1.7 * len(columns), 1.9 * len(rows)), squeeze=False
    )
    for ax_row, (name, images) in zip(axes, rows.items(), strict=True):
        for ax, image in zip(ax_row, images, strict=True):
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
        ax_row[0].set_ylabel(name, fontsize=8)
    for ax, column in zip(axes[0], columns, strict=True):
        ax.set_title(column, fontsize=6, wrap=True)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)

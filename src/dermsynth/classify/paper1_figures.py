"""Figures of the paper 1 CNN: the confusion matrix (x predicted, y true, as the paper plots it),
the training and validation loss curves, and Table 3's per-class F1 as bars."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from dermsynth.plots import draw_confusion, save_figure  # noqa: E402


def plot_confusion(
    true: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    path: str | Path,
    *,
    title: str,
) -> None:
    """Counts of test images by true class (rows, y) and predicted class (columns, x)."""
    counts = confusion_matrix(list(true), list(predicted), labels=list(labels))
    side = 2.2 + 0.55 * len(labels)
    fig, ax = plt.subplots(figsize=(side + 0.8, side), layout="constrained")
    image = draw_confusion(ax, counts, labels)
    fig.colorbar(image, ax=ax, shrink=0.8, label="test images")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=120)


def plot_loss_curves(
    history: pd.DataFrame, best_epoch: int, path: str | Path, *, title: str, augmented: bool
) -> None:
    """Training and validation loss per epoch; the restored (best) epoch marked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    train = "training (augmented, dropout on)" if augmented else "training (dropout on)"
    ax.plot(history["epoch"], history["train_loss"], marker=".", label=train)
    ax.plot(history["epoch"], history["val_loss"], marker=".", label="validation")
    if best_epoch:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=0.9)
        best = history.loc[history["epoch"] == best_epoch, "val_loss"].iloc[0]
        ax.plot(
            [best_epoch],
            [best],
            "o",
            mfc="none",
            color="black",
            ms=9,
            label=f"best epoch {best_epoch} (restored)",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.legend(frameon=False)
    ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=120)


def plot_table3_f1(table: pd.DataFrame, path: str | Path, *, run: str) -> None:
    """Per-class F1 (and accuracy) per variant, one panel per protocol, from Table 3's long form;
    the paper's values (`paper_value`, set only beside runs comparable to the paper) as black
    ticks on the bars."""
    protocols = list(dict.fromkeys(table["protocol"]))
    variants = list(dict.fromkeys(table["variant"]))
    rows = table[(table["metric"] == "f1") | (table["row"] == "accuracy")]
    rows = rows[~rows["row"].isin(["macro avg", "weighted avg"])]
    groups = list(dict.fromkeys(zip(rows["row"], rows["class"], strict=True)))
    names = [c or r for r, c in groups]
    fig, axes = plt.subplots(
        1,
        len(protocols),
        figsize=(1.0 + 0.9 * len(groups) * len(protocols), 4.4),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    width = 0.8 / max(len(variants), 1)
    x = np.arange(len(groups))
    for ax, protocol in zip(axes[0], protocols, strict=True):
        for k, variant in enumerate(variants):
            ours = rows[(rows["protocol"] == protocol) & (rows["variant"] == variant)]
            values = ours.set_index(["row", "class"])["value"].reindex(groups).to_numpy(float)
            offset = x - 0.4 + width * (k + 0.5)
            ax.bar(offset, values, width, label=variant, color=f"C{k}")
            theirs = ours.set_index(["row", "class"])["paper_value"].reindex(groups)
            ax.plot(
                offset,
                theirs.to_numpy(float),
                "_",
                color="black",
                ms=10,
                mew=2,
                label="paper" if theirs.notna().any() else None,
            )
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"split: {protocol}", fontsize=10)
    axes[0][0].set_ylabel("F1 (accuracy: last group)")
    unique = {}  # every panel's entries once: the paper's ticks may be in one panel only
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            unique.setdefault(label, handle)
    axes[0][-1].legend(unique.values(), unique.keys(), frameon=False, fontsize=8, loc="upper right")
    compositions = ", ".join(dict.fromkeys(table["test_set_composition"]))
    fig.suptitle(
        f"Paper 1 CNN ablation, Table 3 F1 by class ({run} run); test set composition: "
        f"{compositions}",
        fontsize=10,
    )
    save_figure(fig, path, dpi=120)

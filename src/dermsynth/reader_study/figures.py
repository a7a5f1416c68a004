"""The reader study's figures: Figure 2's ROC panels, and the confusion matrices (x predicted,
y true, as paper 1 plots them), drawn from `score`'s numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import confusion_matrix  # noqa: E402

from dermsynth.class_order import paper_order  # noqa: E402
from dermsynth.plots import draw_confusion, save_figure  # noqa: E402
from dermsynth.reader_study.score import RocCurve, roc_curves  # noqa: E402
from dermsynth.reader_study.sheet import SOURCES  # noqa: E402


def _who(reader: str) -> str:
    """A second title line naming the reader, where one is named."""
    return f"\n{reader}" if reader else ""


def _roc_panel(ax: plt.Axes, curves: Sequence[RocCurve], names: Sequence[str], title: str) -> None:
    ax.plot([0, 1], [0, 1], ls="--", lw=0.8, color="0.6")
    for curve, name in zip(curves, names, strict=True):
        if curve.fpr is None:
            ax.plot([], [], ls="none", label=f"{name}: no positive or no negative image")
            continue
        # marker on the reader's one operating point, between (0, 0) and (1, 1)
        ax.plot(
            curve.fpr,
            curve.tpr,
            marker="o",
            markevery=[1],
            ms=4,
            lw=1.3,
            label=f"{name} (AUC {curve.auc:.2f})",
        )
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal", title=title)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(loc="lower right", fontsize=7, frameon=False)


def plot_roc(
    curves: Sequence[RocCurve],
    classes: Mapping[str, str],
    path: str | Path,
    *,
    run: str,
    method: str,
    reader: str = "",
) -> None:
    """Figure 2: (A) each entity against the rest, (B) AI-generated against real."""
    entity = [c for c in curves if c.task == "entity"]
    source = [c for c in curves if c.task == "source"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 6), layout="constrained")
    names = [f"{k}. {classes[c.label]}" for k, c in enumerate(entity, start=1)]
    _roc_panel(axes[0], entity, names, "A: entity, one class against the rest")
    _roc_panel(axes[1], source, [f"{SOURCES[0]} vs {SOURCES[1]}"], "B: AI-generated vs real")
    fig.suptitle(
        f"Reader ROC, {method} ({run} run): one reader's hard labels give one operating "
        f"point per curve{_who(reader)}",
        fontsize=11,
    )
    save_figure(fig, path, dpi=120)


def _confusion_panel(
    ax: plt.Axes, true: pd.Series, predicted: pd.Series, labels: Sequence[str], title: str
) -> None:
    counts = confusion_matrix(true, predicted, labels=list(labels))
    draw_confusion(ax, counts, labels)
    accuracy = float((true.to_numpy() == predicted.to_numpy()).mean())
    ax.set_title(f"{title} (accuracy {accuracy:.2f})", fontsize=10)


def plot_confusion(
    answers: pd.DataFrame,
    order: Sequence[str],
    path: str | Path,
    *,
    run: str,
    method: str,
    reader: str = "",
) -> None:
    """Confusion matrices of the entity (classes in `order`, all images) and of the source."""
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(10, 5.4),
        layout="constrained",
        gridspec_kw={"width_ratios": [max(len(order), 2), 2]},
    )
    _confusion_panel(axes[0], answers["class"], answers["predicted_class"], order, "Entity")
    _confusion_panel(axes[1], answers["source"], answers["predicted_source"], SOURCES, "Source")
    fig.suptitle(f"Reader confusion matrices, {method} ({run} run){_who(reader)}", fontsize=11)
    save_figure(fig, path, dpi=120)


def plot_reader_figures(
    answers: pd.DataFrame,
    classes: Mapping[str, str],
    *,
    roc_path: str | Path,
    confusion_path: str | Path,
    run: str,
    method: str,
    reader: str = "",
) -> None:
    """A reader's answers (from `read_answers`) -> Figure 2's ROC panels at `roc_path` and the
    confusion matrices (classes in Table 2's order) at `confusion_path`.

    `reader` says who answered; it goes into every figure's title, as `score_reader` puts it
    into every table.
    """
    curves = roc_curves(answers, classes)
    plot_roc(curves, classes, roc_path, run=run, method=method, reader=reader)
    order = paper_order(classes)
    plot_confusion(answers, order, confusion_path, run=run, method=method, reader=reader)

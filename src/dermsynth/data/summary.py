"""What each split holds: images per class and split, and how many leak a group across sides."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from dermsynth.data.splits import SPLITS  # noqa: E402
from dermsynth.io import atomic_path  # noqa: E402


def split_summary(
    pairs: Mapping[str, pd.DataFrame], splits: Mapping[tuple[str, str], pd.DataFrame]
) -> pd.DataFrame:
    """One row per dataset, protocol, split and label: images, groups, and `leaked_images`,
    the images of a val/test row whose group (HAM10000: lesion) also has a training image.
    """
    rows = []
    for (dataset, protocol), split in splits.items():
        table = split.merge(pairs[dataset][["image_id", "group_id"]], on="image_id")
        train_groups = set(table.loc[table["split"] == "train", "group_id"])
        table["leaked"] = (table["split"] != "train") & table["group_id"].isin(train_groups)
        for (name, label), part in table.groupby(["split", "label"], sort=False):
            rows.append(
                {
                    "dataset": dataset,
                    "protocol": protocol,
                    "split": name,
                    "label": label,
                    "images": len(part),
                    "groups": part["group_id"].nunique(),
                    "leaked_images": int(part["leaked"].sum()),
                }
            )
    summary = pd.DataFrame(rows)
    order = {name: i for i, name in enumerate(SPLITS)}
    return summary.sort_values(
        ["dataset", "protocol", "split", "label"],
        key=lambda c: c.map(order) if c.name == "split" else c,
    ).reset_index(drop=True)


def plot_split_summary(summary: pd.DataFrame, path: str | Path, run: str) -> None:
    """Stacked bars of images per class and split, one panel per dataset and protocol."""
    panels = list(summary.groupby(["dataset", "protocol"], sort=False))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    colours = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
    for ax, ((dataset, protocol), part) in zip(axes[0], panels, strict=True):
        counts = part.pivot_table(index="label", columns="split", values="images", fill_value=0)
        bottom = pd.Series(0, index=counts.index)
        for name in SPLITS:
            if name in counts:
                ax.bar(counts.index, counts[name], bottom=bottom, label=name, color=colours[name])
                bottom = bottom + counts[name]
        leaked = int(part["leaked_images"].sum())
        ax.set_title(f"{dataset} / {protocol}\nleaked val+test images: {leaked}", fontsize=9)
        ax.tick_params(axis="x", rotation=70, labelsize=7)
        ax.set_ylabel("images")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[name]) for name in SPLITS]
    fig.legend(handles, SPLITS, loc="upper right", fontsize=8)
    fig.suptitle(f"Images per class and split ({run} data)", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)

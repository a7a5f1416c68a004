"""Paper 2's DDI malignancy experiment gathered from its runs' metrics.json (the authors'
`misc/ddi_validation.py`; runs: `dermsynth.classify.paper2_ddi_run`): accuracy for benign vs
malignant per source x synthetic per real x transforms, overall and per skin-tone group, mean and
95% CI over seeds, as a table and a bar figure. The F17k-9 models on DDI's shared classes are
Figure 3's (`paper2_figure3.external_table`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dermsynth.classify.paper2_ddi import EXPERIMENT as DDI_EXPERIMENT  # noqa: E402
from dermsynth.classify.paper2_figure3 import (  # noqa: E402
    DDI_KEYS,
    OVERALL,
    aggregate,
    measure_columns,
    read_records,
    seed_note,
    source_colours,
    source_order,
)
from dermsynth.design.runs import NO_SYNTHETIC  # noqa: E402
from dermsynth.io import write_csv  # noqa: E402
from dermsynth.plots import save_figure  # noqa: E402


def ddi_table(records: Sequence[Mapping[str, Any]], run: str = "") -> pd.DataFrame:
    """DDI malignancy accuracy per source x synthetic per real x transforms, overall (`all`)
    and per skin-tone group, mean and 95% CI over seeds."""
    rows = []
    for r in records:
        groups = {OVERALL: r["accuracy"], **r["per_skin_tone"]}
        for group, value in groups.items():
            rows.append(
                {
                    **{k: r[k] for k in DDI_KEYS},
                    "skin_tone": group,
                    "seed": r["seed"],
                    "n_images": value["n"],
                    **measure_columns("accuracy", value),
                }
            )
    return aggregate(pd.DataFrame(rows), [*DDI_KEYS, "skin_tone"], ["accuracy"], run)


def plot_ddi(table: pd.DataFrame, path: str | Path, *, run: str) -> None:
    """Accuracy bars per skin-tone group (and all), one bar per source, a panel each without
    and with image transforms; error bars: 95% CI."""
    panels = sorted(set(table["transforms"]))
    groups = list(dict.fromkeys([OVERALL, *sorted(set(table["skin_tone"]) - {OVERALL})]))
    arms = sorted(
        set(zip(table["source"], table["synthetic_per_real"], strict=True)),
        key=lambda a: (source_order(a[0]), a[1]),
    )
    colours = source_colours(s for s, _ in arms)
    width = 0.8 / max(len(arms), 1)
    x = np.arange(len(groups))
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(5.0 * len(panels), 4.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, transforms in zip(axes[0], panels, strict=True):
        for k, (source, per_real) in enumerate(arms):
            rows = table[
                (table["transforms"] == transforms)
                & (table["source"] == source)
                & (table["synthetic_per_real"] == per_real)
            ]
            rows = rows.set_index("skin_tone").reindex(groups)
            mean = rows["accuracy_mean"].to_numpy(float)
            err = [
                np.nan_to_num(mean - rows["accuracy_ci_low"].to_numpy(float)),
                np.nan_to_num(rows["accuracy_ci_high"].to_numpy(float) - mean),
            ]
            label = "real only" if source == NO_SYNTHETIC else f"{source} x{per_real}"
            ax.bar(
                x - 0.4 + width * (k + 0.5),
                mean,
                width,
                yerr=err,
                capsize=2,
                color=colours[source],
                label=label,
            )
        ax.set_xticks(x, ["all" if g == OVERALL else f"FST {g[0]}-{g[-1]}" for g in groups])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{'with' if transforms else 'without'} image transforms", fontsize=10)
    axes[0][0].set_ylabel("accuracy, benign vs malignant")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncol=len(arms), frameon=False, fontsize=8
    )
    fig.suptitle(
        f"DDI malignancy ({run} run): real test images only; mean and 95% CI over "
        f"{seed_note(table)}",
        fontsize=10,
    )
    save_figure(fig, path, dpi=120)


def gather_ddi(
    metrics: Sequence[str | Path], *, table: str | Path, figure: str | Path, run: str
) -> pd.DataFrame:
    """Write the DDI malignancy table and figure from the DDI runs' metrics.json."""
    ddi = ddi_table(read_records(metrics, DDI_EXPERIMENT), run)
    write_csv(ddi, table)
    plot_ddi(ddi, figure, run=run)
    return ddi

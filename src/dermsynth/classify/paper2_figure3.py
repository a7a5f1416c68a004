"""Paper 2's results gathered from many runs' metrics.json: Figure 3 (top-1 accuracy against
real images per class, one line per synthetic source, with and without image transforms, mean
and 95% CI over seeds), the dose-response runs, the per-skin-type table, the F17k-9 models on
DDI's shared diseases (the DDI malignancy experiment's tables are `paper2_ddi_results`'). Test
sets are real images only.

Over seeds the interval is Student-t's, clipped to [0, 1]; a cell with one seed shows that
run's Wilson interval over its test images instead, and `ci_method` says which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from dermsynth.classify.evaluate import TEST_SET, read_metrics  # noqa: E402
from dermsynth.classify.paper2_accuracy import (  # noqa: E402
    CI_METHOD,
    SEED_CI_METHOD,
    UNKNOWN_SKIN_TYPE,
    seed_interval,
)
from dermsynth.classify.paper2_grid import EXPERIMENT as GRID_EXPERIMENT  # noqa: E402
from dermsynth.design.runs import NO_SYNTHETIC, PROTOCOLS  # noqa: E402
from dermsynth.errors import DataError  # noqa: E402
from dermsynth.io import write_csv  # noqa: E402
from dermsynth.plots import save_figure  # noqa: E402

GRID_KEYS = [
    "protocol",
    "real_per_class",
    "source",
    "synthetic_per_real",
    "first_index",
    "transforms",
]
DDI_KEYS = ["source", "synthetic_per_real", "transforms"]
OVERALL = "all"


def read_records(paths: Sequence[str | Path], experiment: str) -> list[dict[str, Any]]:
    """The metrics.json records of one experiment; a second record of one run (protocol and run
    id) is an error."""
    records, seen = [], {}
    for path in paths:
        record = read_metrics(path)
        if record.get("experiment") != experiment:
            raise DataError(path, f"not a {experiment} run ({record.get('experiment')!r})")
        run_id = f"{record.get('protocol', '')}/{record['run_id']}"
        if run_id in seen:
            raise DataError(path, f"a second run {run_id} (the first: {seen[run_id]})")
        seen[run_id] = path
        records.append(record)
    if not records:
        raise ValueError(f"no {experiment} runs to gather")
    return records


def measure_columns(name: str, value: Mapping[str, Any]) -> dict[str, float]:
    return {
        name: value["accuracy"],
        f"{name}_wlow": value["ci_low"],
        f"{name}_whigh": value["ci_high"],
    }


def source_order(source: str) -> tuple[int, str]:
    return (0 if source == NO_SYNTHETIC else 1, source)


def _cell_order(value: Any) -> tuple:
    """Cells in reading order: numbers ascending; the baseline source and `all` first,
    `unknown` last, digit strings by value (skin types 1..6, 12/34/56), other names by name."""
    if not isinstance(value, str):
        return (1, value, "")
    if value in PROTOCOLS:
        return (0, PROTOCOLS.index(value), value)
    rank = {NO_SYNTHETIC: 0, OVERALL: 0, UNKNOWN_SKIN_TYPE: 2}.get(value, 1)
    return (rank, len(value) if value.isdigit() else 0, value)


def _in_reading_order(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The rows of a table of cells sorted by `_cell_order` over `keys`, index reset."""
    order = sorted(range(len(table)), key=lambda i: [_cell_order(table.loc[i, k]) for k in keys])
    return table.loc[order].reset_index(drop=True)


def aggregate(
    runs: pd.DataFrame, keys: Sequence[str], measures: Sequence[str], run: str
) -> pd.DataFrame:
    """One row per cell (`keys`): the seeds, test images, and per measure the mean over seeds
    with its 95% interval (`<measure>_mean`, `_ci_low`, `_ci_high`)."""
    keys = list(keys)
    duplicated = runs.duplicated([*keys, "seed"])
    if duplicated.any():
        raise DataError("metrics", f"two runs of one cell and seed: {runs[duplicated].iloc[0]}")
    rows = []
    for key, group in runs.groupby(keys, sort=False):
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(s) for s in sorted(group["seed"]))
        row["n_images"] = int(group["n_images"].iloc[0])
        for measure in measures:
            mean, low, high = seed_interval(group[measure])
            low, high = max(low, 0.0), min(high, 1.0)  # an accuracy's bounds (nan stays nan)
            if len(group) == 1:
                low, high = group[f"{measure}_wlow"].iloc[0], group[f"{measure}_whigh"].iloc[0]
            row |= {f"{measure}_mean": mean, f"{measure}_ci_low": low, f"{measure}_ci_high": high}
        row["ci_method"] = SEED_CI_METHOD if len(group) > 1 else CI_METHOD
        rows.append(row)
    return _in_reading_order(pd.DataFrame(rows), keys).assign(test_set=TEST_SET, run=run)


def _grid_runs(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                **{k: r[k] for k in GRID_KEYS},
                "seed": r["seed"],
                "n_images": r["n_test"],
                **measure_columns("top1", r["top1"]),
                **measure_columns("top3", r["top3"]),
            }
            for r in records
        ]
    )


def main_synthetic_per_real(records: Sequence[Mapping[str, Any]]) -> int:
    """The main grid's synthetic images per real image: the non-zero count run at the most
    real-image counts (the dose-response counts run at two only)."""
    reach: dict[int, set[int]] = {}
    for r in records:
        if r["synthetic_per_real"]:
            reach.setdefault(r["synthetic_per_real"], set()).add(r["real_per_class"])
    if not reach:
        return 0
    return min(reach, key=lambda x: (-len(reach[x]), x))


def fig3_table(
    records: Sequence[Mapping[str, Any]], synthetic_per_real: int | None = None, run: str = ""
) -> pd.DataFrame:
    """Figure 3's numbers: per real images per class x source x transforms, top-1 and top-3
    accuracy on the held-out test set, mean and 95% CI over seeds; runs with no synthetic
    images or the main grid's `synthetic_per_real` (inferred when None)."""
    return aggregate(main_grid(records, synthetic_per_real), GRID_KEYS, ["top1", "top3"], run)


def main_grid(
    records: Sequence[Mapping[str, Any]], synthetic_per_real: int | None = None
) -> pd.DataFrame:
    """The runs of the main grid (no synthetic images, or the main grid's count from index 0)."""
    main = main_synthetic_per_real(records) if synthetic_per_real is None else synthetic_per_real
    runs = _grid_runs(records)
    return runs[runs["synthetic_per_real"].isin([0, main]) & (runs["first_index"] == 0)]


def protocol_table(
    records: Sequence[Mapping[str, Any]], synthetic_per_real: int | None = None, run: str = ""
) -> pd.DataFrame:
    """How much synthetic images gain under each protocol: per protocol x real images per class
    x source x transforms, top-1 accuracy with the source minus without it, paired by seed (a
    seed draws the same real images and initialisation in both runs), mean and 95% Student-t
    interval over seeds (one seed: no interval)."""
    runs = main_grid(records, synthetic_per_real)
    pair = ["protocol", "real_per_class", "transforms", "seed"]
    base = runs[runs["source"] == NO_SYNTHETIC].set_index(pair)["top1"]
    added = runs[runs["source"] != NO_SYNTHETIC].copy()
    added["gain"] = (
        added["top1"].to_numpy() - base.reindex(pd.MultiIndex.from_frame(added[pair])).to_numpy()
    )
    added = added.dropna(subset=["gain"])
    keys = ["protocol", "real_per_class", "source", "synthetic_per_real", "transforms"]
    rows = []
    for key, group in added.groupby(keys, sort=False):
        mean, low, high = seed_interval(group["gain"])
        low, high = max(low, -1.0), min(high, 1.0)  # a difference of two accuracies
        rows.append(
            {
                **dict(zip(keys, key, strict=True)),
                "n_seeds": len(group),
                "seeds": " ".join(str(s) for s in sorted(group["seed"])),
                "top1_gain_mean": mean,
                "top1_gain_ci_low": low,
                "top1_gain_ci_high": high,
                "ci_method": SEED_CI_METHOD,
            }
        )
    if not rows:
        return pd.DataFrame(columns=[*keys, "n_seeds", "top1_gain_mean"])
    return _in_reading_order(pd.DataFrame(rows), keys).assign(test_set=TEST_SET, run=run)


def plot_protocols(table: pd.DataFrame, path: str | Path, *, run: str) -> None:
    """The gain of each synthetic source over real images alone against real images per class,
    a panel per transforms setting, solid under `authors`, dashed under `strict`."""
    panels = sorted(set(table["transforms"])) or [False]
    colours = source_colours(table["source"])
    fig, axes = plt.subplots(
        1,
        len(panels),
        figsize=(max(5.2 * len(panels), 7.5), 4.8),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, transforms in zip(axes[0], panels, strict=True):
        ax.axhline(0.0, color="grey", lw=0.8)
        for p, protocol in enumerate(PROTOCOLS):
            for k, (source, colour) in enumerate(colours.items()):
                rows = table[
                    (table["transforms"] == transforms)
                    & (table["source"] == source)
                    & (table["protocol"] == protocol)
                ]
                if rows.empty:
                    continue
                dodge = 1 + 0.03 * (2 * k + p - len(colours))
                _errorbar(
                    ax,
                    rows["real_per_class"] * dodge,
                    rows,
                    "top1_gain",
                    color=colour,
                    ls="-" if protocol == "authors" else "--",
                    label=f"{source}, {protocol}",
                )
        _real_count_axis(ax, table["real_per_class"])
        ax.set_title(f"{'with' if transforms else 'without'} image transforms", fontsize=10)
    axes[0][0].set_ylabel("top-1 gain over real images only")
    axes[0][-1].legend(frameon=False, fontsize=8)
    fig.suptitle(
        f"Synthetic-image gain by protocol ({run} run); mean and 95% CI over seeds, paired\n"
        "authors: generators saw every training image; strict: no more than the classifier",
        fontsize=10,
    )
    save_figure(fig, path, dpi=120)


def dose_table(
    records: Sequence[Mapping[str, Any]], synthetic_per_real: int | None = None, run: str = ""
) -> pd.DataFrame:
    """The dose-response numbers: every run at a real-image count that has a synthetic count
    besides 0 and the main grid's (so each curve starts at no synthetic images)."""
    main = main_synthetic_per_real(records) if synthetic_per_real is None else synthetic_per_real
    runs = _grid_runs(records)
    dose = ~runs["synthetic_per_real"].isin([0, main]) | (runs["first_index"] > 0)
    dosed = set(runs.loc[dose, "real_per_class"])
    runs = runs[runs["real_per_class"].isin(dosed)]
    if runs.empty:
        return pd.DataFrame(columns=[*GRID_KEYS, "n_seeds", "top1_mean"])
    return aggregate(runs, GRID_KEYS, ["top1", "top3"], run)


def skin_type_table(records: Sequence[Mapping[str, Any]], run: str = "") -> pd.DataFrame:
    """Top-1 and top-3 accuracy per Fitzpatrick skin type of the held-out test images, per
    grid cell, mean and 95% CI over seeds."""
    runs = pd.DataFrame(
        [
            {
                **{k: r[k] for k in GRID_KEYS},
                "skin_type": skin,
                "seed": r["seed"],
                "n_images": s["top1"]["n"],
                **measure_columns("top1", s["top1"]),
                **measure_columns("top3", s["top3"]),
            }
            for r in records
            for skin, s in r["per_skin_type"].items()
        ]
    )
    return aggregate(runs, [*GRID_KEYS, "skin_type"], ["top1", "top3"], run)


def external_table(records: Sequence[Mapping[str, Any]], run: str = "") -> pd.DataFrame:
    """The F17k-9 models on DDI's images of shared diseases, per grid cell: top-1 over all nine
    classes and among the shared classes only, mean and 95% CI over seeds."""
    rows = [
        {
            **{k: r[k] for k in GRID_KEYS},
            "seed": r["seed"],
            "n_images": e["top1_all_classes"]["n"],
            "shared_classes": "; ".join(e["shared_classes"]),
            **measure_columns("top1_all_classes", e["top1_all_classes"]),
            **measure_columns("top1_shared_classes", e["top1_shared_classes"]),
        }
        for r in records
        if (e := r.get("ddi_external"))
    ]
    if not rows:
        return pd.DataFrame(columns=[*GRID_KEYS, "n_seeds", "top1_all_classes_mean"])
    table = aggregate(
        pd.DataFrame(rows),
        [*GRID_KEYS, "shared_classes"],
        ["top1_all_classes", "top1_shared_classes"],
        run,
    )
    return table.assign(test_set="DDI images of the diseases shared with F17k-9 (real)")


def _errorbar(ax, x, table: pd.DataFrame, measure: str, **style) -> None:
    mean = table[f"{measure}_mean"].to_numpy(float)
    low = np.nan_to_num(mean - table[f"{measure}_ci_low"].to_numpy(float))
    high = np.nan_to_num(table[f"{measure}_ci_high"].to_numpy(float) - mean)
    ax.errorbar(x, mean, yerr=[low, high], capsize=3, marker="o", ms=4, **style)


def _real_count_axis(ax, counts: Iterable[int]) -> None:
    """A log x axis ticked at the real images per class that were run."""
    ticks = sorted(set(counts))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [str(c) for c in ticks])
    ax.minorticks_off()
    ax.set_xlabel("real images per class")


def source_colours(sources: Iterable[str]) -> dict[str, str]:
    ordered = sorted(set(sources), key=source_order)
    others = iter(f"C{k}" for k in range(10))
    return {s: "black" if s == NO_SYNTHETIC else next(others) for s in ordered}


def seed_note(table: pd.DataFrame) -> str:
    seeds = sorted(set(table["n_seeds"]))
    return f"{'/'.join(map(str, seeds))} seed(s)"


def _protocols(table: pd.DataFrame) -> list[str]:
    return [p for p in PROTOCOLS if p in set(table["protocol"])] if len(table) else []


def plot_fig3(table: pd.DataFrame, path: str | Path, *, run: str) -> None:
    """Top-1 accuracy against real images per class (log axis), one line per synthetic source,
    a row of panels per protocol, a panel each without and with image transforms; error bars:
    95% CI."""
    panels = sorted(set(table["transforms"]))
    protocols = _protocols(table)
    colours = source_colours(table["source"])
    fig, axes = plt.subplots(
        len(protocols),
        len(panels),
        figsize=(5.2 * len(panels), 4.4 * len(protocols)),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for row, protocol in zip(axes, protocols, strict=True):
        for ax, transforms in zip(row, panels, strict=True):
            cell = table[(table["transforms"] == transforms) & (table["protocol"] == protocol)]
            for k, (source, colour) in enumerate(colours.items()):
                rows = cell[cell["source"] == source]
                if rows.empty:
                    continue
                per_real = int(rows["synthetic_per_real"].iloc[0])
                label = (
                    "real only" if source == NO_SYNTHETIC else f"+ {source} ({per_real} per real)"
                )
                dodge = 1 + 0.03 * (k - (len(colours) - 1) / 2)  # side by side on the log axis
                _errorbar(
                    ax, rows["real_per_class"] * dodge, rows, "top1", color=colour, label=label
                )
            _real_count_axis(ax, table["real_per_class"])
            ax.set_title(
                f"{protocol}: {'with' if transforms else 'without'} image transforms", fontsize=10
            )
        row[0].set_ylabel("top-1 accuracy, held-out test set")
    axes[0][-1].legend(frameon=False, fontsize=8)
    fig.suptitle(
        f"Figure 3 ({run} run): {int(table['n_images'].iloc[0])} real test images; mean and "
        f"95% CI over {seed_note(table)}",
        fontsize=10,
    )
    save_figure(fig, path, dpi=120)


def plot_dose(table: pd.DataFrame, path: str | Path, *, run: str) -> None:
    """Top-1 accuracy against synthetic images per real image, a row per protocol, a panel per
    real-image count, a line per source and transforms (dashed: without), starting from the
    real-only runs."""
    counts = sorted(set(table["real_per_class"]))
    protocols = _protocols(table) or ["authors"]
    fig, axes = plt.subplots(
        len(protocols),
        max(len(counts), 1),
        figsize=(max(5.6 * len(counts), 7.0), 4.6 * len(protocols) + 0.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    colours = source_colours(table["source"])
    for row, protocol in zip(axes, protocols, strict=True):
        for ax, n in zip(row, counts, strict=True):
            at_n = table[(table["real_per_class"] == n) & (table["protocol"] == protocol)]
            for transforms in sorted(set(at_n["transforms"])):
                rows = at_n[at_n["transforms"] == transforms]
                baseline = rows[rows["source"] == NO_SYNTHETIC]
                for source in [s for s in colours if s != NO_SYNTHETIC]:
                    line = pd.concat([baseline, rows[rows["source"] == source]])
                    line = line.sort_values(["synthetic_per_real", "first_index"])
                    if (line["source"] == source).any():
                        _errorbar(
                            ax,
                            line["synthetic_per_real"],
                            line,
                            "top1",
                            color=colours[source],
                            ls="-" if transforms else "--",
                            label=f"{source}, transforms {'on' if transforms else 'off'}",
                        )
            ax.set_xlabel("synthetic images per real image")
            ax.set_title(f"{protocol}: {n} real images per class", fontsize=10)
        row[0].set_ylabel("top-1 accuracy, held-out test set")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False, fontsize=8)
    fig.suptitle(
        f"Dose response ({run} run), each line from the real-only runs (0)\nreal test "
        f"images only; mean and 95% CI over "
        f"{seed_note(table) if len(table) else 'no runs'}",
        fontsize=10,
    )
    save_figure(fig, path, dpi=120)


def gather_grid(
    metrics: Sequence[str | Path],
    *,
    accuracy: str | Path,
    accuracy_figure: str | Path,
    dose: str | Path,
    dose_figure: str | Path,
    skin_type: str | Path,
    external: str | Path,
    protocols: str | Path,
    protocols_figure: str | Path,
    run: str,
    synthetic_per_real: int | None = None,
) -> pd.DataFrame:
    """Write Figure 3 (CSV and PNG, every protocol), the dose response (CSV and PNG), the
    per-skin-type table, the DDI external table and the protocols' synthetic-image gains (CSV
    and PNG) from the grid runs' metrics.json; returns Figure 3's table."""
    records = read_records(metrics, GRID_EXPERIMENT)
    table = fig3_table(records, synthetic_per_real, run)
    write_csv(table, accuracy)
    plot_fig3(table, accuracy_figure, run=run)
    doses = dose_table(records, synthetic_per_real, run)
    write_csv(doses, dose)
    plot_dose(doses, dose_figure, run=run)
    write_csv(skin_type_table(records, run), skin_type)
    write_csv(external_table(records, run), external)
    gains = protocol_table(records, synthetic_per_real, run)
    write_csv(gains, protocols)
    plot_protocols(gains, protocols_figure, run=run)
    return table

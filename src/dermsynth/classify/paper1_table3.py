"""Table 3 of paper 1 (the ablation: original, synthetic, combined training data) from many
runs' `metrics.json`, both split protocols side by side; and Table 2's AI columns, which are the
combined model's (Table 2's AI = Table 3's combined).

The published values stand only beside an arm computed as the paper computed it
(`paper_comparability`): split by `paper_random` (our reading of section 2.4's 80–20% division
of the images, which says nothing of lesions), tested on the arm's own images as section 2.4
describes (test set composition `paper`; for the original arm that is the split's real test
images, so `real` gives the same). Every row names its test set
composition and says whether, and why, it is comparable to the paper, and, for the arms that
read a GLIDE set, how many of its real test images that protocol's GLIDE learned from
(`test_real_seen_by_generator`: all of them under `paper_random`, whose GLIDE trains on every
image as the paper's did; none under `lesion_grouped`).

Rows are the paper's: classes 1-7 in its legend's order (mel, nv, akiec, bkl, bcc, df, vasc),
then accuracy, macro avg and weighted avg. The paper prints accuracy in the F1 column; the long
table calls it metric `accuracy`, the wide one puts it in the F1 column as the paper does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dermsynth.classify.evaluate import METRICS, TEST_SET, read_metrics
from dermsynth.classify.paper1_figures import plot_table3_f1
from dermsynth.errors import DataError
from dermsynth.io import float_columns, read_table, write_csv

PAPER_VARIANTS = ("combined", "original", "synthetic")  # Table 3's column order
PROTOCOLS = ("paper_random", "lesion_grouped")
SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")
SUMMARY_KEYS = {"macro avg": "macro_avg", "weighted avg": "weighted_avg"}
LONG_COLUMNS = [
    "protocol",
    "variant",
    "row",
    "class",
    "metric",
    "value",
    "paper_value",
    "comparable_to_paper",
    "comparability",
    "run",
    "test_set_composition",
    "test_set",
    "test_real_seen_by_generator",
]
COMPARABLE_PROTOCOL = "paper_random"  # our reading of section 2.4's 80–20% division
# Table 2's AI model is the combined one trained on paper 1's random split
TABLE2_VARIANT, TABLE2_PROTOCOL = "combined", "paper_random"
AI_COLUMNS = [f"ai_{m}" for m in METRICS]


def read_paper_table3(path: str | Path) -> pd.DataFrame:
    """The published Table 3 (`variant, row, class, precision, recall, f1`) in long form:
    `variant, row, class, metric, paper_value`, without the values the paper does not print."""
    table = read_table(path, ["variant", "row", "class", *METRICS])
    values = float_columns(table, METRICS, path)
    long = pd.concat([table[["variant", "row", "class"]], values], axis=1).melt(
        id_vars=["variant", "row", "class"], var_name="metric", value_name="paper_value"
    )
    long.loc[long["row"] == "accuracy", "metric"] = long["metric"].where(
        long["metric"] != "f1", "accuracy"
    )
    return long.dropna(subset=["paper_value"]).reset_index(drop=True)


def composition_of(record: Mapping[str, Any]) -> str:
    """A run's test set composition (`real` for runs written before the option existed)."""
    return record.get("test_set_composition", "real")


def paper_comparability(record: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a run's arm was computed as the paper's Table 3 column was, and why (or why not)."""
    protocol, variant = record["protocol"], record["variant"]
    if protocol != COMPARABLE_PROTOCOL:
        return False, (
            f"no: split {protocol}; the paper divided its images 80–20% with no word of "
            f"lesions, as {COMPARABLE_PROTOCOL} does"
        )
    if composition_of(record) == "real" and variant != "original":
        return False, (
            "no: tested on real images only; the paper's test set was 20% of the images it "
            "loaded, synthetic ones included (test_set: paper)"
        )
    if variant == "original":
        return True, (
            f"yes: split {COMPARABLE_PROTOCOL}, tested on 20% of the real images, as the paper's "
            "original arm was (under either composition)"
        )
    return True, f"yes: split {COMPARABLE_PROTOCOL}, tested on 20% of the arm's own images"


def test_images_seen(record: Mapping[str, Any]) -> int | None:
    """How many of a run's real test images its generator learned from (None: no generator)."""
    seen = record.get("n_test_real_seen_by_generator")
    return None if seen is None else int(seen)


def run_rows(record: Mapping[str, Any]) -> pd.DataFrame:
    """One run's report as rows `row, class, metric, value`: the classes (numbered in the
    paper's order, as `metrics.json` lists them), then accuracy and the averages."""
    rows = []
    for k, (code, scores) in enumerate(record["per_class"].items(), start=1):
        for metric in (*METRICS, "support"):
            rows.append((str(k), code, metric, float(scores[metric])))
    rows.append(("accuracy", "", "accuracy", float(record["accuracy"])))
    for row, key in SUMMARY_KEYS.items():
        for metric in (*METRICS, "support"):
            rows.append((row, "", metric, float(record[key][metric])))
    return pd.DataFrame(rows, columns=["row", "class", "metric", "value"])


def _row_key(row: str) -> int:
    return int(row) if row.isdigit() else 1000 + SUMMARY_ROWS.index(row)


def number_as_the_paper(
    rows: pd.DataFrame, paper: pd.DataFrame, paper_path: str | Path
) -> pd.DataFrame:
    """Class rows take the paper's number of their class (its legend's k, by class code), so
    that each class, even in a run of some of them, stands beside its own published row."""
    numbers = {c: r for c, r in zip(paper["class"], paper["row"], strict=True) if c}
    is_class = rows["class"] != ""
    unknown = sorted(set(rows.loc[is_class, "class"]) - set(numbers))
    if unknown:
        raise DataError(paper_path, f"class(es) {unknown} are none of the paper's {numbers}")
    rows = rows.copy()
    rows.loc[is_class, "row"] = rows.loc[is_class, "class"].map(numbers)
    order = sorted(range(len(rows)), key=lambda i: _row_key(rows["row"].iloc[i]))
    return rows.iloc[order].reset_index(drop=True)


def table3_long(
    records: Sequence[Mapping[str, Any]],
    paper: pd.DataFrame | None,
    *,
    paper_path: str | Path = "paper Table 3",
    sources: Sequence[str | Path] | None = None,
) -> pd.DataFrame:
    """Every run's rows (LONG_COLUMNS), runs in Table 3's order (protocol, then the paper's
    variant order), with the paper's value for the same variant, row and metric where the run
    is comparable to the paper (NaN where it is not, or the paper prints none)."""
    sources = list(sources) if sources is not None else [f"run {i}" for i in range(len(records))]
    seen: dict[tuple[str, str], str] = {}
    parts = []
    for record, source in zip(records, sources, strict=True):
        key = (record["protocol"], record["variant"])
        if key in seen:
            raise DataError(source, f"a second run of {key} (the first: {seen[key]})")
        seen[key] = str(source)
        rows = run_rows(record)
        comparable, comparability = paper_comparability(record)
        if paper is not None:
            variant_paper = paper[paper["variant"] == record["variant"]]
            rows = number_as_the_paper(rows, variant_paper, paper_path)
            rows = rows.merge(
                variant_paper[["row", "metric", "paper_value"]], on=["row", "metric"], how="left"
            )
            if not comparable:
                rows["paper_value"] = float("nan")
        else:
            rows["paper_value"] = float("nan")
        parts.append(
            rows.assign(
                protocol=record["protocol"],
                variant=record["variant"],
                comparable_to_paper=comparable,
                comparability=comparability,
                run=record["run"],
                test_set_composition=composition_of(record),
                test_set=record.get("test_set", TEST_SET),
                test_real_seen_by_generator=test_images_seen(record),
            )
        )
    if not parts:
        raise DataError(paper_path, "no runs to gather into Table 3")
    table = pd.concat(parts, ignore_index=True)[LONG_COLUMNS]
    table["test_real_seen_by_generator"] = table["test_real_seen_by_generator"].astype("Int64")
    order = {
        "protocol": _rank([*PROTOCOLS, *table["protocol"]]),
        "variant": _rank([*PAPER_VARIANTS, *table["variant"]]),
    }
    return table.sort_values(
        ["protocol", "variant"], key=lambda column: column.map(order[column.name]), kind="stable"
    ).reset_index(drop=True)


def _rank(values: Iterable[str]) -> dict[str, int]:
    return {value: i for i, value in enumerate(dict.fromkeys(values))}


def table3_wide(long: pd.DataFrame) -> pd.DataFrame:
    """Table 3 to read: one row per Table 3 row; its test set composition and the runs
    comparable to the paper (`comparable_to_paper`: their column stems, or `none`); per variant
    (the paper's order) and metric, one column per protocol run (`combined_f1_paper_random`),
    the paper's (`combined_f1_paper`) right after the run comparable to it, if any. The test
    images per class: one column per protocol (`support_<protocol>`) where its runs share the
    split's real test images, else one per run (`combined_support_<protocol>`). Accuracy stands
    in the F1 columns, as in the paper."""
    frame = long.copy()
    frame.loc[frame["metric"] == "accuracy", "metric"] = "f1"
    rows = frame.drop_duplicates("row")[["row", "class"]].reset_index(drop=True)
    protocols = list(dict.fromkeys(frame["protocol"]))
    variants = list(dict.fromkeys(frame["variant"]))
    runs = set(zip(frame["variant"], frame["protocol"], strict=True))
    comparable = frame[frame["comparable_to_paper"].astype(bool)]
    beside = list(dict.fromkeys(zip(comparable["variant"], comparable["protocol"], strict=True)))
    wide = rows.copy()
    wide["test_set_composition"] = ", ".join(dict.fromkeys(frame["test_set_composition"]))
    wide["comparable_to_paper"] = ", ".join(f"{v}_{p}" for v, p in beside) or "none"
    seen = frame.drop_duplicates(["variant", "protocol"])
    seen = seen[seen["test_real_seen_by_generator"].fillna(0).astype(int) > 0]
    wide["generator_saw_test_images"] = (
        ", ".join(
            f"{v}_{p} ({int(n)} real test images)"
            for v, p, n in zip(
                seen["variant"], seen["protocol"], seen["test_real_seen_by_generator"], strict=True
            )
        )
        or "none"
    )

    def column(variant: str, protocol: str, metric: str, value: str = "value") -> pd.Series:
        chosen = frame[
            (frame["protocol"] == protocol)
            & (frame["variant"] == variant)
            & (frame["metric"] == metric)
        ].set_index("row")[value]
        return wide["row"].map(chosen)

    shared = {
        p: set(frame.loc[frame["protocol"] == p, "test_set_composition"]) == {"real"}
        for p in protocols
    }
    for protocol in (p for p in protocols if shared[p]):
        first = next(v for v in variants if (v, protocol) in runs)
        wide[f"support_{protocol}"] = column(first, protocol, "support").astype("Int64")
    for variant in variants:
        for protocol in (p for p in protocols if not shared[p] and (variant, p) in runs):
            wide[f"{variant}_support_{protocol}"] = column(variant, protocol, "support").astype(
                "Int64"
            )
        for metric in METRICS:
            for protocol in (p for p in protocols if (variant, p) in runs):
                wide[f"{variant}_{metric}_{protocol}"] = column(variant, protocol, metric)
                published = column(variant, protocol, metric, "paper_value")
                if (variant, protocol) in beside and published.notna().any():
                    wide[f"{variant}_{metric}_paper"] = published
    return wide


def read_paper_table2_ai(path: str | Path) -> pd.DataFrame:
    """The published Table 2's AI columns (`row, class, ai_precision, ai_recall, ai_f1`)."""
    table = read_table(path, ["row", "class", *AI_COLUMNS])
    return pd.concat([table[["row", "class"]], float_columns(table, AI_COLUMNS, path)], axis=1)


def table2_ai(
    record: Mapping[str, Any], paper: pd.DataFrame | None, *, paper_path: str | Path = "Table 2"
) -> pd.DataFrame:
    """Table 2's AI columns from one run (the paper's: combined, paper_random): row, class,
    name, ai_precision, ai_recall, ai_f1 (accuracy in ai_f1, as printed), support; with `paper`
    (from `read_paper_table2_ai`), the published values as paper_ai_*, filled only where the
    run is comparable to the paper (`paper_comparability`: its test set composition `paper`)."""
    rows = run_rows(record)
    rows.loc[rows["metric"] == "accuracy", "metric"] = "f1"
    wide = rows.pivot(index="row", columns="metric", values="value")
    order = list(dict.fromkeys(rows["row"]))
    classes = dict(zip(rows["row"], rows["class"], strict=False))
    names = {code: s["name"] for code, s in record["per_class"].items()}
    table = pd.DataFrame(
        {
            "row": order,
            "class": [classes[r] for r in order],
            "name": [names.get(classes[r], "") for r in order],
        }
    )
    for metric in METRICS:
        table[f"ai_{metric}"] = wide.loc[order, metric].to_numpy()
    # the accuracy row's support: every test image, as in sklearn's printed report
    support = wide.loc[order, "support"].fillna(record["n_test"])
    table["support"] = support.astype(int).to_numpy()
    if paper is not None:
        table = number_as_the_paper(table, paper, paper_path)
        published = paper.drop(columns="class").rename(
            columns={c: f"paper_{c}" for c in AI_COLUMNS}
        )
        table = table.merge(published, on="row", how="left")
    comparable, comparability = paper_comparability(record)
    if not comparable:
        for name in (c for c in table.columns if c.startswith("paper_")):
            table[name] = float("nan")
    return table.assign(
        comparable_to_paper=comparable,
        comparability=comparability,
        run=record["run"],
        variant=record["variant"],
        protocol=record["protocol"],
        test_set_composition=composition_of(record),
        test_set=record.get("test_set", TEST_SET),
        test_real_seen_by_generator=test_images_seen(record),
    )


def gather_table3(
    metrics: Sequence[str | Path],
    *,
    paper_table3: str | Path | None,
    table: str | Path,
    wide: str | Path,
    figure: str | Path,
    run: str,
    paper_table2: str | Path | None = None,
    table2: str | Path | None = None,
) -> pd.DataFrame:
    """Write Table 3 (long and wide CSV, the F1 bar chart) from runs' metrics.json files and,
    when `table2` is given, Table 2's AI columns from the combined / paper_random run."""
    records = [read_metrics(path) for path in metrics]
    paper = read_paper_table3(paper_table3) if paper_table3 is not None else None
    long = table3_long(records, paper, paper_path=paper_table3 or "", sources=metrics)
    write_csv(long, table)
    write_csv(table3_wide(long), wide)
    plot_table3_f1(long, figure, run=run)
    if table2 is not None:
        chosen = [
            r for r in records if (r["variant"], r["protocol"]) == (TABLE2_VARIANT, TABLE2_PROTOCOL)
        ]
        if not chosen:
            raise DataError(
                ", ".join(map(str, metrics)),
                f"Table 2's AI columns need the {TABLE2_VARIANT}/{TABLE2_PROTOCOL} run",
            )
        published = read_paper_table2_ai(paper_table2) if paper_table2 is not None else None
        write_csv(table2_ai(chosen[0], published, paper_path=paper_table2 or ""), table2)
    return long

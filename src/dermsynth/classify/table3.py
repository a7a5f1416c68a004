"""Table 3 of paper 1 (the ablation: original, synthetic, combined training data) from many
runs' `metrics.json`, both split protocols side by side and the published values beside ours;
and Table 2's AI columns, which are the combined model's (Table 2's AI = Table 3's combined).

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
from dermsynth.classify.figures import plot_table3_f1
from dermsynth.errors import DataError
from dermsynth.io import float_columns, read_table, write_csv

PAPER_VARIANTS = ("combined", "original", "synthetic")  # Table 3's column order
PROTOCOLS = ("paper_random", "lesion_grouped")
SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")
SUMMARY_KEYS = {"macro avg": "macro_avg", "weighted avg": "weighted_avg"}
LONG_COLUMNS = [
    "protocol", "variant", "row", "class", "metric", "value", "paper_value", "run", "test_set",
]  # fmt: skip
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
    variant order), with the paper's value for the same variant, row and metric (NaN where it
    prints none)."""
    sources = list(sources) if sources is not None else [f"run {i}" for i in range(len(records))]
    seen: dict[tuple[str, str], str] = {}
    parts = []
    for record, source in zip(records, sources, strict=True):
        key = (record["protocol"], record["variant"])
        if key in seen:
            raise DataError(source, f"a second run of {key} (the first: {seen[key]})")
        seen[key] = str(source)
        rows = run_rows(record)
        if paper is not None:
            variant_paper = paper[paper["variant"] == record["variant"]]
            rows = number_as_the_paper(rows, variant_paper, paper_path)
            rows = rows.merge(
                variant_paper[["row", "metric", "paper_value"]], on=["row", "metric"], how="left"
            )
        else:
            rows["paper_value"] = float("nan")
        parts.append(
            rows.assign(
                protocol=record["protocol"], variant=record["variant"], run=record["run"],
                test_set=record.get("test_set", TEST_SET),
            )
        )  # fmt: skip
    if not parts:
        raise DataError(paper_path, "no runs to gather into Table 3")
    table = pd.concat(parts, ignore_index=True)[LONG_COLUMNS]
    order = {
        "protocol": _rank([*PROTOCOLS, *table["protocol"]]),
        "variant": _rank([*PAPER_VARIANTS, *table["variant"]]),
    }
    return table.sort_values(
        ["protocol", "variant"], key=lambda column: column.map(order[column.name]), kind="stable"
    ).reset_index(drop=True)


def _rank(values: Iterable[str]) -> dict[str, int]:
    return {value: i for i, value in enumerate(dict.fromkeys(values))}


def table3_wide(long: pd.DataFrame, paper: pd.DataFrame | None) -> pd.DataFrame:
    """Table 3 to read: one row per Table 3 row; per variant (the paper's order) and metric,
    one column per protocol run (`combined_f1_paper_random`) and the paper's
    (`combined_f1_paper`, for every variant it prints); the test images per class and protocol
    (`support_<protocol>`). Accuracy stands in the F1 columns, as in the paper."""
    frame = long.copy()
    frame.loc[frame["metric"] == "accuracy", "metric"] = "f1"
    rows = frame.drop_duplicates("row")[["row", "class"]].reset_index(drop=True)
    protocols = list(dict.fromkeys(frame["protocol"]))
    variants = list(dict.fromkeys(frame["variant"]))
    if paper is not None:
        variants = [v for v in PAPER_VARIANTS if v in {*variants, *paper["variant"]}] + [
            v for v in variants if v not in PAPER_VARIANTS
        ]
        theirs = paper.copy()
        theirs.loc[theirs["metric"] == "accuracy", "metric"] = "f1"
    wide = rows.copy()
    for protocol in protocols:
        support = frame[(frame["protocol"] == protocol) & (frame["metric"] == "support")]
        support = support.drop_duplicates("row").set_index("row")["value"]
        wide[f"support_{protocol}"] = wide["row"].map(support).astype("Int64")
    runs = set(zip(frame["variant"], frame["protocol"], strict=True))
    for variant in variants:
        for metric in METRICS:
            for protocol in (p for p in protocols if (variant, p) in runs):
                ours = frame[
                    (frame["protocol"] == protocol)
                    & (frame["variant"] == variant)
                    & (frame["metric"] == metric)
                ].set_index("row")["value"]
                wide[f"{variant}_{metric}_{protocol}"] = wide["row"].map(ours)
            if paper is not None:
                published = theirs[
                    (theirs["variant"] == variant) & (theirs["metric"] == metric)
                ].set_index("row")["paper_value"]
                wide[f"{variant}_{metric}_paper"] = wide["row"].map(published)
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
    (from `read_paper_table2_ai`), the published values beside ours as paper_ai_*."""
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
    return table.assign(
        run=record["run"], variant=record["variant"], protocol=record["protocol"],
        test_set=record.get("test_set", TEST_SET),
    )  # fmt: skip


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
    write_csv(table3_wide(long, paper), wide)
    plot_table3_f1(long, figure, run=run)
    if table2 is not None:
        chosen = [
            r for r in records
            if (r["variant"], r["protocol"]) == (TABLE2_VARIANT, TABLE2_PROTOCOL)
        ]  # fmt: skip
        if not chosen:
            raise DataError(
                ", ".join(map(str, metrics)),
                f"Table 2's AI columns need the {TABLE2_VARIANT}/{TABLE2_PROTOCOL} run",
            )
        published = read_paper_table2_ai(paper_table2) if paper_table2 is not None else None
        write_csv(table2_ai(chosen[0], published, paper_path=paper_table2 or ""), table2)
    return long

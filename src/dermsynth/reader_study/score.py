"""The reader's scores (paper 1, 2.3 and 3.2): classification reports for the entity (all images,
the AI-generated and the real subset) and for AI-generated vs real, one-vs-rest ROC points and
their AUCs (Figure 2), and the dermatologist's columns of Table 2; `figures` draws Figure 2 and
the confusion matrices from them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import auc, classification_report, roc_curve

from dermsynth.class_order import paper_class_number, paper_order
from dermsynth.errors import DataError
from dermsynth.io import float_columns, read_table, write_csv
from dermsynth.reader_study.sheet import SOURCES

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["subset", "task", "label", "precision", "recall", "f1", "support"]
SUMMARY_ROWS = ("accuracy", "macro avg", "weighted avg")
ALL = "all"
PAPER_DERM_COLUMNS = ["derm_precision", "derm_recall", "derm_f1"]


def _report(
    true: pd.Series, predicted: pd.Series, labels: list[str], subset: str, task: str
) -> pd.DataFrame:
    """sklearn's classification report as rows; every label listed, absent ones with support 0."""
    report = classification_report(
        true, predicted, labels=labels, output_dict=True, zero_division=0
    )
    rows = []
    for label, values in report.items():
        if label == "accuracy":
            # as in sklearn's printed report (and Table 2): the accuracy stands in the f1 column
            rows.append([subset, task, label, np.nan, np.nan, values, len(true)])
        else:
            rows.append(
                [
                    subset,
                    task,
                    label,
                    values["precision"],
                    values["recall"],
                    values["f1-score"],
                    int(values["support"]),
                ]
            )
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def classification_reports(answers: pd.DataFrame, classes: Mapping[str, str]) -> pd.DataFrame:
    """Reports for the entity on all images and on each source's subset, and for the source.

    Columns subset ("all", "AI-generated", "real"), task ("entity", "source"), label (a class
    code, a source, or accuracy / macro avg / weighted avg), precision, recall, f1, support.
    """
    parts = []
    for subset in (ALL, *SOURCES):
        rows = answers if subset == ALL else answers[answers["source"] == subset]
        if len(rows):  # a packet may hold one source only
            parts.append(
                _report(rows["class"], rows["predicted_class"], list(classes), subset, "entity")
            )
    parts.append(
        _report(answers["source"], answers["predicted_source"], list(SOURCES), ALL, "source")
    )
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class RocCurve:
    """One-vs-rest ROC of hard labels: (0, 0), the reader's operating point, (1, 1).

    `fpr`, `tpr` and `auc` are None / NaN where the truth has no positive or no negative."""

    task: str
    label: str
    fpr: np.ndarray | None
    tpr: np.ndarray | None
    auc: float
    n_positive: int
    n_negative: int


def roc_of_hard_labels(task: str, label: str, true: pd.Series, predicted: pd.Series) -> RocCurve:
    """The ROC of `label` against the rest, from binarised true and predicted labels."""
    positive = (true == label).to_numpy()
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    if n_positive == 0 or n_negative == 0:
        return RocCurve(task, label, None, None, float("nan"), n_positive, n_negative)
    fpr, tpr, _ = roc_curve(positive, (predicted == label).to_numpy().astype(int))
    return RocCurve(task, label, fpr, tpr, float(auc(fpr, tpr)), n_positive, n_negative)


def roc_curves(answers: pd.DataFrame, classes: Mapping[str, str]) -> list[RocCurve]:
    """Each class against the rest (all images), then AI-generated (positive) against real."""
    curves = [
        roc_of_hard_labels("entity", code, answers["class"], answers["predicted_class"])
        for code in paper_order(classes)
    ]
    curves.append(
        roc_of_hard_labels("source", SOURCES[0], answers["source"], answers["predicted_source"])
    )
    return curves


def roc_table(curves: list[RocCurve]) -> pd.DataFrame:
    return pd.DataFrame(
        [(c.task, c.label, c.auc, c.n_positive, c.n_negative) for c in curves],
        columns=["task", "label", "auc", "n_positive", "n_negative"],
    )


def read_paper_table2(path: str | Path) -> pd.DataFrame:
    """The published Table 2 (columns row, ai_*, derm_*), its derm columns as floats by row."""
    table = read_table(path, ["row", *PAPER_DERM_COLUMNS])
    values = float_columns(table, PAPER_DERM_COLUMNS, path)
    return values.set_axis(table["row"].str.strip().str.casefold()).rename(
        columns=lambda c: f"paper_{c}"
    )


def table2(
    reports: pd.DataFrame,
    classes: Mapping[str, str],
    *,
    paper: pd.DataFrame | None,
    paper_path: str | Path | None = None,
    run: str,
    method: str,
) -> pd.DataFrame:
    """The dermatologist's columns of Table 2 from the entity report on all images: one row
    per class in the paper's order (row 1-7), then accuracy, macro avg and weighted avg;
    with `paper` (from `read_paper_table2`), the published values beside ours."""
    entity = reports[(reports["subset"] == ALL) & (reports["task"] == "entity")]
    entity = entity.set_index("label")
    codes = paper_order(classes)
    rows = [str(k) for k in range(1, len(codes) + 1)] + list(SUMMARY_ROWS)
    table = pd.DataFrame(
        {
            "row": rows,
            "class": codes + [""] * len(SUMMARY_ROWS),
            "name": [classes[c] for c in codes] + [""] * len(SUMMARY_ROWS),
        }
    )
    labels = codes + list(SUMMARY_ROWS)
    for ours, theirs in zip(PAPER_DERM_COLUMNS, ["precision", "recall", "f1"], strict=True):
        table[ours] = entity.loc[labels, theirs].to_numpy()
    table["support"] = entity.loc[labels, "support"].astype(int).to_numpy()
    if paper is not None:
        unmatched = [classes[c] for c in codes if paper_class_number(classes[c]) is None]
        missing = [r for r in rows if r not in paper.index]
        if unmatched or missing:
            raise DataError(
                paper_path or "paper Table 2",
                f"cannot set our classes beside the paper's: classes not in Table 2 "
                f"{unmatched}, rows missing from the reference {missing}",
            )
        table = table.join(paper, on="row")
    table["run"] = run
    table["method"] = method
    return table


def score_reader(
    answers: pd.DataFrame,
    classes: dict[str, str],
    out_dir: str | Path,
    *,
    paper_table2: str | Path | None,
    table2_path: str | Path,
    run: str,
    method: str,
    reader: str = "",
) -> None:
    """Score a reader's answers (from `read_answers`): `out_dir`/classification_reports.csv and
    `out_dir`/roc_auc.csv, and Table 2's dermatologist columns (`figures.plot_reader_figures`
    draws the ROC and confusion figures).

    `reader` says who answered (e.g. that the reader was simulated); it goes into every table
    (column `reader`), so a simulated reader's numbers are never taken for a real one's.
    """
    out_dir = Path(out_dir)
    reports = classification_reports(answers, classes)
    accuracy = reports[(reports["subset"] == ALL) & (reports["label"] == "accuracy")]
    for task, value in zip(accuracy["task"], accuracy["f1"], strict=True):
        log.info(
            "%s (%s, %s run): %s accuracy %.3f on %d images",
            reader or "reader",
            method,
            run,
            task,
            value,
            len(answers),
        )
    curves = roc_curves(answers, classes)
    paper = read_paper_table2(paper_table2) if paper_table2 is not None else None
    table = table2(reports, classes, paper=paper, paper_path=paper_table2, run=run, method=method)
    labels = {"reader": reader}
    write_csv(
        reports.assign(run=run, method=method, **labels), out_dir / "classification_reports.csv"
    )
    write_csv(roc_table(curves).assign(run=run, method=method, **labels), out_dir / "roc_auc.csv")
    write_csv(table.assign(**labels), table2_path)

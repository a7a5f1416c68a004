"""dermsynth.reader_study.score: Table 2's reports, Figure 2's ROC points, on hand-checkable
answers."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dermsynth.errors import DataError
from dermsynth.reader_study.score import (
    classification_reports,
    read_paper_table2,
    roc_curves,
    roc_table,
    score_reader,
    table2,
)

TWO = {"mel": "melanoma", "nv": "melanocytic nevi"}


def answers(truth, predicted, sources, predicted_sources) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_id": [f"img-{i:06d}" for i in range(len(truth))],
            "class": truth,
            "predicted_class": predicted,
            "source": sources,
            "predicted_source": predicted_sources,
        }
    )


AI, REAL = "AI-generated", "real"
# true mel, mel, nv, nv; the reader calls the second melanoma a nevus
HAND = answers(
    ["mel", "mel", "nv", "nv"],
    ["mel", "nv", "nv", "nv"],
    [AI, REAL, AI, REAL],
    [AI, REAL, AI, REAL],
)


def row(reports: pd.DataFrame, subset: str, task: str, label: str) -> dict:
    part = reports[(reports.subset == subset) & (reports.task == task) & (reports.label == label)]
    assert len(part) == 1
    return part.iloc[0].to_dict()


def auc(curves, task: str, label: str) -> float:
    return next(c.auc for c in curves if c.task == task and c.label == label)


def test_reports_match_a_hand_count():
    reports = classification_reports(HAND, TWO)
    mel = row(reports, "all", "entity", "mel")
    assert (mel["precision"], mel["recall"], mel["support"]) == (1.0, 0.5, 2)
    nv = row(reports, "all", "entity", "nv")
    assert (nv["precision"], nv["recall"]) == (pytest.approx(2 / 3), 1.0)
    assert row(reports, "all", "entity", "accuracy")["f1"] == 0.75
    assert math.isnan(row(reports, "all", "entity", "accuracy")["precision"])
    assert row(reports, "all", "entity", "macro avg")["f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_roc_of_hard_labels_is_one_operating_point_between_the_corners():
    curves = roc_curves(HAND, TWO)
    mel = next(c for c in curves if c.label == "mel")
    assert list(mel.fpr) == [0.0, 0.0, 1.0]
    assert list(mel.tpr) == [0.0, 0.5, 1.0]
    assert mel.auc == 0.75  # (tpr + 1 - fpr) / 2 at the one point
    assert (mel.n_positive, mel.n_negative) == (2, 2)


def test_a_perfect_reader_scores_one_everywhere():
    perfect = answers(
        ["mel", "nv", "mel", "nv"],
        ["mel", "nv", "mel", "nv"],
        [AI, AI, REAL, REAL],
        [AI, AI, REAL, REAL],
    )
    reports = classification_reports(perfect, TWO)
    for subset, task in [("all", "entity"), (AI, "entity"), (REAL, "entity"), ("all", "source")]:
        assert row(reports, subset, task, "accuracy")["f1"] == 1.0
    assert set(roc_table(roc_curves(perfect, TWO))["auc"]) == {1.0}


def test_a_reader_who_always_answers_real_has_recall_one_for_real_zero_for_ai_and_auc_half():
    always_real = HAND.assign(predicted_source=REAL)
    reports = classification_reports(always_real, TWO)
    assert row(reports, "all", "source", REAL)["recall"] == 1.0
    assert row(reports, "all", "source", AI)["recall"] == 0.0
    assert row(reports, "all", "source", AI)["precision"] == 0.0  # zero_division=0
    assert auc(roc_curves(always_real, TWO), "source", AI) == 0.5


def test_subset_reports_are_computed_on_their_own_rows():
    # right on every AI-generated image, wrong on every real one
    mixed = answers(
        ["mel", "nv", "mel", "nv"],
        ["mel", "nv", "nv", "mel"],
        [AI, AI, REAL, REAL],
        [AI, AI, AI, AI],
    )
    reports = classification_reports(mixed, TWO)
    assert row(reports, AI, "entity", "accuracy")["f1"] == 1.0
    assert row(reports, REAL, "entity", "accuracy")["f1"] == 0.0
    assert row(reports, "all", "entity", "accuracy")["f1"] == 0.5
    assert row(reports, AI, "entity", "accuracy")["support"] == 2


def test_a_class_without_images_is_reported_with_support_zero_and_no_auc():
    three = TWO | {"df": "dermatofibroma"}
    reports = classification_reports(HAND, three)
    df = row(reports, "all", "entity", "df")
    assert (df["support"], df["precision"], df["recall"]) == (0, 0.0, 0.0)
    aucs = roc_table(roc_curves(HAND, three)).set_index("label")
    assert math.isnan(aucs.loc["df", "auc"])
    assert (aucs.loc["df", "n_positive"], aucs.loc["df", "n_negative"]) == (0, 4)


def test_a_packet_of_one_source_has_no_report_for_the_other():
    reports = classification_reports(HAND.assign(source=AI), TWO)
    assert set(reports.subset) == {"all", AI}


def paper_csv(path: Path) -> Path:
    """A small stand-in for the published Table 2 (two classes)."""
    path.write_text(
        "row,ai_precision,ai_recall,ai_f1,derm_precision,derm_recall,derm_f1\n"
        "1,0.81,0.60,0.69,0.67,0.70,0.68\n"
        "2,0.83,0.70,0.76,0.62,0.50,0.56\n"
        "accuracy,,,0.86,,,0.64\n"
        "macro avg,0.86,0.69,0.76,0.68,0.64,0.64\n"
        "weighted avg,0.86,0.86,0.85,0.68,0.64,0.64\n"
    )
    return path


def test_table2_puts_classes_in_the_paper_order_beside_the_papers_values(tmp_path):
    classes = {"nv": "melanocytic nevi", "mel": "melanoma"}  # not the paper's order
    paper = read_paper_table2(paper_csv(tmp_path / "table2.csv"))
    table = table2(
        classification_reports(HAND, classes), classes, paper=paper, run="demo", method="glide"
    ).set_index("row")
    assert list(table.index) == ["1", "2", "accuracy", "macro avg", "weighted avg"]
    assert list(table["class"][:2]) == ["mel", "nv"]
    assert (table.loc["1", "derm_recall"], table.loc["1", "paper_derm_recall"]) == (0.5, 0.70)
    assert table.loc["accuracy", "derm_f1"] == 0.75
    assert table.loc["accuracy", "paper_derm_f1"] == 0.64
    assert math.isnan(table.loc["accuracy", "paper_derm_precision"])
    assert table.loc["weighted avg", "support"] == 4
    assert set(table["run"]) == {"demo"} and set(table["method"]) == {"glide"}


def test_table2_without_the_paper_has_no_paper_columns():
    table = table2(classification_reports(HAND, TWO), TWO, paper=None, run="demo", method="glide")
    assert not any(c.startswith("paper_") for c in table.columns)


def test_table2_refuses_to_set_a_class_the_paper_lacks_beside_it(tmp_path):
    classes = {"mel": "melanoma", "ps": "psoriasis"}
    paper = read_paper_table2(paper_csv(tmp_path / "table2.csv"))
    with pytest.raises(DataError, match=r"classes not in Table 2 \['psoriasis'\]"):
        reports = classification_reports(HAND.replace({"nv": "ps"}), classes)
        table2(reports, classes, paper=paper, run="demo", method="glide")


def test_a_paper_table_with_a_word_for_a_number_is_a_data_error(tmp_path):
    path = paper_csv(tmp_path / "table2.csv")
    path.write_text(path.read_text().replace("0.67", "n/a"))
    with pytest.raises(DataError, match=r"table2\.csv, line 2: derm_precision: not a number"):
        read_paper_table2(path)


def score(tmp_path: Path, out: str, paper: Path | None = None) -> Path:
    folder = tmp_path / out
    score_reader(
        HAND,
        TWO,
        folder,
        paper_table2=paper,
        table2_path=folder / "table2.csv",
        run="demo",
        method="glide",
        reader="SIMULATED reader",
    )
    return folder


def test_score_reader_writes_its_tables_and_nothing_else(tmp_path):
    folder = score(tmp_path, "a", paper_csv(tmp_path / "paper.csv"))
    assert sorted(p.name for p in folder.iterdir()) == [
        "classification_reports.csv",
        "roc_auc.csv",
        "table2.csv",
    ]
    aucs = pd.read_csv(folder / "roc_auc.csv")
    assert list(aucs.columns[:5]) == ["task", "label", "auc", "n_positive", "n_negative"]
    assert list(aucs["label"]) == ["mel", "nv", "AI-generated"]
    reports = pd.read_csv(folder / "classification_reports.csv")
    assert list(reports.columns[:7]) == [
        "subset",
        "task",
        "label",
        "precision",
        "recall",
        "f1",
        "support",
    ]
    assert "paper_derm_f1" in pd.read_csv(folder / "table2.csv").columns
    for table in ("classification_reports.csv", "roc_auc.csv", "table2.csv"):
        assert set(pd.read_csv(folder / table)["reader"]) == {"SIMULATED reader"}


def test_score_reader_is_deterministic(tmp_path):
    first, second = score(tmp_path, "a"), score(tmp_path, "b")
    for name in ("classification_reports.csv", "roc_auc.csv", "table2.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()

"""dermsynth.reader_study.simulate: the demo's reader is right as often as it is told to be."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from dermsynth.reader_study.score import classification_reports
from dermsynth.reader_study.sheet import read_answers, read_key, write_answer_sheet
from dermsynth.reader_study.simulate import simulate_reader

CLASSES = {"bcc": "basal cell carcinoma", "mel": "melanoma", "nv": "melanocytic nevi"}


def write_key(path: Path, n: int) -> Path:
    codes = list(CLASSES)
    pd.DataFrame(
        {
            "image_id": [f"img-{i:06x}" for i in range(n)],
            "class": [codes[i % 3] for i in range(n)],
            "name": [CLASSES[codes[i % 3]] for i in range(n)],
            "source": ["AI-generated" if i % 2 else "real" for i in range(n)],
            "original_file": [f"x/{i}.png" for i in range(n)],
        }
    ).to_csv(path, index=False)
    return path


def simulated(tmp_path: Path, name: str, n: int = 12, seed: int = 0, **accuracy) -> pd.DataFrame:
    """The simulated reader's answers, read back as the scorer reads a real reader's."""
    tmp_path.mkdir(exist_ok=True)
    key = write_key(tmp_path / "key.csv", n)
    accuracy = {"entity_accuracy": 0.5, "source_accuracy": 0.5} | accuracy
    simulate_reader(key, tmp_path / name, classes=CLASSES, seed=seed, **accuracy)
    return read_answers(tmp_path / name, read_key(key, CLASSES), CLASSES)


def accuracy(answers: pd.DataFrame, task: str) -> float:
    reports = classification_reports(answers, CLASSES)
    chosen = (reports.subset == "all") & (reports.task == task) & (reports.label == "accuracy")
    return float(reports.loc[chosen, "f1"].iloc[0])


@pytest.mark.parametrize("name", ["answers.xlsx", "answers.csv"])
def test_a_reader_right_with_probability_one_scores_one(tmp_path, name):
    answers = simulated(tmp_path, name, entity_accuracy=1.0, source_accuracy=1.0)
    assert accuracy(answers, "entity") == accuracy(answers, "source") == 1.0


def test_a_reader_right_with_probability_zero_is_never_right(tmp_path):
    answers = simulated(tmp_path, "answers.xlsx", entity_accuracy=0.0, source_accuracy=0.0)
    assert not (answers["class"] == answers["predicted_class"]).any()
    assert not (answers["source"] == answers["predicted_source"]).any()
    # its wrong answers are spread over the other classes
    assert answers.groupby("class")["predicted_class"].nunique().eq(2).all()


def test_a_reader_is_right_about_as_often_as_told(tmp_path):
    answers = simulated(tmp_path, "answers.csv", n=3000, entity_accuracy=0.64, source_accuracy=0.96)
    assert accuracy(answers, "entity") == pytest.approx(0.64, abs=0.03)
    assert accuracy(answers, "source") == pytest.approx(0.96, abs=0.015)


def test_the_same_seed_gives_the_same_sheet_and_another_seed_another(tmp_path):
    first = simulated(tmp_path / "a", "answers.csv", n=40, seed=1)
    again = simulated(tmp_path / "b", "answers.csv", n=40, seed=1)
    other = simulated(tmp_path / "c", "answers.csv", n=40, seed=2)
    assert (tmp_path / "a" / "answers.csv").read_bytes() == (
        tmp_path / "b" / "answers.csv"
    ).read_bytes()
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_a_simulated_xlsx_has_the_answer_sheet_layout(tmp_path):
    key = write_key(tmp_path / "key.csv", 6)
    simulate_reader(
        key,
        tmp_path / "answers.xlsx",
        classes=CLASSES,
        entity_accuracy=1,
        source_accuracy=1,
        seed=0,
    )
    ids = list(pd.read_csv(key)["image_id"])
    write_answer_sheet(tmp_path / "blank.xlsx", ids, CLASSES, title="t")
    simulated, blank = (
        load_workbook(tmp_path / f)["answers"] for f in ("answers.xlsx", "blank.xlsx")
    )
    assert [c.value for c in simulated["A"]] == [c.value for c in blank["A"]]
    assert [c.value for c in simulated[1]] == ["image_id", "entity", "source"]
    validations = [(str(v.sqref), v.formula1) for v in simulated.data_validations.dataValidation]
    assert validations == [
        (str(v.sqref), v.formula1) for v in blank.data_validations.dataValidation
    ]


def test_accuracies_outside_zero_to_one_are_refused(tmp_path):
    key = write_key(tmp_path / "key.csv", 3)
    with pytest.raises(ValueError, match="entity_accuracy must lie in"):
        simulate_reader(
            key, tmp_path / "a.csv", classes=CLASSES, entity_accuracy=1.5, source_accuracy=1, seed=0
        )

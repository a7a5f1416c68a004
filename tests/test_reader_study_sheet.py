"""dermsynth.reader_study.sheet: a filled answer sheet is read back, or fails naming its cell."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from dermsynth.errors import DataError
from dermsynth.reader_study.sheet import read_answers, read_key, write_answer_sheet

CLASSES = {"bcc": "basal cell carcinoma", "mel": "melanoma", "nv": "melanocytic nevi"}
KEY = pd.DataFrame(
    {
        "image_id": ["img-000001", "img-000002", "img-000003", "img-000004"],
        "class": ["mel", "nv", "bcc", "mel"],
        "name": ["melanoma", "melanocytic nevi", "basal cell carcinoma", "melanoma"],
        "source": ["AI-generated", "real", "real", "AI-generated"],
        "original_file": ["s/1.png", "r/2.png", "r/3.png", "s/4.png"],
    }
)
# a reader's answers, in key order: right, wrong entity, wrong source, right
ANSWERS = [
    ["img-000001", "melanoma", "AI-generated"],
    ["img-000002", "melanoma", "real"],
    ["img-000003", "basal cell carcinoma", "AI-generated"],
    ["img-000004", "melanoma", "AI-generated"],
]
EXPECTED = pd.DataFrame(
    {
        "image_id": KEY["image_id"],
        "class": KEY["class"],
        "predicted_class": ["mel", "mel", "bcc", "mel"],
        "source": KEY["source"],
        "predicted_source": ["AI-generated", "real", "AI-generated", "AI-generated"],
    }
)


def xlsx(path: Path, rows: list[list], header=("image_id", "entity", "source")) -> Path:
    """An .xlsx with the given rows under a header on sheet "answers"."""
    book = Workbook()
    sheet = book.active
    sheet.title = "answers"
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def csv(path: Path, rows: list[list], header=("image_id", "entity", "source")) -> Path:
    """A CSV as the page exports it (CRLF line ends)."""
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def test_a_filled_xlsx_answer_sheet_reads_back_in_key_order(tmp_path):
    path = tmp_path / "answers.xlsx"
    order = [2, 0, 3, 1]  # the sheet's rows need not follow the key
    write_answer_sheet(
        path,
        [ANSWERS[i][0] for i in order],
        CLASSES,
        title="t",
        entities=[ANSWERS[i][1] for i in order],
        sources=[ANSWERS[i][2] for i in order],
    )
    pd.testing.assert_frame_equal(read_answers(path, KEY, CLASSES), EXPECTED)


def test_the_same_sheet_written_at_another_time_has_the_same_bytes(tmp_path, monkeypatch):
    write_answer_sheet(tmp_path / "now.xlsx", list(KEY["image_id"]), CLASSES, title="t")
    tomorrow = time.time() + 86400  # zip entries are dated by time.time
    monkeypatch.setattr(time, "time", lambda: tomorrow)
    write_answer_sheet(tmp_path / "later.xlsx", list(KEY["image_id"]), CLASSES, title="t")
    assert (tmp_path / "now.xlsx").read_bytes() == (tmp_path / "later.xlsx").read_bytes()


def test_the_page_csv_export_reads_back(tmp_path):
    answers = read_answers(csv(tmp_path / "answers.csv", ANSWERS), KEY, CLASSES)
    pd.testing.assert_frame_equal(answers, EXPECTED)


def test_a_csv_saved_by_excel_with_a_byte_order_mark_reads_back(tmp_path):
    path = csv(tmp_path / "answers.csv", ANSWERS)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    pd.testing.assert_frame_equal(read_answers(path, KEY, CLASSES), EXPECTED)


def test_entities_are_accepted_as_names_or_codes_in_any_case_and_spacing(tmp_path):
    rows = [
        ["img-000001", " MELANOMA ", "ai"],
        ["img-000002", "Mel", "Real"],
        ["img-000003", "basal cell Carcinoma", "ai-generated"],
        ["img-000004", "mel", " original "],
    ]
    answers = read_answers(xlsx(tmp_path / "answers.xlsx", rows), KEY, CLASSES)
    assert list(answers["predicted_class"]) == ["mel", "mel", "bcc", "mel"]
    assert list(answers["predicted_source"]) == ["AI-generated", "real", "AI-generated", "real"]


def test_blank_rows_and_extra_columns_are_ignored(tmp_path):
    rows = [[*ANSWERS[0], "note"], [None, None, None], *ANSWERS[1:], [None, None, None]]
    header = ("image_id", "entity", "source", "comment")
    answers = read_answers(xlsx(tmp_path / "answers.xlsx", rows, header), KEY, CLASSES)
    pd.testing.assert_frame_equal(answers, EXPECTED)


def with_row(position: int, row: list) -> list[list]:
    rows = [list(r) for r in ANSWERS]
    rows[position] = row
    return rows


# each fault, as the sheet's rows and the words its error must hold (line 2 is the first row)
FAULTS = {
    "unknown entity": (
        with_row(1, ["img-000002", "melanomma", "real"]),
        r"line 3: cell B3: unknown entity 'melanomma'; expected one of \['basal cell carcinoma'",
    ),
    "empty entity": (
        with_row(2, ["img-000003", None, "real"]),
        r"line 4: cell B4: no entity given for 'img-000003'",
    ),
    "unknown source": (
        with_row(0, ["img-000001", "melanoma", "fake"]),
        r"line 2: cell C2: unknown source 'fake'; expected one of \['AI-generated', 'real'\]",
    ),
    "empty source": (
        with_row(3, ["img-000004", "melanoma", None]),
        r"line 5: cell C5: no source given for 'img-000004'",
    ),
    "empty id": (
        with_row(1, [None, "melanoma", "real"]),
        r"line 3: cell A3: empty image_id",
    ),
    "duplicate id": (
        [*ANSWERS, ["img-000002", "melanoma", "real"]],
        r"line 6: cell A6: image_id 'img-000002' answered twice \(first on line 3\)",
    ),
    "extra row": (
        [*ANSWERS, ["img-999999", "melanoma", "real"]],
        r"line 6: cell A6: unknown image_id 'img-999999': not in this packet's key",
    ),
    "missing row": (
        ANSWERS[:1] + ANSWERS[2:],
        r"answers\.xlsx: 1 image\(s\) of the packet not answered: img-000002$",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_of_an_xlsx_is_a_data_error_naming_its_row_and_cell(tmp_path, fault):
    rows, message = FAULTS[fault]
    with pytest.raises(DataError, match=message):
        read_answers(xlsx(tmp_path / "answers.xlsx", rows), KEY, CLASSES)


def test_a_fault_of_a_csv_names_its_line_and_column(tmp_path):
    path = csv(tmp_path / "answers.csv", with_row(2, ["img-000003", "bkl", "real"]))
    with pytest.raises(DataError, match=r"answers\.csv, line 4: column 'entity': unknown entity"):
        read_answers(path, KEY, CLASSES)


@pytest.mark.parametrize("make", [xlsx, csv])
def test_a_missing_column_is_a_data_error_on_the_header_line(tmp_path, make):
    path = make(
        tmp_path / f"answers.{make.__name__}", [r[:2] for r in ANSWERS], ("image_id", "entity")
    )
    with pytest.raises(DataError, match=r"line 1: missing column\(s\) \['source'\]"):
        read_answers(path, KEY, CLASSES)


def test_the_first_fault_in_sheet_order_is_reported_and_missing_rows_last(tmp_path):
    rows = [ANSWERS[0], ["img-000003", "nevus", "real"], ["img-000002", "melanoma", "??"]]
    with pytest.raises(DataError, match=r"line 3: cell B3: unknown entity 'nevus'"):
        read_answers(xlsx(tmp_path / "answers.xlsx", rows), KEY, CLASSES)


def test_missing_rows_are_listed_up_to_ten_and_counted(tmp_path):
    key = pd.DataFrame(
        {
            "image_id": [f"img-{i:06d}" for i in range(12)],
            "class": "mel",
            "name": "melanoma",
            "source": "real",
            "original_file": "x.png",
        }
    )
    path = xlsx(tmp_path / "answers.xlsx", [["img-000000", "mel", "real"]])
    with pytest.raises(DataError, match=r"11 image\(s\) .*img-000001, .*img-000010 \(and 1 more\)"):
        read_answers(path, key, CLASSES)


def test_a_sheet_without_an_answers_sheet_or_of_another_kind_is_a_data_error(tmp_path):
    book = Workbook()
    book.active.title = "Sheet1"
    book.save(tmp_path / "answers.xlsx")
    with pytest.raises(DataError, match=r"no sheet 'answers'; found sheets \['Sheet1'\]"):
        read_answers(tmp_path / "answers.xlsx", KEY, CLASSES)
    (tmp_path / "answers.ods").write_bytes(b"")
    with pytest.raises(DataError, match=r"ending in \.xlsx or \.csv"):
        read_answers(tmp_path / "answers.ods", KEY, CLASSES)


def test_read_key_refuses_an_unknown_class_source_or_a_repeated_id(tmp_path):
    for column, value, message in [
        ("class", "vasc", r"line 3: unknown class 'vasc'"),
        ("source", "synthetic", r"line 3: unknown source 'synthetic'"),
        ("image_id", "img-000001", r"line 3: image_id 'img-000001' twice"),
    ]:
        key = KEY.copy()
        key.loc[1, column] = value
        key.to_csv(tmp_path / "key.csv", index=False)
        with pytest.raises(DataError, match=message):
            read_key(tmp_path / "key.csv", CLASSES)

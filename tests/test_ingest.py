"""dermsynth.data.ingest: the distributed metadata -> pairs tables, and errors that point at the
file and line at fault.

Bad inputs are copies of the demo datasets with one cell or one file changed; `line` is the line
of the CSV file as an editor shows it (line 1 is the header).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pytest

from dermsynth.data.ingest import (
    PAIRS_COLUMNS,
    ingest_ddi,
    ingest_fitzpatrick17k,
    ingest_ham10000,
)
from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.errors import DataError

HAM_CAPTION = "a dermoscopic image of {name}"
F17K_CAPTION = "An image of {label}, a skin disease"
DDI_CAPTION = "An image of a {label} skin lesion"
WRONG = "3 Wrongly labelled"
HAM10000_METADATA, F17K_METADATA, DDI_METADATA = (
    RAW_LAYOUT[dataset].metadata for dataset in ("ham10000", "fitzpatrick17k", "ddi")
)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as stream:
        return list(csv.reader(stream))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerows(rows)


def cell(path: Path, line: int, column: str) -> str:
    rows = read_rows(path)
    return rows[line - 1][rows[0].index(column)]


def set_cell(path: Path, line: int, column: str, value: str) -> None:
    rows = read_rows(path)
    rows[line - 1][rows[0].index(column)] = value
    write_rows(path, rows)


def drop_column(path: Path, column: str) -> None:
    rows = read_rows(path)
    at = rows[0].index(column)
    write_rows(path, [row[:at] + row[at + 1 :] for row in rows])


def lines_where(path: Path, column: str, value: str) -> list[int]:
    rows = read_rows(path)
    at = rows[0].index(column)
    return [number for number, row in enumerate(rows[1:], start=2) if row[at] == value]


def assert_points_at(error: pytest.ExceptionInfo, path: Path, line: int | None = None) -> None:
    """The message starts with the file, and with the line where one row is at fault."""
    where = f"{path}, line {line}:" if line is not None else f"{path}:"
    assert str(error.value).startswith(where), str(error.value)
    assert error.value.line == line


# --- HAM10000 -------------------------------------------------------------------------------


@pytest.fixture
def ham(copy_dataset, ham_root) -> Path:
    return copy_dataset(ham_root)


def test_ham10000_pairs_have_the_pairs_columns_first_then_the_metadata(ham_pairs):
    assert list(ham_pairs.columns) == PAIRS_COLUMNS + ["dx_type", "age", "sex", "localization"]


def test_ham10000_group_is_the_lesion_and_label_the_dx_of_each_image(ham_pairs, ham_root):
    meta = pd.read_csv(ham_root / HAM10000_METADATA, dtype=str).set_index("image_id")
    by_image = ham_pairs.set_index("image_id")
    assert by_image["group_id"].equals(meta.loc[by_image.index, "lesion_id"].rename("group_id"))
    assert by_image["label"].equals(meta.loc[by_image.index, "dx"].rename("label"))


def test_ham10000_has_no_skin_type(ham_pairs):
    assert (ham_pairs["skin_type"] == "").all()


def test_ham10000_caption_uses_the_readable_class_name(ham_root, ham_classes):
    pairs = ingest_ham10000(ham_root, ham_classes, "a dermoscopic image of {name}")
    captions = pairs.groupby("label")["caption"].unique().map(list).to_dict()
    assert captions["mel"] == ["a dermoscopic image of melanoma"]
    assert captions["nv"] == ["a dermoscopic image of melanocytic nevi"]


def test_ham10000_paths_lead_to_each_image_in_either_part_folder(ham_pairs, ham_root):
    paths = ham_pairs["path"].map(Path)
    assert (paths.map(lambda p: p.name) == ham_pairs["image_id"] + ".jpg").all()
    assert set(paths.map(lambda p: p.parent)) == {
        ham_root / "HAM10000_images_part_1",
        ham_root / "HAM10000_images_part_2",
    }
    assert paths.map(Path.is_file).all()


def test_ham10000_metadata_line_is_the_csv_line_of_the_image(ham_pairs, ham_root):
    meta = ham_root / HAM10000_METADATA
    for row in ham_pairs.iloc[[0, 1, 100, -1]].itertuples():
        assert cell(meta, row.metadata_line, "image_id") == row.image_id


def test_ham10000_missing_image_file_is_an_error_naming_the_image_and_its_line(ham, ham_classes):
    meta = ham / HAM10000_METADATA
    image_id = cell(meta, 6, "image_id")
    for part in ("HAM10000_images_part_1", "HAM10000_images_part_2"):
        (ham / part / f"{image_id}.jpg").unlink(missing_ok=True)
    with pytest.raises(
        DataError, match=rf"image file '{image_id}.jpg' not found \(1 missing"
    ) as err:
        ingest_ham10000(ham, ham_classes, HAM_CAPTION)
    assert_points_at(err, meta, line=6)


def test_ham10000_missing_image_folder_is_an_error_naming_the_folder(ham, ham_classes):
    folder = ham / "HAM10000_images_part_2"
    for image in folder.iterdir():
        image.unlink()
    folder.rmdir()
    with pytest.raises(DataError, match="image folder not found") as err:
        ingest_ham10000(ham, ham_classes, HAM_CAPTION)
    assert_points_at(err, folder)


def test_ham10000_configured_class_without_images_is_an_error_naming_it(ham, ham_classes):
    classes = ham_classes | {"sebk": "seborrhoeic keratosis"}
    with pytest.raises(DataError, match=r"class\(es\) \['sebk'\] have no images") as err:
        ingest_ham10000(ham, classes, HAM_CAPTION)
    assert_points_at(err, ham / HAM10000_METADATA)


def test_ham10000_missing_metadata_file_is_an_error_naming_it(tmp_path, ham_classes):
    with pytest.raises(DataError, match="file not found") as err:
        ingest_ham10000(tmp_path, ham_classes, HAM_CAPTION)
    assert_points_at(err, tmp_path / HAM10000_METADATA)


# --- Fitzpatrick17k -------------------------------------------------------------------------


@pytest.fixture
def f17k(copy_dataset, f17k_root) -> Path:
    return copy_dataset(f17k_root)


def test_fitzpatrick17k_keeps_only_the_configured_classes(f17k_root, f17k_classes, f17k_pairs):
    meta = pd.read_csv(f17k_root / F17K_METADATA, dtype=str, keep_default_na=False)
    assert not meta["label"].isin(f17k_classes).all()  # the demo has labels outside F17k-9
    assert sorted(f17k_pairs["image_id"]) == sorted(
        meta.loc[meta["label"].isin(f17k_classes), "md5hash"]
    )
    assert set(f17k_pairs["label"]) == set(f17k_classes)


def test_fitzpatrick17k_pairs_have_the_pairs_columns_first(f17k_pairs):
    assert list(f17k_pairs.columns[: len(PAIRS_COLUMNS)]) == PAIRS_COLUMNS


def test_fitzpatrick17k_skin_type_is_the_scale_and_empty_where_unknown(f17k_pairs):
    unknown = f17k_pairs["fitzpatrick_scale"] == "-1"
    assert unknown.any()
    assert (f17k_pairs.loc[unknown, "skin_type"] == "").all()
    known = f17k_pairs[~unknown]
    assert known["skin_type"].equals(known["fitzpatrick_scale"].rename("skin_type"))
    assert set(known["skin_type"]) == {"1", "2", "3", "4", "5", "6"}


def test_fitzpatrick17k_drop_qc_drops_exactly_the_rows_with_that_qc(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    rows = read_rows(meta)
    qc, label = rows[0].index("qc"), rows[0].index("label")
    f17k9_lines = [n for n, row in enumerate(rows[1:], start=2) if row[label] in f17k_classes]
    wrong = f17k9_lines[:3]
    for number, row in enumerate(rows[1:], start=2):
        row[qc] = WRONG if number in wrong else ""
    write_rows(meta, rows)
    dropped = {cell(meta, n, "md5hash") for n in wrong}

    result = ingest_fitzpatrick17k(f17k, f17k_classes, F17K_CAPTION, drop_qc=[WRONG])
    assert len(result.pairs) == len(f17k9_lines) - 3
    assert dropped.isdisjoint(result.pairs["image_id"])
    assert result.class_counts.set_index("label").at["total", "dropped_qc"] == 3


def test_fitzpatrick17k_class_counts_account_for_every_csv_row(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    wrong_line = lines_where(meta, "label", "psoriasis")[0]
    set_cell(meta, wrong_line, "qc", WRONG)
    missing_line = lines_where(meta, "label", "sarcoidosis")[0]
    (f17k / "images" / f"{cell(meta, missing_line, 'md5hash')}.jpg").unlink()
    published = pd.DataFrame(
        {"label": f17k_classes, "images": [str(300 + i) for i in range(len(f17k_classes))]}
    )

    result = ingest_fitzpatrick17k(
        f17k, f17k_classes, F17K_CAPTION, [WRONG], missing_images="skip", reference_counts=published
    )
    counts = result.class_counts.set_index("label")
    assert list(counts.index) == f17k_classes + ["total"]
    ours = result.pairs["label"].value_counts()
    for label in f17k_classes:
        assert counts.at[label, "ours"] == ours[label]
    wrong_psoriasis = set(lines_where(meta, "label", "psoriasis")) & set(
        lines_where(meta, "qc", WRONG)
    )
    assert counts.at["psoriasis", "dropped_qc"] == len(wrong_psoriasis) >= 1
    assert counts.at["sarcoidosis", "missing_images"] == 1
    assert (
        counts["csv_rows"] - counts["dropped_qc"] - counts["missing_images"] == counts["ours"]
    ).all()
    assert counts.at["psoriasis", "published"] == 300
    assert counts.at["lichen planus", "ours_minus_published"] == ours["lichen planus"] - 302
    assert counts.at["total", "ours"] == len(result.pairs)
    assert counts.at["total", "published"] == sum(range(300, 309))


def test_fitzpatrick17k_without_reference_counts_has_no_published_column(f17k_root, f17k_classes):
    counts = ingest_fitzpatrick17k(f17k_root, f17k_classes, F17K_CAPTION).class_counts
    assert "published" not in counts.columns
    assert counts["label"].iloc[-1] == "total"


def test_fitzpatrick17k_missing_image_is_an_error_naming_its_line(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    line = lines_where(meta, "label", "lichen planus")[2]
    md5 = cell(meta, line, "md5hash")
    (f17k / "images" / f"{md5}.jpg").unlink()
    with pytest.raises(DataError, match=rf"image file '{md5}.jpg' not found") as err:
        ingest_fitzpatrick17k(f17k, f17k_classes, F17K_CAPTION, missing_images="error")
    assert_points_at(err, meta, line=line)


def test_fitzpatrick17k_skip_drops_and_lists_rows_whose_image_is_missing(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    line = lines_where(meta, "label", "lichen planus")[2]
    md5 = cell(meta, line, "md5hash")
    (f17k / "images" / f"{md5}.jpg").unlink()

    result = ingest_fitzpatrick17k(f17k, f17k_classes, F17K_CAPTION, missing_images="skip")
    assert md5 not in set(result.pairs["image_id"])
    assert result.missing.to_dict("records") == [
        {
            "md5hash": md5,
            "label": "lichen planus",
            "expected_path": str(f17k / "images" / f"{md5}.jpg"),
            "metadata_line": line,
        }
    ]


def test_fitzpatrick17k_image_of_a_label_outside_f17k9_may_be_missing(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    line = lines_where(meta, "label", "eczema")[0]
    (f17k / "images" / f"{cell(meta, line, 'md5hash')}.jpg").unlink()
    result = ingest_fitzpatrick17k(f17k, f17k_classes, F17K_CAPTION, missing_images="error")
    assert result.missing.empty


def test_fitzpatrick17k_rejects_an_unknown_missing_images_policy(f17k_root, f17k_classes):
    with pytest.raises(ValueError, match="'error' or 'skip', not 'ignore'"):
        ingest_fitzpatrick17k(f17k_root, f17k_classes, F17K_CAPTION, missing_images="ignore")


def test_fitzpatrick17k_configured_label_absent_from_the_csv_is_an_error(f17k_root, f17k_classes):
    classes = f17k_classes + ["acne keloidalis"]
    with pytest.raises(DataError, match=r"\['acne keloidalis'\] have no images") as err:
        ingest_fitzpatrick17k(f17k_root, classes, F17K_CAPTION)
    assert_points_at(err, f17k_root / F17K_METADATA)


def test_fitzpatrick17k_class_emptied_by_drop_qc_is_an_error_naming_it(f17k, f17k_classes):
    meta = f17k / F17K_METADATA
    rows = read_rows(meta)
    qc, label = rows[0].index("qc"), rows[0].index("label")
    for row in rows[1:]:
        if row[label] == "photodermatoses":
            row[qc] = WRONG
    write_rows(meta, rows)
    with pytest.raises(DataError, match=r"\['photodermatoses'\] have no images after exclusions"):
        ingest_fitzpatrick17k(f17k, f17k_classes, F17K_CAPTION, drop_qc=[WRONG])


# --- DDI ------------------------------------------------------------------------------------


@pytest.fixture
def ddi(copy_dataset, ddi_root) -> Path:
    return copy_dataset(ddi_root)


def test_ddi_metadata_starts_with_an_unnamed_index_column(ddi_root):
    assert read_rows(ddi_root / DDI_METADATA)[0][:2] == ["", "DDI_ID"]


def test_ddi_pairs_read_past_the_unnamed_index_column(ddi_pairs, ddi_root):
    assert list(ddi_pairs.columns) == PAIRS_COLUMNS + ["disease", "malignant"]
    meta = ddi_root / DDI_METADATA
    for row in ddi_pairs.iloc[[0, 30, -1]].itertuples():
        assert cell(meta, row.metadata_line, "DDI_file") == f"{row.image_id}.png"
        assert cell(meta, row.metadata_line, "disease") == row.disease


def test_ddi_label_is_benign_or_malignant_as_the_malignant_column_says(ddi_pairs):
    expected = ddi_pairs["malignant"].map({"True": "malignant", "False": "benign"})
    assert ddi_pairs["label"].equals(expected.rename("label"))
    assert set(ddi_pairs["label"]) == {"benign", "malignant"}


@pytest.mark.parametrize(
    ("spelling", "label"),
    [
        ("True", "malignant"),
        ("TRUE", "malignant"),  # as a spreadsheet re-saves it
        ("true", "malignant"),
        ("False", "benign"),
        ("FALSE", "benign"),
        ("false", "benign"),
    ],
)
def test_ddi_malignant_is_read_in_every_spelling_pandas_reads_as_a_boolean(ddi, spelling, label):
    meta = ddi / DDI_METADATA
    lines = lines_where(meta, "malignant", "True" if label == "malignant" else "False")
    for line in lines:
        set_cell(meta, line, "malignant", spelling)
    pairs = ingest_ddi(ddi, DDI_CAPTION).set_index("metadata_line")
    assert set(pairs.loc[lines, "label"]) == {label}
    assert set(pairs.loc[lines, "malignant"]) == {"True" if label == "malignant" else "False"}


@pytest.mark.parametrize("spelling", ["yes", "1", "T", " TRUE", "Malignant", ""])
def test_ddi_malignant_outside_pandas_booleans_is_an_error_naming_the_line(ddi, spelling):
    meta = ddi / DDI_METADATA
    set_cell(meta, 6, "malignant", spelling)
    with pytest.raises(DataError, match=f"unknown malignant {re.escape(repr(spelling))}") as err:
        ingest_ddi(ddi, DDI_CAPTION)
    assert_points_at(err, meta, 6)


def test_ddi_skin_type_is_the_distributed_group(ddi_pairs):
    assert ddi_pairs["skin_type"].value_counts().to_dict() == {"12": 24, "34": 24, "56": 24}


def test_ddi_caption_names_the_task_label(ddi_root):
    pairs = ingest_ddi(ddi_root, "An image of a {label} skin lesion")
    malignant = pairs[pairs["label"] == "malignant"]
    assert set(malignant["caption"]) == {"An image of a malignant skin lesion"}


def test_ddi_missing_image_is_an_error_naming_its_line(ddi):
    (ddi / "images" / "000011.png").unlink()
    with pytest.raises(DataError, match="image file '000011.png' not found") as err:
        ingest_ddi(ddi, DDI_CAPTION)
    assert_points_at(err, ddi / DDI_METADATA, line=12)


# --- Metadata errors common to the three datasets -----------------------------------------


class CellOf(NamedTuple):
    """A new cell value given as the same column's value on another line (a duplicate)."""

    line: int


# (dataset, column, line changed, its new value, the error message as a regex, `{value}` the new
# value); line None: the column is dropped, and the error names the file only
BAD_METADATA = [
    ("ham10000", "dx", None, None, r"missing column\(s\) \['dx'\]"),
    ("ham10000", "image_id", 7, CellOf(4), r"duplicate image_id '{value}' on lines \[4, 7\]"),
    ("ham10000", "dx", 5, "lentigo", "unknown dx 'lentigo'"),
    ("ham10000", "lesion_id", 9, " ", "empty lesion_id"),
    ("fitzpatrick17k", "qc", None, None, r"missing column\(s\) \['qc'\]"),
    ("fitzpatrick17k", "md5hash", 12, CellOf(3), r"duplicate md5hash .* on lines \[3, 12\]"),
    ("fitzpatrick17k", "fitzpatrick_scale", 8, "7", "unknown fitzpatrick_scale '7'"),
    ("ddi", "disease", None, None, r"missing column\(s\) \['disease'\]"),
    ("ddi", "DDI_file", 10, CellOf(2), r"duplicate DDI_file '000001.png' on lines \[2, 10\]"),
    ("ddi", "skin_tone", 4, "78", "unknown skin_tone '78'"),
    ("ddi", "malignant", 6, "yes", "unknown malignant 'yes'"),
]


def bad_metadata_id(dataset: str, column: str, line: int | None, value, message: str) -> str:
    change = "dropped" if line is None else "duplicate" if isinstance(value, CellOf) else "bad"
    return f"{dataset}-{change}-{column}"


def ingest_copy(request, dataset: str) -> tuple[Path, Callable[[], object]]:
    """The metadata CSV of this test's copy of a demo dataset, and the call ingesting the copy."""
    if dataset == "ham10000":
        root, classes = request.getfixturevalue("ham"), request.getfixturevalue("ham_classes")
        return root / HAM10000_METADATA, lambda: ingest_ham10000(root, classes, HAM_CAPTION)
    if dataset == "fitzpatrick17k":
        root, classes = request.getfixturevalue("f17k"), request.getfixturevalue("f17k_classes")
        return root / F17K_METADATA, lambda: ingest_fitzpatrick17k(root, classes, F17K_CAPTION)
    root = request.getfixturevalue("ddi")
    return root / DDI_METADATA, lambda: ingest_ddi(root, DDI_CAPTION)


@pytest.mark.parametrize(
    ("dataset", "column", "line", "value", "message"),
    BAD_METADATA,
    ids=[bad_metadata_id(*case) for case in BAD_METADATA],
)
def test_bad_metadata_is_an_error_naming_the_file_and_the_line_at_fault(
    request, dataset, column, line, value, message
):
    meta, ingest = ingest_copy(request, dataset)
    if line is None:
        drop_column(meta, column)
    else:
        if isinstance(value, CellOf):
            value = cell(meta, value.line, column)
        set_cell(meta, line, column, value)
    with pytest.raises(DataError, match=message.format(value=re.escape(value or ""))) as err:
        ingest()
    assert_points_at(err, meta, line)

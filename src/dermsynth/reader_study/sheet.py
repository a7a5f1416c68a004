"""The answer sheet: one row per image (image_id, entity, source), written as .xlsx with
drop-downs, read back from .xlsx or from the page's .csv export, and checked against the key.
"""

from __future__ import annotations

import csv
import datetime
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.writer.excel import ExcelWriter

from dermsynth.errors import DataError, csv_line
from dermsynth.io import atomic_path, read_table

ANSWER_COLUMNS = ("image_id", "entity", "source")
KEY_COLUMNS = ("image_id", "class", "name", "source", "original_file")
SOURCES = ("AI-generated", "real")
ANSWERS_SHEET = "answers"
INSTRUCTIONS_SHEET = "instructions"

# what a reader may write for a source; the page and the drop-down give the first spelling
SOURCE_SPELLINGS = {
    "ai-generated": "AI-generated",
    "ai": "AI-generated",
    "real": "real",
    "original": "real",
}
MISSING_LISTED = 10  # ids named in a "not answered" error; the rest are counted
# the date the sheet's document properties and zip entries carry: openpyxl would stamp both
# with the time of writing, and the same packet must give the same bytes
SHEET_DATE = datetime.datetime(1980, 1, 1)


def read_key(path: str | Path, classes: Mapping[str, str]) -> pd.DataFrame:
    """The sealed key of a packet, checked: unique ids, known classes and sources."""
    key = read_table(path, KEY_COLUMNS)
    for position, row in key.iterrows():
        line = csv_line(int(position))
        if row["class"] not in classes:
            raise DataError(path, f"unknown class {row['class']!r}", line=line)
        if row["source"] not in SOURCES:
            raise DataError(path, f"unknown source {row['source']!r}", line=line)
    duplicated = key["image_id"].duplicated()
    if duplicated.any():
        position = int(duplicated.to_numpy().argmax())
        image_id = key["image_id"][position]
        raise DataError(path, f"image_id {image_id!r} twice", line=csv_line(position))
    return key


def write_answer_sheet(
    path: str | Path,
    image_ids: Sequence[str],
    classes: Mapping[str, str],
    *,
    title: str,
    entities: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> None:
    """Write the .xlsx answer sheet: sheet "answers" (image_id | entity | source, one row per
    image in packet order, drop-downs on entity and source) and sheet "instructions".

    `entities` and `sources` fill the answers (a simulated reader); blank by default.
    """
    book = Workbook()
    answers = book.active
    answers.title = ANSWERS_SHEET
    instructions = book.create_sheet(INSTRUCTIONS_SHEET)
    names_range = _write_instructions(instructions, len(image_ids), classes, title)

    answers.append(list(ANSWER_COLUMNS))
    for cell in answers[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE3EA")
    for i, image_id in enumerate(image_ids):
        entity = entities[i] if entities is not None else None
        source = sources[i] if sources is not None else None
        answers.append([image_id, entity, source])
        # a click on the id opens the image, which lies beside the sheet in the packet
        answers.cell(i + 2, 1).hyperlink = f"images/{image_id}.png"
        answers.cell(i + 2, 1).style = "Hyperlink"
    last = len(image_ids) + 1
    entity_list = DataValidation(
        type="list",
        formula1=names_range,
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Unknown entity",
        error="Choose an entity from the list.",
    )
    source_list = DataValidation(
        type="list",
        formula1=f'"{",".join(SOURCES)}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Unknown source",
        error="Choose AI-generated or real.",
    )
    entity_list.add(f"B2:B{last}")
    source_list.add(f"C2:C{last}")
    answers.add_data_validation(entity_list)
    answers.add_data_validation(source_list)
    answers.freeze_panes = "A2"
    answers.column_dimensions["A"].width = 16
    answers.column_dimensions["B"].width = max(len(n) for n in classes.values()) + 6
    answers.column_dimensions["C"].width = 16
    book.properties.created = book.properties.modified = SHEET_DATE
    with atomic_path(path) as tmp:
        # openpyxl's save_workbook, less its stamping the modified date with now
        ExcelWriter(book, _DatedZip(tmp, "w", zipfile.ZIP_DEFLATED, allowZip64=True)).save()


class _DatedZip(zipfile.ZipFile):
    """A zip whose entries carry SHEET_DATE, not the time of writing (openpyxl writes each
    entry by name, or from a temporary file)."""

    def writestr(self, name, data, *args, **kwargs):
        if not isinstance(name, zipfile.ZipInfo):
            name = zipfile.ZipInfo(name, date_time=SHEET_DATE.timetuple()[:6])
            name.compress_type = self.compression
            name.external_attr = 0o600 << 16  # what ZipFile.writestr gives a name
        super().writestr(name, data, *args, **kwargs)

    def write(self, filename, arcname=None, *args, **kwargs):
        self.writestr(arcname or Path(filename).name, Path(filename).read_bytes())


def _write_instructions(sheet, images: int, classes: Mapping[str, str], title: str) -> str:
    """Fill the instructions sheet; return the range of entity names the drop-down lists."""
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([])
    for line in (
        f"This packet holds {images} skin lesion images in random order; some are AI-generated "
        "and some are real.",
        "For each row of the sheet 'answers' (a click on the image_id opens the image; or use "
        "index.html in a web browser):",
        "  1. entity: choose the diagnostic entity from the drop-down list;",
        f"  2. source: choose {SOURCES[0]} or {SOURCES[1]}.",
        "Answer every image, then return this file (or the answers.csv that index.html exports).",
    ):
        sheet.append([line])
    sheet.append([])
    sheet.append(["", "entity", "code"])
    header = sheet.max_row
    for cell in sheet[header]:
        cell.font = Font(bold=True)
    for k, (code, name) in enumerate(classes.items(), start=1):
        sheet.append([k, name, code])
    sheet.column_dimensions["A"].width = 6
    sheet.column_dimensions["B"].width = max(len(n) for n in classes.values()) + 4
    return f"{INSTRUCTIONS_SHEET}!$B${header + 1}:$B${sheet.max_row}"


@dataclass(frozen=True)
class _Row:
    line: int  # the spreadsheet row, header = 1
    values: dict[str, str]
    places: dict[str, str]  # column -> "cell B7" (xlsx) or "column 'entity'" (csv)


def read_answers(path: str | Path, key: pd.DataFrame, classes: Mapping[str, str]) -> pd.DataFrame:
    """A filled answer sheet (.xlsx, or the page's .csv export) checked against the key.

    Returns image_id, class, predicted_class (codes), source, predicted_source, in key order.
    The first fault in sheet order is a DataError naming the row (and the cell); unanswered
    images are reported once every row has been read.
    """
    path = Path(path)
    if path.suffix.lower() == ".xlsx":
        rows = _xlsx_rows(path)
    elif path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
    else:
        raise DataError(path, "expected an answer sheet ending in .xlsx or .csv")
    entity_codes = {name.strip().casefold(): code for code, name in classes.items()}
    entity_codes |= {code.strip().casefold(): code for code in classes}
    known = set(key["image_id"])
    seen: dict[str, int] = {}
    predicted: dict[str, tuple[str, str]] = {}
    for row in rows:
        if not any(row.values.values()):
            continue  # a blank row, as spreadsheets leave
        image_id = row.values["image_id"]
        fault = _faults(path, row)
        if not image_id:
            raise fault("image_id", "empty image_id")
        if image_id not in known:
            raise fault("image_id", f"unknown image_id {image_id!r}: not in this packet's key")
        if image_id in seen:
            first = seen[image_id]
            raise fault("image_id", f"image_id {image_id!r} answered twice (first on line {first})")
        seen[image_id] = row.line
        entity = row.values["entity"]
        if not entity:
            raise fault("entity", f"no entity given for {image_id!r}")
        if entity.casefold() not in entity_codes:
            raise fault(
                "entity",
                f"unknown entity {entity!r}; expected one of {list(classes.values())} "
                f"(or a code: {list(classes)})",
            )
        source = row.values["source"]
        if not source:
            raise fault("source", f"no source given for {image_id!r}")
        if source.casefold() not in SOURCE_SPELLINGS:
            raise fault("source", f"unknown source {source!r}; expected one of {list(SOURCES)}")
        predicted[image_id] = (entity_codes[entity.casefold()], SOURCE_SPELLINGS[source.casefold()])
    missing = [i for i in key["image_id"] if i not in predicted]
    if missing:
        listed = ", ".join(missing[:MISSING_LISTED])
        more = (
            f" (and {len(missing) - MISSING_LISTED} more)" if len(missing) > MISSING_LISTED else ""
        )
        raise DataError(path, f"{len(missing)} image(s) of the packet not answered: {listed}{more}")
    answers = key[["image_id", "class", "source"]].reset_index(drop=True).copy()
    answers["predicted_class"] = [predicted[i][0] for i in answers["image_id"]]
    answers["predicted_source"] = [predicted[i][1] for i in answers["image_id"]]
    return answers[["image_id", "class", "predicted_class", "source", "predicted_source"]]


def _faults(path: Path, row: _Row):
    """An error naming the row and cell of `column`: fault(column, message)."""

    def fault(column: str, message: str) -> DataError:
        return DataError(path, f"{row.places[column]}: {message}", line=row.line)

    return fault


def _columns(path: Path, header: Sequence[object]) -> dict[str, int]:
    """Where each answer column is in the header row (any order, any case)."""
    names = [str(h).strip().casefold() if h is not None else "" for h in header]
    missing = [c for c in ANSWER_COLUMNS if c not in names]
    if missing:
        found = [n for n in names if n]
        raise DataError(path, f"missing column(s) {missing}; found columns {found}", line=1)
    return {c: names.index(c) for c in ANSWER_COLUMNS}


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _xlsx_rows(path: Path) -> Iterator[_Row]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as err:
        raise DataError(path, f"cannot read as .xlsx: {err}") from err
    try:
        if ANSWERS_SHEET not in book.sheetnames:
            raise DataError(path, f"no sheet {ANSWERS_SHEET!r}; found sheets {book.sheetnames}")
        table = list(book[ANSWERS_SHEET].iter_rows(values_only=True))
    finally:
        book.close()
    if not table:
        raise DataError(path, f"sheet {ANSWERS_SHEET!r} is empty")
    columns = _columns(path, table[0])
    for line, cells in enumerate(table[1:], start=2):
        yield _Row(
            line,
            {c: _text(cells[i]) if i < len(cells) else "" for c, i in columns.items()},
            {c: f"cell {get_column_letter(i + 1)}{line}" for c, i in columns.items()},
        )


def _csv_rows(path: Path) -> Iterator[_Row]:
    if not path.is_file():
        raise DataError(path, "file not found")
    # utf-8-sig: a CSV saved by Excel starts with a byte-order mark
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            raise DataError(path, "empty file")
        columns = _columns(path, header)
        places = {c: f"column {c!r}" for c in columns}
        for cells in reader:
            values = {c: _text(cells[i]) if i < len(cells) else "" for c, i in columns.items()}
            yield _Row(reader.line_num, values, places)

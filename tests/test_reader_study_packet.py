"""dermsynth.reader_study.packet: a blinded, seeded packet whose key is kept apart."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from PIL import Image

from dermsynth.errors import DataError
from dermsynth.reader_study.packet import build_packet, opaque_ids

CLASSES = {
    "akiec": "actinic keratoses and intraepithelial carcinoma",
    "mel": "melanoma",
    "nv": "melanocytic nevi",
}
SYNTHETIC_PER_CLASS, REAL_PER_CLASS, SIZE = 2, 3, 12
ID = re.compile(r"img-[0-9a-f]{6}")


def colour(source: int, cls: int, i: int) -> tuple[int, int, int]:
    """A flat colour of its own for each input image, to tell them apart in the packet."""
    return (30 + 60 * cls, 60 + 120 * source, 10 + 25 * i)


def make_inputs(folder: Path, per_class: tuple[int, int] = (4, 5)) -> tuple[Path, Path]:
    """A synthetic manifest (16 px squares) and a real set (24 x 18 px), flat colours."""
    synthetic, real = [], []
    for c, code in enumerate(CLASSES):
        for i in range(per_class[0]):
            file = folder / "synthetic" / code / f"{code}_{i:06d}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), colour(0, c, i)).save(file)
            synthetic.append({"file": str(file), "class": code, "index": i})
        for i in range(per_class[1]):
            file = folder / "real" / f"ISIC_{c}{i:05d}.png"
            file.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (24, 18), colour(1, c, i)).save(file)
            real.append({"id": file.stem, "file": str(file), "class": code})
    pd.DataFrame(synthetic).to_csv(folder / "synthetic.csv", index=False)
    pd.DataFrame(real).to_csv(folder / "real.csv", index=False)
    return folder / "synthetic.csv", folder / "real.csv"


def build(folder: Path, inputs: tuple[Path, Path], seed: int = 0, **changes) -> pd.DataFrame:
    settings = (
        dict(
            classes=CLASSES,
            synthetic_per_class=SYNTHETIC_PER_CLASS,
            real_per_class=REAL_PER_CLASS,
            image_size=SIZE,
            seed=seed,
            title="Reader study (test)",
        )
        | changes
    )
    return build_packet(*inputs, folder / "packet", folder / "key.csv", **settings)


@pytest.fixture
def inputs(tmp_path) -> tuple[Path, Path]:
    return make_inputs(tmp_path / "inputs")


def packet_files(packet: Path) -> dict[str, bytes]:
    return {str(p.relative_to(packet)): p.read_bytes() for p in packet.rglob("*") if p.is_file()}


def png_chunks(data: bytes) -> list[bytes]:
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


def test_packet_draws_the_requested_images_per_class_and_source(tmp_path, inputs):
    key = build(tmp_path, inputs)
    counts = key.groupby(["class", "source"]).size().unstack()
    assert counts.to_dict() == {
        "AI-generated": dict.fromkeys(CLASSES, SYNTHETIC_PER_CLASS),
        "real": dict.fromkeys(CLASSES, REAL_PER_CLASS),
    }
    assert key["original_file"].is_unique
    assert list(key["name"]) == [CLASSES[c] for c in key["class"]]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "key.csv", dtype=str), key)


def test_packet_images_are_square_rgb_and_show_the_keyed_original(tmp_path, inputs):
    key = build(tmp_path, inputs)
    for row in key.itertuples():
        with Image.open(tmp_path / "packet" / "images" / f"{row.image_id}.png") as image:
            assert (image.format, image.mode, image.size) == ("PNG", "RGB", (SIZE, SIZE))
            shown = np.asarray(image).reshape(-1, 3).mean(axis=0)
        with Image.open(row.original_file) as original:
            np.testing.assert_allclose(shown, original.getpixel((0, 0)), atol=1)


def test_packet_ids_are_opaque_unique_and_name_every_image(tmp_path, inputs):
    key = build(tmp_path, inputs)
    assert all(ID.fullmatch(i) for i in key["image_id"])
    assert key["image_id"].is_unique
    assert sorted(packet_files(tmp_path / "packet")) == sorted(
        ["answer_sheet.xlsx", "index.html"] + [f"images/{i}.png" for i in key["image_id"]]
    )


def test_packet_pngs_carry_no_metadata(tmp_path, inputs):
    build(tmp_path, inputs)
    for path in (tmp_path / "packet" / "images").iterdir():
        assert png_chunks(path.read_bytes()) == [b"IHDR", b"IDAT", b"IEND"]


def test_no_class_source_or_original_file_leaks_into_the_packet(tmp_path, inputs):
    key = build(tmp_path, inputs)
    page = (tmp_path / "packet" / "index.html").read_text()
    names = " ".join(packet_files(tmp_path / "packet"))
    for word in [*CLASSES, "AI-generated", "real", "synthetic", "ISIC"]:
        assert word not in names
    for file in key["original_file"]:
        assert Path(file).name not in page
    # the page's data are the ids in packet order; the options are the same for every packet
    data = re.search(r'<script id="packet" type="application/json">(.*?)</script>', page, re.S)
    assert set(json.loads(data.group(1))) == {"storageKey", "ids", "columns"}
    assert json.loads(data.group(1))["ids"] == list(key["image_id"])
    sheet = load_workbook(tmp_path / "packet" / "answer_sheet.xlsx")["answers"]
    assert [cell.value for cell in sheet["B"][1:] + sheet["C"][1:]] == [None] * 2 * len(key)


def test_page_differs_between_packets_only_by_their_ids(tmp_path, inputs):
    pages = []
    for seed in (0, 1):
        key = build(tmp_path / str(seed), inputs, seed=seed)
        page = (tmp_path / str(seed) / "packet" / "index.html").read_text()
        page = re.sub(r'"storageKey": "[^"]*"', "", page)
        for k, image_id in enumerate(key["image_id"]):
            page = page.replace(image_id, f"id{k}")
        pages.append(page)
    assert pages[0] == pages[1]


def test_same_seed_gives_an_identical_packet_and_another_seed_another_order(tmp_path, inputs):
    build(tmp_path / "a", inputs, seed=3)
    build(tmp_path / "b", inputs, seed=3)
    other = build(tmp_path / "c", inputs, seed=4)
    assert (tmp_path / "a" / "key.csv").read_bytes() == (tmp_path / "b" / "key.csv").read_bytes()
    files = [packet_files(tmp_path / run / "packet") for run in "ab"]
    for name in files[0]:
        if name != "answer_sheet.xlsx":  # an .xlsx holds the time it was saved
            assert files[0][name] == files[1][name], name
    first = pd.read_csv(tmp_path / "a" / "key.csv")
    assert list(first["original_file"]) != list(other["original_file"])


def test_packet_order_mixes_classes_and_sources(tmp_path, inputs):
    key = build(tmp_path, inputs)
    # sorted by class or source, the packet would read as blocks: a shuffle breaks them up
    assert list(key["class"]) != sorted(key["class"])
    assert list(key["source"]) != sorted(key["source"])


def test_input_row_order_does_not_change_the_draw(tmp_path, inputs):
    key = build(tmp_path / "a", inputs)
    shuffled = []
    for path in inputs:
        table = pd.read_csv(path).sample(frac=1, random_state=7)
        table.to_csv(tmp_path / path.name, index=False)
        shuffled.append(tmp_path / path.name)
    pd.testing.assert_frame_equal(build(tmp_path / "b", tuple(shuffled)), key)


def test_too_few_images_of_a_class_is_a_data_error_naming_the_class_and_file(tmp_path, inputs):
    real = pd.read_csv(inputs[1])
    real.drop(real.index[real["class"] == "mel"][2:]).to_csv(inputs[1], index=False)
    with pytest.raises(DataError, match=r"real\.csv: class 'mel' \(melanoma\): 2 real image"):
        build(tmp_path, inputs, real_per_class=3)
    assert not (tmp_path / "packet").exists()


def test_a_class_absent_from_the_inputs_is_a_data_error(tmp_path, inputs):
    classes = CLASSES | {"vasc": "vascular lesions"}
    with pytest.raises(DataError, match=r"synthetic\.csv: class 'vasc' .*: 0 AI-generated"):
        build(tmp_path, inputs, classes=classes)


def test_a_missing_image_fails_naming_its_row_and_leaves_nothing(tmp_path, inputs):
    synthetic = pd.read_csv(inputs[0])
    Path(synthetic["file"][1]).unlink()
    with pytest.raises(DataError, match=r"synthetic\.csv, line 3: cannot read image"):
        build(tmp_path, inputs, synthetic_per_class=4)
    assert not (tmp_path / "packet").exists()
    assert not (tmp_path / "key.csv").exists()


def test_answer_sheet_has_one_row_per_image_and_drop_downs(tmp_path, inputs):
    key = build(tmp_path, inputs)
    book = load_workbook(tmp_path / "packet" / "answer_sheet.xlsx")
    assert book.sheetnames == ["answers", "instructions"]
    sheet = book["answers"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("image_id", "entity", "source")
    assert [r[0] for r in rows[1:]] == list(key["image_id"])
    assert sheet.freeze_panes == "A2"
    last = len(key) + 1
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    assert lists[f"C2:C{last}"] == '"AI-generated,real"'
    # the entity drop-down lists the names on the instructions sheet
    where, cells = lists[f"B2:B{last}"].split("!")
    first, end = cells.replace("$", "").split(":")
    names = [c.value for row in book[where][first:end] for c in row]
    assert names == list(CLASSES.values())


def test_the_key_may_not_lie_inside_the_packet(tmp_path, inputs):
    with pytest.raises(ValueError, match="outside the packet"):
        build_packet(
            *inputs,
            tmp_path / "packet",
            tmp_path / "packet" / "key.csv",
            classes=CLASSES,
            synthetic_per_class=1,
            real_per_class=1,
            image_size=SIZE,
            seed=0,
            title="t",
        )


def test_opaque_ids_never_spell_a_class_code():
    plain = opaque_ids(2000, np.random.default_rng(0))
    assert any("df" in i[4:] for i in plain)  # hex spells "df": without `avoid`, ids do
    ids = opaque_ids(2000, np.random.default_rng(0), avoid=["bcc", "DF"])
    assert len(set(ids)) == 2000
    assert not any("df" in i[4:] or "bcc" in i[4:] for i in ids)


def test_an_image_listed_twice_is_a_data_error_naming_its_row(tmp_path, inputs):
    real = pd.read_csv(inputs[1])
    pd.concat([real, real.iloc[[4]]]).to_csv(inputs[1], index=False)
    with pytest.raises(
        DataError, match=r"real\.csv, line 17: image .*ISIC_000004\.png listed twice"
    ):
        build(tmp_path, inputs)

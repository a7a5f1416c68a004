"""dermsynth.io: a write either happens whole or leaves the old file as it was."""

from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from dermsynth.errors import DataError
from dermsynth.io import atomic_directory, atomic_path, read_table, write_csv


class Interrupted(Exception):
    """Stands for whatever stops a rule half-way."""


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# --- atomic_path ----------------------------------------------------------------------------


def test_atomic_path_replaces_the_file_when_the_body_succeeds(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
        assert target.read_text() == "old"  # not visible until the body ends
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["table.csv"]


def test_atomic_path_leaves_the_old_file_intact_when_the_body_raises(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(Interrupted), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise Interrupted
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["table.csv"]  # no temporary file left beside it


def test_atomic_path_writes_nothing_when_the_body_raises_before_any_file_existed(tmp_path):
    with pytest.raises(Interrupted), atomic_path(tmp_path / "new" / "table.csv") as tmp:
        tmp.write_text("half")
        raise Interrupted
    assert os.listdir(tmp_path / "new") == []


def test_atomic_path_gives_the_file_the_mode_a_plain_open_would(tmp_path, umask_022):
    (tmp_path / "plain.csv").write_text("x")
    with atomic_path(tmp_path / "atomic.csv") as tmp:
        tmp.write_text("x")
    assert mode(tmp_path / "atomic.csv") == mode(tmp_path / "plain.csv") == 0o644


# --- atomic_directory -----------------------------------------------------------------------


def test_atomic_directory_replaces_the_whole_directory_when_the_body_succeeds(tmp_path):
    target = tmp_path / "images"
    target.mkdir()
    (target / "old.png").write_text("old")
    with atomic_directory(target) as staging:
        (staging / "new.png").write_text("new")
        assert os.listdir(target) == ["old.png"]
    assert os.listdir(target) == ["new.png"]
    assert os.listdir(tmp_path) == ["images"]


def test_atomic_directory_leaves_the_old_directory_intact_when_the_body_raises(tmp_path):
    target = tmp_path / "images"
    target.mkdir()
    (target / "old.png").write_text("old")
    with pytest.raises(Interrupted), atomic_directory(target) as staging:
        (staging / "new.png").write_text("half")
        raise Interrupted
    assert os.listdir(target) == ["old.png"]
    assert (target / "old.png").read_text() == "old"
    assert os.listdir(tmp_path) == ["images"]  # no staging directory left beside it


def test_atomic_directory_creates_nothing_when_the_body_raises(tmp_path):
    with pytest.raises(Interrupted), atomic_directory(tmp_path / "images") as staging:
        (staging / "a.png").write_text("half")
        raise Interrupted
    assert os.listdir(tmp_path) == []


def test_atomic_directory_gives_the_directory_the_mode_a_plain_mkdir_would(tmp_path, umask_022):
    (tmp_path / "plain").mkdir()
    with atomic_directory(tmp_path / "atomic"):
        pass
    assert mode(tmp_path / "atomic") == mode(tmp_path / "plain") == 0o755


# --- write_csv / read_table -----------------------------------------------------------------


def test_write_csv_writes_no_index_column(tmp_path):
    write_csv(pd.DataFrame({"image_id": ["a", "b"], "label": ["mel", "nv"]}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "image_id,label\na,mel\nb,nv\n"


def test_read_table_reads_every_value_as_the_string_in_the_file(tmp_path):
    (tmp_path / "t.csv").write_text("image_id,skin_type,age\n007,,45.0\nNA,-1,\n")
    table = read_table(tmp_path / "t.csv", ["image_id"])
    assert table.to_dict("list") == {
        "image_id": ["007", "NA"],
        "skin_type": ["", "-1"],
        "age": ["45.0", ""],
    }


def test_read_table_drops_a_leading_index_column_when_told_to(tmp_path):
    (tmp_path / "t.csv").write_text(",DDI_ID,disease\n5,1,a\n9,2,b\n")
    table = read_table(tmp_path / "t.csv", ["DDI_ID"], index_col=0)
    assert list(table.columns) == ["DDI_ID", "disease"]
    assert list(table.index) == [0, 1]


def test_read_table_names_the_missing_columns_and_the_file(tmp_path):
    path = tmp_path / "HAM10000_metadata.csv"
    path.write_text("lesion_id,image_id\nHAM_1,ISIC_1\n")
    with pytest.raises(DataError) as err:
        read_table(path, ["lesion_id", "dx", "image_id", "age"])
    assert str(err.value).startswith(f"{path}: missing column(s) ['dx', 'age']")
    assert err.value.path == str(path)


def test_read_table_names_a_file_that_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="file not found") as err:
        read_table(tmp_path / "absent.csv", [])
    assert err.value.path == str(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    "content",
    [b"a,b\n1,2\n1,2,3,4\n", b"a,b\n\xff\xfe,1\n"],
    ids=["ragged-row", "not-utf8"],
)
def test_read_table_names_a_file_it_cannot_parse(tmp_path, content):
    path = tmp_path / "t.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match="cannot parse as CSV") as err:
        read_table(path, ["a"])
    assert err.value.path == str(path)


# --- save_torch / write_json ---------------------------------------------------------------


def test_save_torch_gives_the_same_bytes_for_the_same_object_and_loads_back(tmp_path):
    import torch

    from dermsynth.io import save_torch

    state = {"weights": torch.arange(6.0).reshape(2, 3), "step": 7, "settings": {"lr": 1e-5}}
    save_torch(state, tmp_path / "a" / "model.pt")
    save_torch(state, tmp_path / "b" / "model.pt")  # torch.save to a path names its records
    save_torch(state, tmp_path / "b" / "other.pt")  # after the file: not so here
    first = (tmp_path / "a" / "model.pt").read_bytes()
    assert first == (tmp_path / "b" / "model.pt").read_bytes()
    assert first == (tmp_path / "b" / "other.pt").read_bytes()
    loaded = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    assert torch.equal(loaded["weights"], state["weights"])
    assert (loaded["step"], loaded["settings"]) == (7, {"lr": 1e-5})
    assert sorted(os.listdir(tmp_path / "b")) == ["model.pt", "other.pt"]  # no temporary file


class Unpicklable:
    def __reduce__(self):
        raise Interrupted


def test_save_torch_leaves_the_old_file_intact_when_pickling_fails(tmp_path):
    from dermsynth.io import save_torch

    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(Interrupted):
        save_torch({"step": 1, "half": Unpicklable()}, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["model.pt"]


def test_write_json_writes_indented_json_ending_in_a_newline(tmp_path):
    from dermsynth.io import write_json

    write_json({"train_seconds": 1.5, "epoch_seconds": [0.5, 1.0]}, tmp_path / "timing.json")
    text = (tmp_path / "timing.json").read_text()
    assert text.endswith("}\n") and json.loads(text) == {
        "train_seconds": 1.5,
        "epoch_seconds": [0.5, 1.0],
    }


def test_image_is_readable_only_for_a_whole_decodable_image(tmp_path):
    from PIL import Image

    from dermsynth.io import image_is_readable

    whole = tmp_path / "whole.png"
    Image.new("RGB", (16, 16), (200, 10, 10)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:40])  # a write killed half way
    assert image_is_readable(whole)
    assert not image_is_readable(cut)
    assert not image_is_readable(tmp_path / "never_written.png")


def test_float_columns_read_numbers_blank_as_nan_and_name_a_bad_cell():
    import math

    from dermsynth.io import float_columns

    table = pd.DataFrame({"row": ["a", "b"], "f1": ["0.5", ""], "note": ["x", "y"]})
    values = float_columns(table, ["f1"], "paper.csv")
    assert values["f1"][0] == 0.5 and math.isnan(values["f1"][1])
    with pytest.raises(DataError, match=r"paper.csv.*line 3.*f1: not a number: 'n/a'"):
        float_columns(table.assign(f1=["0.5", "n/a"]), ["f1"], "paper.csv")

"""dermsynth.data.released: the index of a folder of the authors' shards (written here as their
scripts write them: tests/released_fixtures.py) lists every sample once with our method-variant,
reading the json members only, and stops naming the shard and key of a sample it cannot take;
the demo's stand-in shards are in exactly their layout."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from released_fixtures import (
    MAPPING,
    authors_sample,
    authors_shard_name,
    authors_tar,
    write_authors_release,
)

from dermsynth.data.released import (
    demo_variant,
    index_released,
    released_references,
    write_demo_release,
)
from dermsynth.design.released import INDEX_COLUMNS, JSON_FIELDS
from dermsynth.errors import DataError
from dermsynth.images import load_rgb

SOURCES = [("aa11", "psoriasis"), ("bb22", "psoriasis"), ("cc33", "lichen-planus")]


def pixels(md5: str, generation: str) -> np.ndarray:
    seed = sum(map(ord, md5)) * 100 + int(generation)
    return np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)


@pytest.fixture
def release(tmp_path):
    folder = tmp_path / "synthetic-derm-1M-train"
    write_authors_release(folder, SOURCES, "finetune_text_to_image", "text-to-image", pixels)
    write_authors_release(
        folder / "more",
        SOURCES[:1],
        "pretrained_inpaint",
        "inpaint-outpaint",
        pixels,
        generations=("00",),
        tag="generations2",
    )
    return folder


def test_the_index_lists_every_sample_with_our_method_variant(release):
    index = index_released(release, MAPPING)
    assert list(index.columns) == INDEX_COLUMNS and len(index) == 3 * 3 + 1
    assert index["key"].is_unique
    row = index[index["md5hash"] == "cc33"].sort_values("generation_num").iloc[1]
    assert row["tar"].endswith(
        authors_shard_name("lichen-planus", "finetune_text_to_image", "text-to-image", 0)
    )
    assert row["member"] == f"{row['key']}.png"
    assert row[["label", "method", "submethod", "generation_num", "tag", "source"]].tolist() == [
        "lichen-planus",
        "finetune_text_to_image",
        "text-to-image",
        "01",
        "generations1",
        "text2img-dreambooth",
    ]
    np.testing.assert_array_equal(
        load_rgb(f"{row['tar']}#{row['member']}", 8), pixels("cc33", "01")
    )
    assert set(index.loc[index["method"] == "pretrained_inpaint", "source"]) == {
        "inoutpaint-pretrained"
    }
    tagged = index_released(release, MAPPING, tags=["generations2"])
    assert list(tagged["source"]) == ["inoutpaint-pretrained"]


def test_a_sources_references_are_its_images_of_the_classes_asked(release, tmp_path):
    path = tmp_path / "index.csv"
    index_released(release, MAPPING).to_csv(path, index=False)
    references = released_references(path, "text2img-dreambooth", ["psoriasis"])
    assert len(references) == 2 * 3  # two psoriasis images, three generations each
    assert all(".tar#psoriasis_finetune_text_to_image_" in r for r in references)
    assert released_references(path, "inoutpaint-pretrained", ["lichen-planus"]) == []


def test_the_index_reads_the_json_members_only(release, monkeypatch):
    read = []
    original = tarfile.TarFile.extractfile

    def spy(self, member):
        read.append(member.name)
        return original(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    index_released(release, MAPPING)
    assert read and all(name.endswith(".json") for name in read)


def test_a_method_the_table_does_not_map_is_an_error_naming_the_shard_and_key(release):
    mapping = {k: v for k, v in MAPPING.items() if k != "pretrained_inpaint"}
    with pytest.raises(
        DataError,
        match=r"shard-psoriasis-pretrained-inpaint-inpaint-outpaint-"
        r"00000\.tar, key psoriasis_pretrained_inpaint_inpaint_outpaint_"
        r"generations2_00_aa11: method 'pretrained_inpaint'",
    ):
        index_released(release, mapping)


def test_a_sample_without_its_json_or_a_field_is_an_error_naming_the_shard_and_key(tmp_path):
    sample = authors_sample("psoriasis", "finetune_inpaint", "inpaint", "g1", "00", "aa", b"x")
    record = json.loads(sample["json"])
    del record["generation_num"]
    authors_tar(tmp_path / "shard-a.tar", [{**sample, "json": json.dumps(record).encode()}])
    with pytest.raises(
        DataError,
        match=r"shard-a\.tar, key .*_aa: json lacks field\(s\) "
        r"\['generation_num'\]",
    ):
        index_released(tmp_path, MAPPING)
    authors_tar(tmp_path / "shard-a.tar", [{"__key__": "lonely", "png": b"x"}])
    with pytest.raises(DataError, match=r"shard-a\.tar, key lonely: a sample needs a png and"):
        index_released(tmp_path, MAPPING)


def test_an_empty_or_missing_folder_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match="no WebDataset shard"):
        index_released(tmp_path, MAPPING)
    with pytest.raises(DataError, match=r"nowhere: folder of the authors' released shards"):
        index_released(tmp_path / "nowhere", MAPPING)


def test_the_demo_release_is_in_exactly_the_authors_layout(tmp_path):
    training = tmp_path / "training.csv"
    pd.DataFrame(
        {"md5hash": ["aa11", "bb22", "cc33"], "label": ["psoriasis", "lichen planus", "psoriasis"]}
    ).to_csv(training, index=False)
    images = tmp_path / "images"
    images.mkdir()
    for i, md5 in enumerate(["aa11", "bb22", "cc33"]):
        array = np.full((12, 16, 3), 40 * i, np.uint8)
        array[:, 2:14] += np.arange(12, dtype=np.uint8)[:, None, None]
        Image.fromarray(array).save(images / f"{md5}.jpg", quality=95)
    settings = {
        "labels": ["psoriasis", "lichen planus"],
        "methods": [["finetune_text_to_image", "text-to-image"]],
        "generations": 3,
        "size": 8,
    }
    written = write_demo_release(training, images, tmp_path / "out", **settings)
    again = write_demo_release(training, images, tmp_path / "again", **settings)
    assert [p.name for p in written] == [
        authors_shard_name(label, "finetune_text_to_image", "text-to-image", 0)
        for label in ("psoriasis", "lichen-planus")
    ]
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]
    index = index_released(tmp_path / "out", MAPPING)
    first = index[index["md5hash"] == "cc33"].iloc[0]
    expected = authors_sample(
        "psoriasis", "finetune_text_to_image", "text-to-image", "generations1", "00", "cc33", b""
    )
    assert first["key"] == expected["__key__"]
    with tarfile.open(first["tar"]) as tar:
        record = json.loads(tar.extractfile(f"{first['key']}.json").read())
    assert list(record) == list(JSON_FIELDS) and record == json.loads(expected["json"])
    assert sorted(index.loc[index["md5hash"] == "aa11", "generation_num"]) == ["00", "01", "02"]
    square = load_rgb(f"{first['tar']}#{first['key']}.png", 8)
    turned = load_rgb(f"{first['tar']}#{first['key'].replace('_00_', '_01_')}.png", 8)
    np.testing.assert_array_equal(turned, demo_variant(square, 1))

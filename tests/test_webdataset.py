"""dermsynth.webdataset and the image references of dermsynth.images: a shard is written in the
authors' layout with the same bytes for the same samples, atomically; one member is read by its
key through the member offsets; every image reader opens `<tar>#<member>` as it opens a file;
a shard packs its work folder and a rerun reuses what a finished shard holds."""

from __future__ import annotations

import json
import tarfile
import time

import numpy as np
import pytest
from released_fixtures import authors_sample, authors_tar

from dermsynth.data.png import encode_png
from dermsynth.errors import DataError
from dermsynth.images import image_exists, image_stem, load_rgb, open_rgb
from dermsynth.webdataset import (
    image_ref,
    iter_samples,
    json_member,
    member_index,
    pack_shard,
    read_member,
    split_ref,
    work_folder,
    write_tar,
)


def pixels(seed: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def samples(count: int = 3) -> list[tuple[str, dict]]:
    return [
        (f"img{i}_00{i}", {"png": encode_png(pixels(i)), "json": json_member({"name": i})})
        for i in range(count)
    ]


def test_a_reference_is_the_tar_a_hash_and_the_member_and_a_plain_path_is_none():
    ref = image_ref("results/x/shard-0.tar", "abc_000.png")
    assert ref == "results/x/shard-0.tar#abc_000.png"
    assert split_ref(ref) == ("results/x/shard-0.tar", "abc_000.png")
    assert split_ref("results/x/abc_000.png") is None
    assert split_ref("odd#name/abc.png") is None  # a '#' not after .tar is part of a path


def test_the_same_samples_give_the_same_bytes_whatever_their_order_and_time(tmp_path):
    first = write_tar(tmp_path / "a.tar", samples())
    time.sleep(0.01)
    second = write_tar(tmp_path / "b.tar", list(reversed(samples())))
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        names = tar.getnames()
        infos = tar.getmembers()
    # sorted by key, each sample's json then png, as webdataset's TarWriter writes them
    assert names == [f"img{i}_00{i}.{ext}" for i in range(3) for ext in ("json", "png")]
    assert {(m.mode, m.uname, m.gname, m.uid, m.gid, m.mtime) for m in infos} == {
        (0o444, "bigdata", "bigdata", 0, 0, 0)
    }


def test_our_headers_are_the_authors_but_for_the_time(tmp_path):
    image = encode_png(pixels(0))
    long_key = authors_sample(
        "squamous-cell-carcinoma",
        "finetune_text_to_image",
        "text-to-image",
        "generations1",
        "00",
        "0" * 32,
        image,
    )
    assert len(long_key["__key__"]) > 100  # their names need pax headers
    theirs = authors_tar(tmp_path / "theirs.tar", [long_key])
    ours = write_tar(
        tmp_path / "ours.tar",
        [(long_key["__key__"], {"png": long_key["png"], "json": long_key["json"]})],
    )
    with tarfile.open(theirs) as a, tarfile.open(ours) as b:
        for mine, their in zip(b.getmembers(), a.getmembers(), strict=True):
            same = {"mtime": 0, "chksum": 0}  # the time, and the checksum that covers it
            assert mine.get_info() | same == their.get_info() | same
            assert mine.pax_headers == {"path": their.name}  # theirs add the time: a float
            assert their.pax_headers == {"path": their.name, "mtime": str(their.mtime)}
        assert b.extractfile(long_key["__key__"] + ".png").read() == image


def test_a_failed_write_leaves_no_tar_and_no_temporary_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_tar(tmp_path / "a.tar", [("k", {"png": tmp_path / "missing.png"})])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="no dots"):
        write_tar(tmp_path / "a.tar", [("k.1", {"png": b""})])
    with pytest.raises(ValueError, match="given twice"):
        write_tar(tmp_path / "a.tar", [("k", {"png": b""}), ("k", {"json": b""})])


def test_one_member_is_read_by_its_key_at_its_offset(tmp_path):
    tar = write_tar(tmp_path / "a.tar", samples())
    index = member_index(tar)
    assert set(index) == {f"img{i}_00{i}.{e}" for i in range(3) for e in ("json", "png")}
    offset, size = index["img1_001.png"]
    assert tar.read_bytes()[offset : offset + size] == encode_png(pixels(1))
    assert read_member(tar, "img2_002.json") == b'{"name": 2}'
    with pytest.raises(DataError, match=r"a\.tar#img9_009\.png: no member 'img9_009\.png'"):
        read_member(tar, "img9_009.png")
    with pytest.raises(DataError, match=r"b\.tar: WebDataset shard not found"):
        read_member(tmp_path / "b.tar", "img1_001.png")


def test_a_rewritten_tar_is_indexed_again(tmp_path):
    tar = write_tar(tmp_path / "a.tar", samples(1))
    assert "img0_000.png" in member_index(tar)
    write_tar(tar, samples(3)[2:])
    assert "img2_002.png" in member_index(tar) and "img0_000.png" not in member_index(tar)


def test_open_rgb_and_load_rgb_read_a_tar_reference_as_a_file(tmp_path):
    tar = write_tar(tmp_path / "a.tar", samples())
    ref = image_ref(tar, "img1_001.png")
    np.testing.assert_array_equal(load_rgb(ref, 8), pixels(1))
    assert open_rgb(ref).size == (8, 8)
    assert load_rgb(ref, 4).shape == (4, 4, 3)  # resized as a file is
    assert image_exists(ref) and not image_exists(image_ref(tar, "img9_009.png"))
    assert image_stem(ref) == "img1_001" == image_stem(tmp_path / "img1_001.png")
    with pytest.raises(DataError, match=r"a\.tar#img1_001\.json: cannot decode image"):
        load_rgb(image_ref(tar, "img1_001.json"), 8)
    with pytest.raises(DataError, match="no member"):
        open_rgb(image_ref(tar, "img9_009.png"))


def test_samples_stream_grouped_by_key_and_unread_members_are_none(tmp_path):
    sample = authors_sample("psoriasis", "pretrained_inpaint", "inpaint", "g", "01", "ab", b"png")
    tar = authors_tar(tmp_path / "theirs.tar", [sample])
    (read,) = iter_samples(tar)
    assert read.key == sample["__key__"]
    assert read.members == {"json": sample["json"], "png": b"png"}
    (skipped,) = iter_samples(tar, read=("json",))
    assert skipped.members == {"json": sample["json"], "png": None}


def test_a_shard_packs_its_work_folder_then_removes_it_or_keeps_loose_pngs(tmp_path):
    tar = tmp_path / "shard-0.tar"
    work = work_folder(tar)
    assert work == tmp_path / "shard-0.work"
    work.mkdir()
    for i in range(2):
        (work / f"k{i}.png").write_bytes(encode_png(pixels(i)))
    pack_shard(tar, work, {"k0": {"name": "k0.png"}, "k1": {"name": "k1.png"}})
    assert not work.exists()
    assert json.loads(read_member(tar, "k1.json")) == {"name": "k1.png"}
    # a rerun of a finished shard takes its images from the tar, and gives the same bytes
    before = tar.read_bytes()
    pack_shard(tar, work, {"k0": {"name": "k0.png"}, "k1": {"name": "k1.png"}})
    assert tar.read_bytes() == before
    with pytest.raises(DataError, match=r"k2\.png: image of shard .*shard-0\.tar missing"):
        pack_shard(tar, work, {"k2": {}})
    work.mkdir()
    (work / "k0.png").write_bytes(encode_png(pixels(0)))
    pack_shard(tar, work, {"k0": {}}, loose_png=True)
    assert (tmp_path / "shard-0" / "k0.png").is_file() and not work.exists()

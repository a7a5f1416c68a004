"""dermsynth.fetch.dataverse against a local server answering as Dataverse's Native and Data
Access APIs do (tests/http_server.py serve_dataverse)."""

from __future__ import annotations

import hashlib
import zipfile

import pytest
import requests
from http_server import serve_dataverse, serving, zip_of

from dermsynth.errors import DataError
from dermsynth.fetch.dataverse import find_file, list_files, unpack_flat
from dermsynth.fetch.download import FetchError

DOI = "doi:10.7910/DVN/DBW86T"
METADATA = b"lesion_id,image_id,dx,dx_type,age,sex,localization\n"


@pytest.fixture
def server(monkeypatch):
    yield from serving(monkeypatch)


def test_the_listing_gives_each_file_its_published_checksum_and_its_original(server):
    archive = zip_of({"a.jpg": b"a"})
    serve_dataverse(
        server, DOI, {"HAM10000_metadata.csv": METADATA, "part_1.zip": archive},
        tabular=["HAM10000_metadata.csv"],
    )  # fmt: skip
    files = list_files(server.root, DOI, ":latest-published", requests.Session())

    table = find_file(files, "HAM10000_metadata", "HAM10000")  # as the dataset page names it
    assert table.names == (
        "HAM10000_metadata.tab",
        "HAM10000_metadata.tab",
        "HAM10000_metadata.csv",
    )
    assert table.url(server.root).endswith(f"/api/access/datafile/{table.id}?format=original")
    assert requests.get(table.url(server.root)).content == METADATA  # the bytes uploaded
    assert (table.checksum.algorithm, table.checksum.value, table.checksum.origin) == (
        "md5", hashlib.md5(METADATA).hexdigest(), "published",
    )  # fmt: skip
    images = find_file(files, "part_1.zip", "HAM10000")
    assert images.url(server.root).endswith(f"/api/access/datafile/{images.id}")


def test_a_name_the_listing_lacks_fails_naming_the_names_it_has(server):
    serve_dataverse(server, DOI, {"part_1.zip": b"PK"})
    files = list_files(server.root, DOI, ":latest-published", requests.Session())
    with pytest.raises(
        FetchError, match=r"no file named 'part_2.zip'; the dataset lists \['part_1.zip'\]"
    ):
        find_file(files, "part_2.zip", "HAM10000")


def test_a_listing_that_fails_names_its_url(server):
    with pytest.raises(FetchError, match=r"HTTP 404 .*/api/datasets/:persistentId/versions/"):
        list_files(server.root, DOI, ":latest-published", requests.Session())


def test_an_archive_is_unpacked_flat_into_one_folder(tmp_path):
    archive = tmp_path / "part_1.zip"
    archive.write_bytes(
        zip_of({"HAM10000_images_part_1/ISIC_1.jpg": b"1", "ISIC_2.jpg": b"2", "__MACOSX/._x": b""})
    )
    assert unpack_flat(archive, tmp_path / "images") == 2
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["ISIC_1.jpg", "ISIC_2.jpg"]


def test_two_files_of_one_name_stop_the_unpacking_and_leave_no_folder(tmp_path):
    archive = tmp_path / "part_1.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a/ISIC_1.jpg", b"1")
        zipped.writestr("b/ISIC_1.jpg", b"2")
    with pytest.raises(DataError, match="two files named ISIC_1.jpg"):
        unpack_flat(archive, tmp_path / "images")
    assert not (tmp_path / "images").exists()

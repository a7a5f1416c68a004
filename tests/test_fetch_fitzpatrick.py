"""dermsynth.fetch.fitzpatrick: Fitzpatrick17k's images from their atlas URLs (here a local
server), what could not be had in missing.csv, a rerun that resumes, and ingestion after."""

from __future__ import annotations

import pandas as pd
import pytest
from http_server import fitzpatrick17k_csv, jpeg, serving

from dermsynth.data.ingest import ingest_fitzpatrick17k
from dermsynth.fetch.download import Retry
from dermsynth.fetch.fitzpatrick import fetch_images

FAST = Retry(attempts=3, backoff_s=0.01)
CLASSES = ["psoriasis", "lichen planus"]


@pytest.fixture
def server(monkeypatch):
    yield from serving(monkeypatch)


def atlas(server) -> list[tuple[str, str, str]]:
    """Six rows of the two classes and one of another label: two images load, one is gone
    (404), one's server fails on every try (500), one has no URL, one URL answers a page."""
    server.add("/img/1.jpg", jpeg(1))
    server.add("/img/2.jpg", jpeg(2), faults=["500"])  # a passing fault: retried
    server.add("/img/4.jpg", jpeg(4), faults=["500"] * FAST.attempts)
    server.add("/img/5.jpg", "<html>no such image</html>")
    server.add("/img/6.jpg", jpeg(6))
    return [
        ("a" * 32, "psoriasis", server.url("/img/1.jpg")),
        ("b" * 32, "psoriasis", server.url("/img/2.jpg")),
        ("c" * 32, "psoriasis", server.url("/img/3.jpg")),  # never added: 404
        ("d" * 32, "lichen planus", server.url("/img/4.jpg")),
        ("e" * 32, "lichen planus", ""),
        ("f" * 32, "lichen planus", server.url("/img/5.jpg")),
        ("0" * 32, "eczema", server.url("/img/6.jpg")),  # not a class of the config
    ]


def fetch(server, root):
    return fetch_images(
        root / "fitzpatrick17k.csv", root / "images", root / "missing.csv",
        labels=CLASSES, jobs=3, retry=FAST, progress=False,
    )  # fmt: skip


def test_images_land_as_md5hash_jpg_and_the_rest_is_listed_with_why(server, tmp_path):
    (tmp_path / "fitzpatrick17k.csv").write_bytes(fitzpatrick17k_csv(atlas(server)))
    got = fetch(server, tmp_path)

    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "a" * 32 + ".jpg",
        "b" * 32 + ".jpg",
    ]
    assert (tmp_path / "images" / ("a" * 32 + ".jpg")).read_bytes() == jpeg(1)
    missing = pd.read_csv(tmp_path / "missing.csv", dtype=str, keep_default_na=False)
    assert list(missing.columns) == ["md5hash", "url", "reason"]
    reasons = dict(zip(missing["md5hash"], missing["reason"], strict=True))
    assert reasons == {
        "c" * 32: "HTTP 404",
        "d" * 32: "HTTP 500",
        "e" * 32: "no url in the CSV",
        "f" * 32: "not an image",
    }
    assert (got.fetched, got.present, len(got.missing)) == (2, 0, 4)
    assert server.ranges("/img/6.jpg") == []  # eczema is not a class: not fetched
    assert len(server.ranges("/img/3.jpg")) == 1  # a 404 is not retried
    assert len(server.ranges("/img/4.jpg")) == FAST.attempts


def test_a_rerun_skips_the_images_in_place_and_tries_the_missing_again(server, tmp_path):
    (tmp_path / "fitzpatrick17k.csv").write_bytes(fitzpatrick17k_csv(atlas(server)))
    fetch(server, tmp_path)
    server.add("/img/3.jpg", jpeg(3))  # back online
    server.requests.clear()

    got = fetch(server, tmp_path)
    assert server.ranges("/img/1.jpg") == [] and server.ranges("/img/2.jpg") == []
    assert (tmp_path / "images" / ("c" * 32 + ".jpg")).read_bytes() == jpeg(3)
    assert (tmp_path / "images" / ("d" * 32 + ".jpg")).read_bytes() == jpeg(4)  # its 500s over
    missing = pd.read_csv(tmp_path / "missing.csv", dtype=str)
    assert sorted(missing["md5hash"]) == ["e" * 32, "f" * 32]  # rewritten, not appended to
    assert (got.fetched, got.present, len(got.missing)) == (2, 2, 2)


def test_ingestion_with_missing_images_skip_reads_what_the_fetch_got(server, tmp_path):
    (tmp_path / "fitzpatrick17k.csv").write_bytes(fitzpatrick17k_csv(atlas(server)))
    server.add("/img/4.jpg", jpeg(4))  # so that both classes keep an image
    fetch(server, tmp_path)

    ingested = ingest_fitzpatrick17k(tmp_path, CLASSES, "{label}", missing_images="skip")
    assert sorted(ingested.pairs["image_id"]) == ["a" * 32, "b" * 32, "d" * 32]
    assert sorted(ingested.missing["md5hash"]) == ["c" * 32, "e" * 32, "f" * 32]

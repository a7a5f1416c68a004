"""dermsynth.fetch.download against a real HTTP server on 127.0.0.1 (tests/http_server.py):
resume by Range, retries, final errors, and digests checked before anything lands."""

from __future__ import annotations

import hashlib

import pytest
from http_server import serving

from dermsynth.fetch.download import Digest, DigestMismatch, FetchError, Retry, fetch_url

FAST = Retry(attempts=4, backoff_s=0.01)
PAYLOAD = bytes(range(256)) * 1200  # 300 KB: several 64 KiB blocks, so a cut keeps some


@pytest.fixture
def server(monkeypatch):
    yield from serving(monkeypatch)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_cut_transfer_resumes_with_a_range_request_and_lands_whole(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["cut"])
    outcome = fetch_url(url, tmp_path / "base.pt", retry=FAST, progress=False)

    ranges = server.ranges("/w/base.pt")
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < len(PAYLOAD)  # the bytes that arrived before the cut were kept
    assert (tmp_path / "base.pt").read_bytes() == PAYLOAD
    assert outcome.status == "fetched" and outcome.sha256 == sha256(PAYLOAD)
    assert not (tmp_path / "base.pt.part").exists()


def test_a_part_left_by_an_earlier_run_is_resumed(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD)
    (tmp_path / "base.pt.part").write_bytes(PAYLOAD[:1000])
    fetch_url(url, tmp_path / "base.pt", retry=FAST, progress=False)
    assert server.ranges("/w/base.pt") == ["bytes=1000-"]
    assert (tmp_path / "base.pt").read_bytes() == PAYLOAD


def test_a_part_that_already_holds_every_byte_is_checked_and_put_in_place(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD)
    (tmp_path / "base.pt.part").write_bytes(PAYLOAD)
    expected = Digest("sha256", sha256(PAYLOAD), "locked")
    outcome = fetch_url(url, tmp_path / "base.pt", [expected], retry=FAST, progress=False)
    assert server.ranges("/w/base.pt") == [f"bytes={len(PAYLOAD)}-"]  # answered 416
    assert outcome.check == "locked" and (tmp_path / "base.pt").read_bytes() == PAYLOAD


def test_a_server_that_ignores_the_range_is_read_from_the_first_byte(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["ignore_range"])
    (tmp_path / "base.pt.part").write_bytes(b"stale bytes of another try")
    fetch_url(url, tmp_path / "base.pt", retry=FAST, progress=False)
    assert server.ranges("/w/base.pt") == ["bytes=26-"]  # asked, answered 200 with everything
    assert (tmp_path / "base.pt").read_bytes() == PAYLOAD


def test_a_500_is_retried_and_then_succeeds(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["500", "500"])
    fetch_url(url, tmp_path / "base.pt", retry=FAST, progress=False)
    assert len(server.ranges("/w/base.pt")) == 3
    assert (tmp_path / "base.pt").read_bytes() == PAYLOAD


def test_a_500_on_every_try_gives_up_after_the_last(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["500"] * 4)
    with pytest.raises(FetchError, match="gave up after 4 tries: HTTP 500") as error:
        fetch_url(url, tmp_path / "base.pt", retry=FAST, progress=False)
    assert error.value.status == 500 and not (tmp_path / "base.pt").exists()


def test_a_404_fails_at_once_naming_the_url_and_the_destination(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["404"])
    dest = tmp_path / "base.pt"
    with pytest.raises(FetchError) as error:
        fetch_url(url, dest, retry=FAST, progress=False)
    assert error.value.status == 404
    assert url in str(error.value) and str(dest) in str(error.value)
    assert len(server.ranges("/w/base.pt")) == 1  # a 404 is not retried
    assert not dest.exists()


def test_wrong_bytes_fail_naming_file_and_digests_and_nothing_lands(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD, faults=["wrong"])
    dest = tmp_path / "base.pt"
    expected = Digest("sha256", sha256(PAYLOAD), "locked")
    with pytest.raises(DigestMismatch) as error:
        fetch_url(url, dest, [expected], retry=FAST, progress=False)
    message = str(error.value)
    wrong = bytes(b ^ 0xFF for b in PAYLOAD)
    assert str(dest) in message and sha256(PAYLOAD) in message and sha256(wrong) in message
    assert not dest.exists() and not (tmp_path / "base.pt.part").exists()


def test_a_published_sha256_prefix_is_checked_as_torchvision_names_its_files(server, tmp_path):
    prefix = sha256(PAYLOAD)[:8]  # efficientnet_v2_m-dc08266a.pth: the sha256's first 8
    name = f"efficientnet_v2_m-{prefix}.pth"
    published = Digest("sha256", prefix, "published", prefix=True)
    url = server.add(f"/models/{name}", PAYLOAD)
    outcome = fetch_url(url, tmp_path / name, [published], retry=FAST, progress=False)
    assert outcome.check == "published"

    other = Digest("sha256", "0" * 8, "published", prefix=True)
    with pytest.raises(DigestMismatch, match=r"expected sha256 00000000\.\.\. \(published\)"):
        fetch_url(url, tmp_path / "other.pth", [other], retry=FAST, progress=False)
    assert not (tmp_path / "other.pth").exists()


def test_a_file_in_place_with_its_digest_is_not_downloaded_again(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD)
    dest = tmp_path / "base.pt"
    dest.write_bytes(PAYLOAD)
    outcome = fetch_url(url, dest, [Digest("sha256", sha256(PAYLOAD), "locked")], progress=False)
    assert outcome.status == "verified" and outcome.check == "locked"
    assert server.requests == []


def test_a_file_in_place_with_other_bytes_is_replaced_by_the_checked_download(server, tmp_path):
    url = server.add("/w/base.pt", PAYLOAD)
    dest = tmp_path / "base.pt"
    dest.write_bytes(b"an older file")
    outcome = fetch_url(url, dest, [Digest("sha256", sha256(PAYLOAD), "locked")], progress=False)
    assert outcome.status == "fetched" and dest.read_bytes() == PAYLOAD

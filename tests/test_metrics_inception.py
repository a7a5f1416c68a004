"""dermsynth.metrics.inception: the seeded stand-in network, the weights' description, and the
feature cache. Four 32 x 32 images: torch-fidelity resizes every input to 299 px, ~0.25 s each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from dermsynth.data.png import write_png
from dermsynth.errors import DataError
from dermsynth.images import load_rgb
from dermsynth.metrics import inception
from dermsynth.metrics.images import thumbnail
from dermsynth.metrics.inception import (
    describe_weights,
    extract_features,
    load_features,
    load_inception,
    write_random_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")
NOTE = "seeded random InceptionV3 (demo)"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("inception") / "random-0.pth"
    write_random_weights(path, seed=0)
    return path


@pytest.fixture(scope="module")
def image_set(tmp_path_factory) -> Path:
    """A synthetic manifest (no id column) of four 32 px images, listed out of id order."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for stem, cls in [("nv-1", "nv"), ("mel-2", "mel"), ("mel-1", "mel"), ("nv-0", "nv")]:
        write_png(root / f"{stem}.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        rows.append({"file": str(root / f"{stem}.png"), "class": cls})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def features(image_set, weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("features") / "features.npz"
    # batch size 3: one full batch and a remainder of one
    returned = extract_features(
        image_set,
        out,
        image_size=32,
        weights=weights,
        weights_note=NOTE,
        batch_size=3,
        device="cpu",
    )
    return returned, out


# --- the seeded random network ----------------------------------------------------------------


def test_random_weights_are_the_same_for_the_same_seed_and_differ_between_seeds(weights, tmp_path):
    write_random_weights(tmp_path / "again-0.pth", seed=0)
    write_random_weights(tmp_path / "other-1.pth", seed=1)
    first, again, other = (
        torch.load(p, weights_only=True)
        for p in (weights, tmp_path / "again-0.pth", tmp_path / "other-1.pth")
    )
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["Conv2d_1a_3x3.conv.weight"], other["Conv2d_1a_3x3.conv.weight"])
    assert not torch.equal(first["fc.weight"], other["fc.weight"])


def test_random_weights_load_strictly_into_torch_fidelitys_inception(weights):
    # torch-fidelity's constructor calls load_state_dict(strict=True): a missing or an extra
    # key would raise here
    model = load_inception(weights, download=False, device=CPU)
    assert isinstance(model, FeatureExtractorInceptionV3)
    saved = torch.load(weights, weights_only=True)
    assert model.state_dict().keys() == saved.keys()
    assert torch.equal(model.state_dict()["fc.weight"], saved["fc.weight"])


# --- describe_weights, load_inception ---------------------------------------------------------


def test_a_weights_file_other_than_the_reference_is_described_as_not_comparable(weights):
    description, comparable = describe_weights(weights)
    assert comparable is False
    assert description.startswith("random-0.pth (sha256 ")
    assert "not comparable" in description


def test_a_weights_file_whose_sha256_starts_with_6726825d_is_comparable(tmp_path, monkeypatch):
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    path.write_bytes(b"stand-in")
    monkeypatch.setattr(inception, "file_sha256", lambda p: "6726825d" + "0" * 56)
    assert describe_weights(path) == (f"torch-fidelity FID weights ({path.name})", True)
    monkeypatch.setattr(inception, "file_sha256", lambda p: "6726825e" + "0" * 56)
    assert describe_weights(path)[1] is False


def test_sha256_of_is_the_files_sha256(tmp_path):
    (tmp_path / "x").write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert inception.file_sha256(tmp_path / "x") == expected


def test_downloaded_weights_are_described_as_the_reference():
    assert describe_weights(None) == ("torch-fidelity FID weights (downloaded)", True)


def test_no_weights_file_and_no_download_raises_naming_the_config_key():
    with pytest.raises(DataError, match="metrics.inception"):
        load_inception(None, download=False, device=CPU)


def test_a_missing_weights_file_raises_naming_it(tmp_path):
    with pytest.raises(DataError, match="nowhere.pth: Inception weights file not found"):
        load_inception(tmp_path / "nowhere.pth", download=False, device=CPU)


# --- extract_features, load_features ----------------------------------------------------------


def test_extract_features_caches_what_it_returns(features):
    returned, out = features
    loaded = load_features(out)
    for field in ("ids", "classes", "files", "pool", "logits", "thumbnails"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(returned, field))
    assert (loaded.image_size, loaded.weights, loaded.comparable) == (32, NOTE, False)


def test_extracted_features_are_in_id_order_with_one_row_per_image(features, image_set):
    loaded = load_features(features[1])
    assert loaded.ids.tolist() == ["mel-1", "mel-2", "nv-0", "nv-1"]
    assert loaded.classes.tolist() == ["mel", "mel", "nv", "nv"]
    assert [Path(f).stem for f in loaded.files] == loaded.ids.tolist()
    assert loaded.pool.shape == (4, 2048) and loaded.pool.dtype == np.float32
    assert loaded.logits.shape == (4, 1008) and loaded.logits.dtype == np.float32
    assert loaded.thumbnails.shape == (4, 32, 32, 3) and loaded.thumbnails.dtype == np.uint8


def test_thumbnails_are_of_the_decoded_images(features):
    loaded = load_features(features[1])
    for file, thumb in zip(loaded.files, loaded.thumbnails, strict=True):
        np.testing.assert_array_equal(thumb, thumbnail(load_rgb(file, 32), 32))


def test_the_random_networks_features_differ_between_images_at_a_usable_scale(features):
    # He initialisation: PyTorch's default init leaves pool3 at ~1e-8, where FID is noise
    pool = load_features(features[1]).pool
    assert np.isfinite(pool).all()
    assert pool.std(axis=0).mean() > 1e-3
    assert np.linalg.matrix_rank(pool.astype(np.float64)) == 4


def fake_forward(model, batch, device, pools, logits):
    pools.append(np.zeros((len(batch), 2048), np.float32))
    logits.append(np.zeros((len(batch), 1008), np.float32))


def test_without_a_note_the_weights_file_is_described(image_set, weights, tmp_path, monkeypatch):
    monkeypatch.setattr(inception, "_forward", fake_forward)  # the description, not the net
    result = extract_features(
        image_set, tmp_path / "f.npz", image_size=32, weights=weights, device="cpu"
    )
    assert (result.weights, result.comparable) == describe_weights(weights)


def test_an_image_gets_the_same_features_whatever_the_batch_size(
    features, image_set, weights, tmp_path
):
    one_by_one = extract_features(
        image_set,
        tmp_path / "f.npz",
        image_size=32,
        weights=weights,
        weights_note=NOTE,
        batch_size=1,
        device="cpu",
    )
    in_batches = features[0]
    np.testing.assert_allclose(one_by_one.pool, in_batches.pool, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(one_by_one.logits, in_batches.logits, rtol=1e-4, atol=1e-4)


def test_an_empty_image_set_raises(tmp_path, weights):
    (tmp_path / "empty.csv").write_text("file,class\n")
    with pytest.raises(DataError, match="empty.csv: the image set is empty"):
        extract_features(tmp_path / "empty.csv", tmp_path / "f.npz", image_size=32, weights=weights)


def test_subset_keeps_the_rows_of_a_mask_in_every_field(features):
    loaded = load_features(features[1])
    part = loaded.subset(loaded.classes == "nv")
    assert part.ids.tolist() == ["nv-0", "nv-1"]
    np.testing.assert_array_equal(part.pool, loaded.pool[2:])
    np.testing.assert_array_equal(part.logits, loaded.logits[2:])
    np.testing.assert_array_equal(part.thumbnails, loaded.thumbnails[2:])
    assert part.files.tolist() == loaded.files[2:].tolist()
    assert (part.image_size, part.weights, part.comparable) == (32, NOTE, False)

"""dermsynth.metrics.memorization: the audit finds a synthetic image that copies a training
image, by features and by pixels, and leaves a dissimilar one alone.

Six 16 px training images of noise with random 64-dimensional "pool" features; synthetic
images are built from them (an exact copy, a noisy copy, a pixel copy with another image's
features) or drawn afresh (dissimilar).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermsynth.data.png import write_png
from dermsynth.metrics.images import thumbnail
from dermsynth.metrics.inception import ImageFeatures, save_features
from dermsynth.metrics.memorization import (
    COLUMNS,
    AuditSettings,
    audit_summary,
    nearest_training_images,
    run_audit,
)

SIZE = 16
DIM = 64


def noise(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def image_features(root: Path, ids, classes, pixels, pool) -> ImageFeatures:
    root.mkdir(parents=True, exist_ok=True)
    files = [str(root / f"{image_id}.png") for image_id in ids]
    for file, image in zip(files, pixels, strict=True):
        write_png(file, image)
    return ImageFeatures(
        ids=np.array(ids),
        classes=np.array(classes),
        files=np.array(files),
        pool=np.asarray(pool, np.float32),
        logits=np.zeros((len(ids), 10), np.float32),
        thumbnails=np.stack([thumbnail(image, 4) for image in pixels]),
        image_size=SIZE,
        weights="random stand-in",
        comparable=False,
    )


TRAIN_IDS = [f"train-{i}" for i in range(6)]
TRAIN_CLASSES = ["mel", "mel", "mel", "nv", "nv", "nv"]
TRAIN_PIXELS = [noise(i) for i in range(6)]
TRAIN_POOL = np.random.default_rng(100).normal(size=(6, DIM))
NEW_POOL = np.random.default_rng(200).normal(size=(2, DIM))  # syn-other, syn-nv


@pytest.fixture
def train(tmp_path) -> ImageFeatures:
    return image_features(tmp_path / "train", TRAIN_IDS, TRAIN_CLASSES, TRAIN_PIXELS, TRAIN_POOL)


@pytest.fixture
def synthetic(tmp_path) -> ImageFeatures:
    """syn-copy: train-2 exactly; syn-other (mel) and syn-nv: new noise, new features."""
    return image_features(
        tmp_path / "syn",
        ["syn-copy", "syn-other", "syn-nv"],
        ["mel", "mel", "nv"],
        [TRAIN_PIXELS[2], noise(50), noise(51)],
        [TRAIN_POOL[2], NEW_POOL[0], NEW_POOL[1]],
    )


@pytest.fixture
def audit(synthetic, train) -> pd.DataFrame:
    return nearest_training_images(synthetic, train, AuditSettings()).set_index("synthetic_id")


def test_an_exact_copy_of_a_training_image_is_flagged_by_features_and_by_ssim(audit):
    copy = audit.loc["syn-copy"]
    assert copy["feature_nearest_id"] == "train-2"
    assert copy["feature_similarity"] == pytest.approx(1.0, abs=1e-6)
    assert copy["ssim_nearest_id"] == "train-2"
    assert copy["ssim"] == pytest.approx(1.0, abs=1e-12)
    assert copy["flag_feature"] and copy["flag_ssim"] and copy["flagged"]


def test_a_dissimilar_image_is_not_flagged(audit):
    for image_id in ["syn-other", "syn-nv"]:
        row = audit.loc[image_id]
        assert row["feature_similarity"] < 0.95 and row["ssim"] < 0.8
        assert not (row["flag_feature"] or row["flag_ssim"] or row["flagged"])


def test_the_audit_has_one_row_per_synthetic_image_with_the_nearest_ids_class(audit):
    assert audit.reset_index().columns.tolist() == COLUMNS
    assert audit.index.tolist() == ["syn-copy", "syn-other", "syn-nv"]
    assert audit["class"].tolist() == ["mel", "mel", "nv"]
    train_class = dict(zip(TRAIN_IDS, TRAIN_CLASSES, strict=True))
    for by in ("feature", "ssim"):
        nearest_classes = [train_class[i] for i in audit[f"{by}_nearest_id"]]
        assert audit[f"{by}_nearest_class"].tolist() == nearest_classes


def test_feature_similarity_is_the_cosine_of_features_centred_on_the_training_mean(audit):
    centred = TRAIN_POOL - TRAIN_POOL.mean(axis=0)
    query = NEW_POOL[0] - TRAIN_POOL.mean(axis=0)  # syn-other
    cosines = centred @ query / (np.linalg.norm(centred, axis=1) * np.linalg.norm(query))
    row = audit.loc["syn-other"]
    assert row["feature_nearest_id"] == TRAIN_IDS[int(np.argmax(cosines))]
    assert row["feature_similarity"] == pytest.approx(cosines.max(), abs=1e-6)


def test_a_pixel_copy_is_found_by_thumbnails_when_its_features_point_elsewhere(tmp_path, train):
    # pixels of train-4, features of train-0; one candidate of each kind: SSIM must look at
    # the thumbnail candidate to see the copy
    synthetic = image_features(
        tmp_path / "syn", ["syn-disguised"], ["nv"], [TRAIN_PIXELS[4]], [TRAIN_POOL[0]]
    )
    row = nearest_training_images(synthetic, train, AuditSettings(candidates=1)).iloc[0]
    assert row["feature_nearest_id"] == "train-0"
    assert row["ssim_nearest_id"] == "train-4"
    assert row["ssim"] == pytest.approx(1.0)


def near_copy(tmp_path) -> ImageFeatures:
    """train-3 with mild pixel noise (SSIM ~0.9) and slightly perturbed features."""
    rng = np.random.default_rng(300)
    pixels = np.clip(TRAIN_PIXELS[3] + rng.integers(-12, 13, (SIZE, SIZE, 3)), 0, 255)
    pool = TRAIN_POOL[3] + 0.05 * rng.normal(size=DIM)
    return image_features(tmp_path / "syn", ["syn-near"], ["nv"], [pixels.astype(np.uint8)], [pool])


@pytest.mark.parametrize(
    ("settings", "by_feature", "by_ssim"),
    [
        (AuditSettings(), True, True),
        (AuditSettings(feature_threshold=1.01), False, True),
        (AuditSettings(ssim_threshold=1.01), True, False),
        (AuditSettings(feature_threshold=1.01, ssim_threshold=1.01), False, False),
    ],
    ids=["both", "ssim only", "features only", "neither"],
)
def test_flags_compare_against_the_configured_thresholds(
    tmp_path, train, settings, by_feature, by_ssim
):
    row = nearest_training_images(near_copy(tmp_path), train, settings).iloc[0]
    assert 0.95 < row["feature_similarity"] < 1.0 and 0.8 < row["ssim"] < 1.0  # premise
    assert (row["flag_feature"], row["flag_ssim"]) == (by_feature, by_ssim)
    assert row["flagged"] == (by_feature or by_ssim)


def test_the_summary_counts_flagged_images_per_class_and_overall(audit):
    settings = AuditSettings(feature_threshold=0.9, ssim_threshold=0.7)
    summary = audit_summary(audit.reset_index(), settings).set_index("group")
    assert summary.index.tolist() == ["mel", "nv", "overall"]
    assert summary["n_synthetic"].tolist() == [2, 1, 3]
    assert summary["flagged"].tolist() == [1, 0, 1]
    assert summary["flagged_fraction"].tolist() == pytest.approx([1 / 2, 0, 1 / 3])
    assert summary.loc["mel", "ssim_max"] == pytest.approx(1.0)
    assert summary.loc["overall", "feature_similarity_max"] == pytest.approx(1.0, abs=1e-6)
    assert (summary["feature_threshold"] == 0.9).all() and (summary["ssim_threshold"] == 0.7).all()


def test_run_audit_writes_the_audit_its_summary_and_a_figure(tmp_path, synthetic, train):
    save_features(synthetic, tmp_path / "syn.npz")
    save_features(train, tmp_path / "train.npz")
    out = tmp_path / "out"
    settings = replace(AuditSettings(), closest_pairs=2)
    run_audit(
        tmp_path / "syn.npz",
        tmp_path / "train.npz",
        out / "audit.csv",
        out / "summary.csv",
        out / "closest.png",
        settings=settings,
        run="demo",
        method="glide",
    )
    audit = pd.read_csv(out / "audit.csv")
    summary = pd.read_csv(out / "summary.csv")
    assert audit["synthetic_id"].tolist() == ["syn-copy", "syn-other", "syn-nv"]
    assert audit["flagged"].tolist() == [True, False, False]
    assert summary[["run", "method", "group", "flagged"]].values.tolist() == [
        ["demo", "glide", "mel", 1],
        ["demo", "glide", "nv", 0],
        ["demo", "glide", "overall", 1],
    ]
    assert (summary["inception_weights"] == "random stand-in").all()
    assert (out / "closest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""Memorization audit: does the generator copy its training images?

For each synthetic image, its nearest training image in Inception feature space (cosine
similarity of pool3 features, centred on the training mean) and by pixel SSIM, with a flag
above configured thresholds.
SSIM is computed at full resolution on candidates: the nearest training images by feature
similarity and by 32x32 thumbnail distance (`candidates` of each), since SSIM against every
training image is out of reach at paper scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from skimage.metrics import structural_similarity
from tqdm import tqdm

from dermsynth.images import load_rgb
from dermsynth.io import write_csv
from dermsynth.metrics.inception import ImageFeatures, load_features

COLUMNS = [
    "synthetic_id",
    "class",
    "feature_nearest_id",
    "feature_nearest_class",
    "feature_similarity",
    "ssim_nearest_id",
    "ssim_nearest_class",
    "ssim",
    "flag_feature",
    "flag_ssim",
    "flagged",
]


@dataclass(frozen=True)
class AuditSettings:
    """config metrics.memorization."""

    feature_threshold: float = 0.95  # cosine similarity of Inception pool3 features
    ssim_threshold: float = 0.8
    candidates: int = 10
    closest_pairs: int = 8  # shown in the figure


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def nearest_training_images(
    synthetic: ImageFeatures, train: ImageFeatures, settings: AuditSettings
) -> pd.DataFrame:
    """One row per synthetic image: its nearest training image by features and by SSIM."""
    # centred on the training mean: pool3 features are all positive, so raw cosines of
    # unrelated images are already high
    centre = train.pool.astype(np.float64).mean(axis=0)
    similarity = _unit_rows(synthetic.pool - centre) @ _unit_rows(train.pool - centre).T
    thumbs_train = train.thumbnails.reshape(len(train.ids), -1).astype(np.float32)
    size = synthetic.image_size

    @lru_cache(maxsize=4096)
    def train_pixels(index: int) -> np.ndarray:
        return load_rgb(train.files[index], size)

    k = min(settings.candidates, len(train.ids))
    rows = []
    for i in tqdm(range(len(synthetic.ids)), desc="memorization audit", unit="img"):
        by_feature = np.argsort(-similarity[i], kind="stable")[:k]
        query = synthetic.thumbnails[i].reshape(-1).astype(np.float32)
        by_pixels = np.argsort(((thumbs_train - query) ** 2).mean(axis=1), kind="stable")[:k]
        pixels = load_rgb(synthetic.files[i], size)
        best_ssim, best_index = -np.inf, -1
        for j in sorted(set(by_feature.tolist()) | set(by_pixels.tolist())):
            value = structural_similarity(pixels, train_pixels(j), channel_axis=2, data_range=255)
            if value > best_ssim:
                best_ssim, best_index = value, j
        nearest = int(by_feature[0])
        flag_feature = bool(similarity[i, nearest] >= settings.feature_threshold)
        flag_ssim = bool(best_ssim >= settings.ssim_threshold)
        rows.append(
            {
                "synthetic_id": synthetic.ids[i],
                "class": synthetic.classes[i],
                "feature_nearest_id": train.ids[nearest],
                "feature_nearest_class": train.classes[nearest],
                "feature_similarity": float(similarity[i, nearest]),
                "ssim_nearest_id": train.ids[best_index],
                "ssim_nearest_class": train.classes[best_index],
                "ssim": float(best_ssim),
                "flag_feature": flag_feature,
                "flag_ssim": flag_ssim,
                "flagged": flag_feature or flag_ssim,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def audit_summary(audit: pd.DataFrame, settings: AuditSettings) -> pd.DataFrame:
    """Per class and overall: how many synthetic images are flagged, and the closest values."""

    def summarise(group: str, rows: pd.DataFrame) -> dict[str, object]:
        return {
            "group": group,
            "n_synthetic": len(rows),
            "flagged": int(rows["flagged"].sum()),
            "flagged_fraction": float(rows["flagged"].mean()),
            "feature_similarity_median": float(rows["feature_similarity"].median()),
            "feature_similarity_max": float(rows["feature_similarity"].max()),
            "ssim_median": float(rows["ssim"].median()),
            "ssim_max": float(rows["ssim"].max()),
            "nearest_same_class_fraction": float(
                (rows["feature_nearest_class"] == rows["class"]).mean()
            ),
            "feature_threshold": settings.feature_threshold,
            "ssim_threshold": settings.ssim_threshold,
        }

    records = [summarise(cls, rows) for cls, rows in audit.groupby("class", sort=False)]
    records.append(summarise("overall", audit))
    return pd.DataFrame(records)


def run_audit(
    synthetic_features: str | Path,
    train_features: str | Path,
    audit_path: str | Path,
    summary_path: str | Path,
    figure_path: str | Path,
    *,
    settings: AuditSettings,
    run: str,
    method: str,
) -> pd.DataFrame:
    """The audit table, its per-class summary, and a figure of the closest pairs."""
    from dermsynth.metrics.figures import plot_closest_pairs

    synthetic, train = load_features(synthetic_features), load_features(train_features)
    audit = nearest_training_images(synthetic, train, settings)
    summary = audit_summary(audit, settings)
    summary.insert(0, "method", method)
    summary.insert(0, "run", run)
    summary["inception_weights"] = synthetic.weights
    write_csv(audit, audit_path)
    write_csv(summary, summary_path)
    plot_closest_pairs(
        audit, synthetic, train, figure_path, count=settings.closest_pairs, run=run, method=method
    )
    return audit

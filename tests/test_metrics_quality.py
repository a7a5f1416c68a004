"""dermsynth.metrics.quality: paper 1's Table 1 from hand-built features and tiny image files.

Two classes present of the three configured (config order nv, mel, bcc; bcc has no synthetic
images), 6 synthetic and 8 real 16 px images of each, 8-dimensional "pool" features and
10 logits drawn at random: the table's bookkeeping, not Inception, is under test here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dermsynth.data.png import write_png
from dermsynth.errors import DataError
from dermsynth.metrics.images import load_rgb, thumbnail
from dermsynth.metrics.inception import ImageFeatures, save_features
from dermsynth.metrics.quality import (
    METRICS,
    QualitySettings,
    paper_values,
    quality_table,
    score_synthetic_set,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = {"nv": "Melanocytic nevi", "mel": "Melanoma", "bcc": "Basal cell carcinoma"}
SIZE = 16
N_SYNTHETIC, N_REAL = 6, 8
SETTINGS = QualitySettings(bootstrap=60, prdc_k=2, is_splits=2, seed=0)
REFERENCE = Path(__file__).resolve().parents[1] / "resources/reference/shavlokhova2023_table1.csv"


def image_features(
    root: Path,
    prefix: str,
    per_class: dict[str, int],
    seed: int,
    *,
    pixels: list[np.ndarray] | None = None,
    comparable: bool = False,
) -> ImageFeatures:
    """Features of an image set whose images are written to `root` (random unless given)."""
    rng = np.random.default_rng(seed)
    classes = np.array([cls for cls, n in per_class.items() for _ in range(n)])
    ids = np.array([f"{prefix}-{cls}-{i}" for i, cls in enumerate(classes)])
    if pixels is None:
        pixels = [rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8) for _ in ids]
    root.mkdir(parents=True, exist_ok=True)
    files = np.array([str(root / f"{image_id}.png") for image_id in ids])
    for file, image in zip(files, pixels, strict=True):
        write_png(file, image)
    shift = np.where(classes == "mel", 1.0, 0.0)[:, None]  # classes apart in feature space
    return ImageFeatures(
        ids=ids,
        classes=classes,
        files=files,
        pool=(rng.normal(size=(len(ids), 8)) + shift).astype(np.float32),
        logits=rng.normal(size=(len(ids), 10)).astype(np.float32),
        thumbnails=np.stack([thumbnail(image, 4) for image in pixels]),
        image_size=SIZE,
        weights="random stand-in",
        comparable=comparable,
    )


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> tuple[ImageFeatures, ImageFeatures]:
    root = tmp_path_factory.mktemp("quality")
    # listed mel first: the table must still follow the config's order
    synthetic = image_features(root / "syn", "syn", {"mel": N_SYNTHETIC, "nv": N_SYNTHETIC}, 1)
    real = image_features(root / "real", "real", {"mel": N_REAL, "nv": N_REAL, "bcc": 3}, 2)
    return synthetic, real


def table_of(synthetic, real, settings=SETTINGS, reference=None) -> pd.DataFrame:
    table, _ = quality_table(
        synthetic, real, classes=CLASSES, settings=settings, reference=reference,
        run="test", method="glide",
    )  # fmt: skip
    return table


@pytest.fixture(scope="module")
def table(sets) -> pd.DataFrame:
    return table_of(*sets).set_index("group")


def test_one_row_per_present_class_in_config_order_then_overall_and_class_mean(table):
    assert table.index.tolist() == ["nv", "mel", "overall", "class_mean"]
    assert table["name"].tolist() == [
        "Melanocytic nevi",
        "Melanoma",
        "all images pooled",
        "mean of the class rows",
    ]
    assert (table["run"] == "test").all() and (table["method"] == "glide").all()


def test_sample_sizes_of_each_row(table):
    sizes = table[["n_synthetic", "n_real", "n_pairs"]]
    assert sizes.loc["nv"].tolist() == [N_SYNTHETIC, N_REAL, N_SYNTHETIC]
    assert sizes.loc["mel"].tolist() == [N_SYNTHETIC, N_REAL, N_SYNTHETIC]
    # pooled: every image of the set, including the real bcc images no synthetic class uses
    assert sizes.loc["overall"].tolist() == [2 * N_SYNTHETIC, 2 * N_REAL + 3, 2 * N_SYNTHETIC]
    assert sizes.loc["class_mean"].tolist() == [2 * N_SYNTHETIC, 2 * N_REAL, 2 * N_SYNTHETIC]


@pytest.mark.parametrize("metric", METRICS)
def test_class_mean_is_the_mean_of_the_class_rows(table, metric):
    assert np.isfinite(table.loc[["nv", "mel"], metric]).all()
    expected = table.loc[["nv", "mel"], metric].mean()
    assert table.loc["class_mean", metric] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("metric", METRICS)
def test_every_interval_is_finite_and_ordered(table, metric):
    low, high = table[f"{metric}_low"], table[f"{metric}_high"]
    assert np.isfinite(low).all() and np.isfinite(high).all()
    assert (low <= high).all()


@pytest.mark.parametrize("metric", METRICS)
def test_every_interval_contains_its_value(table, metric):
    # FID, IS and PRDC shift when images are resampled with duplicates: the intervals are
    # recentred on the estimate, so that they hold it like those of the unbiased metrics
    assert (table[f"{metric}_low"] <= table[metric]).all()
    assert (table[metric] <= table[f"{metric}_high"]).all()


def test_the_settings_used_are_in_every_row(table):
    assert (table["pairing"] == "random_same_class").all()
    assert (table["pixel_scale"] == "unit").all()
    assert table["pixel_scale_note"].str.startswith("pixels on [0,1]").all()
    assert (table["image_size"] == SIZE).all()
    assert (table["bootstrap_resamples"] == 60).all() and (table["confidence_level"] == 0.95).all()
    assert (table["inception_weights"] == "random stand-in").all()
    assert not table["comparable_with_literature"].any()


def test_other_settings_are_named_in_the_table(sets):
    settings = replace(SETTINGS, pairing="nearest_same_class", pixel_scale="paper_compat")
    table = table_of(*sets, replace(settings, bootstrap=2))
    assert (table["pairing"] == "nearest_same_class").all()
    assert (table["pixel_scale"] == "paper_compat").all()
    assert table["pixel_scale_note"].str.startswith("paper_compat").all()


def test_synthetic_copies_of_real_images_have_ssim_1_and_mse_0_in_every_class(tmp_path):
    real = image_features(tmp_path / "real", "real", {"mel": 4, "nv": 4}, 3)
    pixels = [load_rgb(file, SIZE) for file in real.files]
    synthetic = image_features(tmp_path / "syn", "syn", {"mel": 4, "nv": 4}, 4, pixels=pixels)
    settings = replace(SETTINGS, pairing="nearest_same_class", bootstrap=5, prdc_k=1)
    table, pairs = quality_table(
        synthetic, real, classes=CLASSES, settings=settings, reference=None, run="t", method="m"
    )
    # each copy is paired with its original (identical thumbnails)
    assert [s.replace("syn", "real") for s in pairs["synthetic_id"]] == pairs["real_id"].tolist()
    table = table.set_index("group")
    assert (table.loc[["nv", "mel", "overall", "class_mean"], "ssim"] == 1.0).all()
    assert (table.loc[["nv", "mel", "overall", "class_mean"], "mse"] == 0.0).all()


def test_the_pairs_table_pairs_each_synthetic_image_with_a_real_image_of_its_class(sets):
    synthetic, real = sets
    _, pairs = quality_table(
        synthetic, real, classes=CLASSES, settings=SETTINGS, reference=None, run="t", method="m"
    )
    assert sorted(pairs["synthetic_id"]) == sorted(synthetic.ids)
    real_class = dict(zip(real.ids, real.classes, strict=True))
    assert [real_class[r] for r in pairs["real_id"]] == pairs["class"].tolist()
    assert (pairs["synthetic_id"].str.split("-").str[1] == pairs["class"]).all()


def test_paper_values_sit_beside_ours_with_the_papers_overall_on_class_mean(sets, tmp_path):
    reference = tmp_path / "paper.csv"
    reference.write_text(
        "class,ssim,psnr,mse,fid,is\n"
        "mel,0.2,60.1,0.07,115.2,1.36\n"
        "nv,0.3,61.0,0.06,99.3,1.47\n"
        "overall,0.25,61.8,0.065,107.2,1.42\n"
    )
    table = table_of(*sets, replace(SETTINGS, bootstrap=2), reference=reference)
    table = table.set_index("group")
    assert table.index.tolist() == ["nv", "mel", "overall", "class_mean"]
    paper = table[["paper_ssim", "paper_psnr", "paper_mse", "paper_fid", "paper_is"]]
    assert paper.loc["mel"].tolist() == [0.2, 60.1, 0.07, 115.2, 1.36]
    assert paper.loc["nv"].tolist() == [0.3, 61.0, 0.06, 99.3, 1.47]
    assert paper.loc["class_mean"].tolist() == [0.25, 61.8, 0.065, 107.2, 1.42]
    assert paper.loc["overall"].isna().all()  # the paper has no pooled row


def test_the_shipped_paper_table_1_reads_with_its_overall_row_as_class_mean():
    paper = paper_values(REFERENCE).set_index("group")
    assert paper.index.tolist() == ["mel", "nv", "akiec", "bkl", "bcc", "df", "vasc", "class_mean"]
    assert paper.loc["class_mean", "paper_mse"] == 0.0525
    assert paper.loc["class_mean", "paper_fid"] == pytest.approx(187.1278)


def test_a_synthetic_class_not_in_config_raises(sets, tmp_path):
    synthetic, real = sets
    stray = replace(synthetic, classes=np.where(synthetic.classes == "nv", "scc", "mel"))
    with pytest.raises(DataError, match=r"classes \['scc'\] are not in config"):
        table_of(stray, real)


def test_a_synthetic_class_without_real_images_raises(sets):
    synthetic, real = sets
    with pytest.raises(DataError, match=r"no real images of classes \['nv'\]"):
        table_of(synthetic, real.subset(real.classes != "nv"))


def test_features_at_different_image_sizes_raise(sets):
    synthetic, real = sets
    with pytest.raises(ValueError, match=r"different sizes \(16 and 32 px\)"):
        table_of(synthetic, replace(real, image_size=32))


def test_comparable_with_literature_only_when_both_sets_are(sets):
    synthetic, real = sets
    settings = replace(SETTINGS, bootstrap=2)
    both = table_of(replace(synthetic, comparable=True), replace(real, comparable=True), settings)
    one = table_of(replace(synthetic, comparable=True), real, settings)
    assert both["comparable_with_literature"].all()
    assert not one["comparable_with_literature"].any()


def score_to_csv(synthetic: Path, real: Path, out: Path, settings: QualitySettings) -> bytes:
    score_synthetic_set(
        synthetic, real, out / "table.csv", out / "pairs.csv", classes=CLASSES,
        settings=settings, reference=None, run="t", method="m",
    )  # fmt: skip
    return (out / "table.csv").read_bytes() + (out / "pairs.csv").read_bytes()


def test_the_same_seed_writes_a_bit_identical_table_and_another_seed_does_not(sets, tmp_path):
    synthetic, real = sets
    save_features(synthetic, tmp_path / "syn.npz")
    save_features(real, tmp_path / "real.npz")
    settings = replace(SETTINGS, bootstrap=20)
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    first_bytes = score_to_csv(tmp_path / "syn.npz", tmp_path / "real.npz", first, settings)
    again_bytes = score_to_csv(tmp_path / "syn.npz", tmp_path / "real.npz", again, settings)
    other_bytes = score_to_csv(
        tmp_path / "syn.npz", tmp_path / "real.npz", other, replace(settings, seed=1)
    )
    assert first_bytes == again_bytes
    assert first_bytes != other_bytes

"""dermsynth.metrics.quality: paper 1's Table 1 from hand-built features and tiny image files.

Two classes present of the three configured (config order nv, mel, bcc; bcc has no synthetic
images), 6 synthetic and 8 real 16 px images of each, 8-dimensional "pool" features and
10 logits drawn at random: the table's bookkeeping, not Inception, is under test here, under
both definitions. A hand-made example of constant-colour images with 2-d features pins the
paper definitions' per-pair means, FID and IS to values computed by hand.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from dermsynth.data.png import write_png
from dermsynth.errors import DataError
from dermsynth.images import load_rgb
from dermsynth.metrics.distribution import frechet_distance
from dermsynth.metrics.images import thumbnail
from dermsynth.metrics.inception import ImageFeatures, save_features
from dermsynth.metrics.quality import (
    DEFINITIONS,
    METRICS,
    PAPER_METRICS,
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
REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "resources/reference/shavlokhova2023_table1.csv"


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
        synthetic,
        real,
        classes=CLASSES,
        settings=settings,
        reference=reference,
        run="test",
        method="glide",
    )
    return table


@pytest.fixture(scope="module", params=DEFINITIONS)
def table(sets, request) -> pd.DataFrame:
    return table_of(*sets, replace(SETTINGS, definitions=request.param)).set_index("group")


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
    assert table["definitions"].nunique() == 1 and table["definitions"].iloc[0] in DEFINITIONS
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
        synthetic,
        real,
        out / "table.csv",
        out / "pairs.csv",
        classes=CLASSES,
        settings=settings,
        reference=None,
        run="t",
        method="m",
    )
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


# --- definitions: ours | paper ---------------------------------------------------------------


def constant_image(level: int) -> np.ndarray:
    return np.full((SIZE, SIZE, 3), level, dtype=np.uint8)


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory) -> tuple[pd.DataFrame, ImageFeatures, ImageFeatures]:
    """Two synthetic and three real constant-colour mel images with 2-d pooled features.

    Nearest pairing by thumbnail pairs synthetic level 51 with real level 0 and synthetic 230
    with real 255; real 128 is nobody's partner, and its features lie far from the rest.
    """
    root = tmp_path_factory.mktemp("hand_made")
    synthetic = image_features(
        root / "syn", "syn", {"mel": 2}, 5, pixels=[constant_image(51), constant_image(230)]
    )
    real = image_features(
        root / "real",
        "real",
        {"mel": 3},
        6,
        pixels=[constant_image(0), constant_image(255), constant_image(128)],
    )
    ln3 = math.log(3)
    synthetic = replace(synthetic, pool=np.array([[0.0, 0.0], [ln3, 0.0]]))
    real = replace(real, pool=np.array([[ln3 / 2, -1.0], [ln3 / 2, 1.0], [50.0, 50.0]]))
    settings = QualitySettings(
        definitions="paper", pairing="nearest_same_class", bootstrap=5, prdc_k=1
    )
    table, pairs = quality_table(
        synthetic, real, classes=CLASSES, settings=settings, reference=None, run="t", method="m"
    )
    assert pairs["real_id"].tolist() == ["real-mel-0", "real-mel-1"]
    return table.set_index("group"), synthetic, real


def test_paper_ssim_psnr_and_mse_are_means_over_the_pairs_of_a_class(hand_made):
    table, _, _ = hand_made
    first, second = 51 / 255, 230 / 255  # each against 0 and 1
    mse = [first**2, (1 - second) ** 2]
    c1 = 0.01**2  # SSIM of constant images: the luminance term alone
    ssim = [c1 / (first**2 + c1), (2 * second + c1) / (second**2 + 1 + c1)]
    assert table.loc["mel", "mse"] == pytest.approx(np.mean(mse), rel=1e-12)
    assert table.loc["mel", "psnr"] == pytest.approx(np.mean([-10 * math.log10(m) for m in mse]))
    assert table.loc["mel", "ssim"] == pytest.approx(np.mean(ssim), rel=1e-6)


def test_paper_fid_is_between_the_synthetic_images_and_their_real_partners(hand_made):
    table, synthetic, real = hand_made
    # means equal; covariances diag((ln 3)^2 / 2, 0) and diag(0, 2), whose product is 0
    assert table.loc["mel", "fid"] == pytest.approx(math.log(3) ** 2 / 2 + 2, rel=1e-9)
    # the unpaired real image at (50, 50) would dominate a FID against all real images
    assert frechet_distance(synthetic.pool, real.pool) > 100 * table.loc["mel", "fid"]


def test_paper_is_is_over_the_softmax_of_the_pooled_features_of_the_pairs_synthetic_images(
    hand_made,
):
    table, _, _ = hand_made
    # softmaxes of (0, 0) and (ln 3, 0): (1/2, 1/2) and (3/4, 1/4); their mean (5/8, 3/8)
    kl_first = 1 / 2 * math.log((1 / 2) / (5 / 8)) + 1 / 2 * math.log((1 / 2) / (3 / 8))
    kl_second = 3 / 4 * math.log((3 / 4) / (5 / 8)) + 1 / 4 * math.log((1 / 4) / (3 / 8))
    expected = math.exp((kl_first + kl_second) / 2)  # 1.0324
    assert table.loc["mel", "is"] == pytest.approx(expected, rel=1e-12)


def test_paper_fid_of_a_class_with_a_single_pair_is_left_empty_not_invented(tmp_path):
    synthetic = image_features(tmp_path / "syn", "syn", {"mel": 1, "nv": 3}, 7)
    real = image_features(tmp_path / "real", "real", {"mel": 3, "nv": 3}, 8)
    settings = replace(SETTINGS, definitions="paper", bootstrap=5, prdc_k=1)
    table = table_of(synthetic, real, settings).set_index("group")
    assert table.loc["mel", ["fid", "fid_low", "fid_high"]].isna().all()
    assert np.isfinite(table.loc["nv", "fid"])
    assert "undefined (one image per side has no covariance)" in table.loc["mel", "fid_definition"]
    assert table.loc["mel", "is"] == 1.0  # one image is its own marginal


def test_paper_definitions_change_fid_and_is_and_nothing_else(sets):
    ours = table_of(*sets, replace(SETTINGS, bootstrap=20))
    paper = table_of(*sets, replace(SETTINGS, bootstrap=20, definitions="paper"))
    assert list(ours.columns) == list(paper.columns)
    changed = {column for column in ours.columns if not ours[column].equals(paper[column])}
    assert changed == {
        "definitions",
        "fid",
        "fid_low",
        "fid_high",
        "is",
        "is_low",
        "is_high",
        "fid_definition",
        "is_definition",
    }


def test_every_row_names_its_definitions_and_how_each_paper_metric_was_computed(sets):
    notes = {}
    for definitions in DEFINITIONS:
        table = table_of(*sets, replace(SETTINGS, definitions=definitions, bootstrap=2))
        assert (table["definitions"] == definitions).all()
        for metric in PAPER_METRICS:
            assert table[f"{metric}_definition"].nunique() == 1
            notes[definitions, metric] = table[f"{metric}_definition"].iloc[0]
    for definitions in DEFINITIONS:
        assert notes[definitions, "ssim"].startswith("mean over the group's synthetic-real pairs")
        assert "pixels on [0,1]" in notes[definitions, "psnr"]
    assert "all synthetic and all real images" in notes["ours", "fid"]
    assert "1008 class logits" in notes["ours", "is"] and "2 splits" in notes["ours", "is"]
    assert "not a mean of per-pair FIDs" in notes["paper", "fid"]
    assert "softmax over the 2048 average-pooled features" in notes["paper", "is"]
    assert "one split" in notes["paper", "is"]
    for metric in ("fid", "is"):
        assert "whose weights we cannot load" in notes["paper", metric]


@pytest.mark.parametrize(
    ("definitions", "pixel_scale", "same"),
    [
        ("ours", "unit", {"ssim": True, "psnr": False, "mse": True, "fid": False, "is": False}),
        ("ours", "uint8", {"ssim": True, "psnr": False, "mse": False, "fid": False, "is": False}),
        ("paper", "unit", {"ssim": True, "psnr": False, "mse": True, "fid": True, "is": True}),
        ("paper", "paper_compat", dict.fromkeys(PAPER_METRICS, True)),
    ],
)
def test_each_published_value_has_beside_it_whether_ours_is_computed_the_same_way(
    sets, definitions, pixel_scale, same
):
    settings = replace(SETTINGS, definitions=definitions, pixel_scale=pixel_scale, bootstrap=2)
    table = table_of(*sets, settings, reference=REFERENCE).set_index("group")
    columns = list(table.columns)
    for metric in PAPER_METRICS:
        column = f"paper_{metric}_same_definition"
        assert columns.index(column) == columns.index(f"paper_{metric}") + 1
        assert table.loc[["nv", "mel", "class_mean"], column].tolist() == [same[metric]] * 3
        assert table.loc["overall", column] is pd.NA  # the paper has no pooled row


def test_without_published_values_there_is_no_same_definition_column(table):
    assert not [column for column in table.columns if column.endswith("_same_definition")]


def test_unknown_definitions_raise(sets):
    with pytest.raises(ValueError, match=r"definitions 'keras': expected one of \('ours',"):
        table_of(*sets, replace(SETTINGS, definitions="keras"))


def test_our_definitions_are_the_default_of_both_configs_the_schema_and_the_settings():
    for name in ("config.yaml", "paper.yaml"):
        config = yaml.safe_load((REPO / "config" / name).read_text())
        assert config["metrics"]["definitions"] == "ours", name
    schema = yaml.safe_load((REPO / "config/schema/config.schema.yaml").read_text())
    entry = schema["properties"]["metrics"]["properties"]["definitions"]
    assert entry["default"] == "ours" and entry["enum"] == list(DEFINITIONS)
    assert QualitySettings().definitions == "ours"

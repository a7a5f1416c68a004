"""dermsynth.metrics.pixel: SSIM/PSNR/MSE on each declared pixel scale, and the pairing rules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from dermsynth.metrics.pixel import pair_images, pair_table, pixel_metrics

PAPER_COMPAT_OFFSET_DB = 20 * math.log10(255)  # 48.13 dB


def noise_image(side: int = 16, seed: int = 0, low: int = 20, high: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, (side, side, 3), dtype=np.uint8)


def shifted(image: np.ndarray, by: int) -> np.ndarray:
    assert int(image.max()) + by <= 255  # no clipping: every pixel moves by exactly `by`
    return image + np.uint8(by)


# --- pixel_metrics ----------------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["unit", "uint8", "paper_compat"])
def test_identical_images_have_ssim_1_mse_0_and_infinite_psnr(scale):
    image = noise_image()
    assert pixel_metrics(image, image.copy(), scale) == {"ssim": 1.0, "psnr": math.inf, "mse": 0.0}


def test_a_uniform_shift_of_10_levels_has_mse_10_over_255_squared_on_unit():
    image = noise_image()
    metrics = pixel_metrics(shifted(image, 10), image, "unit")
    assert metrics["mse"] == pytest.approx((10 / 255) ** 2, rel=1e-12)
    assert metrics["psnr"] == pytest.approx(10 * math.log10(255**2 / 100), rel=1e-12)


def test_a_uniform_shift_of_10_levels_has_mse_100_on_uint8():
    image = noise_image()
    metrics = pixel_metrics(shifted(image, 10), image, "uint8")
    assert metrics["mse"] == pytest.approx(100.0, rel=1e-12)


def test_psnr_is_the_same_on_unit_and_uint8():
    image = noise_image()
    unit = pixel_metrics(shifted(image, 10), image, "unit")
    uint8 = pixel_metrics(shifted(image, 10), image, "uint8")
    assert unit["psnr"] == pytest.approx(uint8["psnr"], rel=1e-12)
    assert unit["psnr"] == pytest.approx(28.1308, abs=1e-4)  # 10 log10(255^2 / 100)


def test_paper_compat_keeps_the_unit_mse_and_adds_48_13_db_to_the_psnr():
    image = noise_image()
    unit = pixel_metrics(shifted(image, 10), image, "unit")
    compat = pixel_metrics(shifted(image, 10), image, "paper_compat")
    assert compat["mse"] == unit["mse"]
    assert compat["ssim"] == unit["ssim"]
    assert compat["psnr"] - unit["psnr"] == pytest.approx(PAPER_COMPAT_OFFSET_DB, rel=1e-12)
    assert PAPER_COMPAT_OFFSET_DB == pytest.approx(48.13, abs=0.005)


def test_the_papers_mse_near_0_05_with_psnr_near_61_db_holds_only_under_paper_compat():
    # paper 1, Table 1 "Overall": MSE 0.0525 with PSNR 61.8 (per-class means); one pair with
    # a uniform difference of 58 levels has MSE (58/255)^2 = 0.0517, close to it
    image = noise_image(low=0, high=190)
    compat = pixel_metrics(shifted(image, 58), image, "paper_compat")
    unit = pixel_metrics(shifted(image, 58), image, "unit")
    assert compat["mse"] == pytest.approx(0.0517, abs=1e-4)
    assert compat["psnr"] == pytest.approx(10 * math.log10(255**2 / 0.0525), abs=0.1)  # 60.9
    assert unit["psnr"] == pytest.approx(12.86, abs=0.01)  # the true PSNR of that pair


def test_an_unknown_pixel_scale_raises():
    image = noise_image()
    with pytest.raises(ValueError, match="pixel scale 'percent'"):
        pixel_metrics(image, image, "percent")


def test_images_of_different_shapes_raise():
    with pytest.raises(ValueError, match="different shapes"):
        pixel_metrics(noise_image(16), noise_image(17), "unit")


def test_ssim_is_the_mean_of_the_per_channel_ssims():
    # the pair differs only in its blue channel: SSIM = (1 + 1 + s_blue) / 3
    real = noise_image(seed=1)
    synthetic = real.copy()
    synthetic[..., 2] = noise_image(seed=2)[..., 2]
    s_blue = structural_similarity(synthetic[..., 2] / 255.0, real[..., 2] / 255.0, data_range=1.0)
    assert s_blue < 0.5
    ssim = pixel_metrics(synthetic, real, "unit")["ssim"]
    assert ssim == pytest.approx((1 + 1 + s_blue) / 3, rel=1e-12)


# --- pair_images: random_same_class -----------------------------------------------------------

REAL_CLASSES = np.array(["mel", "nv", "mel", "nv", "mel", "bcc", "mel", "nv"])


def random_partners(ids, classes, seed=0, real_classes=REAL_CLASSES):
    return pair_images(
        np.asarray(ids), np.asarray(classes), real_classes, rule="random_same_class", seed=seed
    )


def test_random_pairing_always_picks_a_real_image_of_the_same_class():
    ids = [f"syn-{i}" for i in range(40)]
    classes = ["mel", "nv", "bcc", "mel"] * 10
    partners = random_partners(ids, classes)
    assert (partners >= 0).all()
    np.testing.assert_array_equal(REAL_CLASSES[partners], classes)


def test_random_pairing_of_an_image_does_not_depend_on_the_other_synthetic_images():
    ids = [f"syn-{i}" for i in range(30)]
    classes = ["mel", "nv", "mel"] * 10
    alone = [random_partners([i], [c])[0] for i, c in zip(ids, classes, strict=True)]
    together = random_partners(ids, classes)
    reversed_order = random_partners(ids[::-1], classes[::-1])[::-1]
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(reversed_order, alone)


def test_random_pairing_differs_between_seeds():
    ids = [f"syn-{i}" for i in range(30)]
    classes = ["mel"] * 30  # four mel candidates: 30 identical draws by chance is ~1e-18
    assert (random_partners(ids, classes, seed=0) != random_partners(ids, classes, seed=1)).any()


def test_random_pairing_uses_every_candidate_of_a_class():
    ids = [f"syn-{i}" for i in range(200)]
    partners = random_partners(ids, ["mel"] * 200)
    assert set(partners.tolist()) == {0, 2, 4, 6}


@pytest.mark.parametrize("rule", ["random_same_class", "nearest_same_class"])
def test_a_class_without_real_images_gets_no_partner(rule):
    thumbs = np.zeros((len(REAL_CLASSES), 4, 4, 3), np.uint8)
    partners = pair_images(
        np.array(["a", "b"]),
        np.array(["df", "mel"]),
        REAL_CLASSES,
        rule=rule,
        seed=0,
        synthetic_thumbnails=thumbs[:2],
        real_thumbnails=thumbs,
    )
    assert partners[0] == -1
    assert REAL_CLASSES[partners[1]] == "mel"


def test_an_unknown_pairing_rule_raises():
    with pytest.raises(ValueError, match="pairing 'closest'"):
        pair_images(np.array(["a"]), np.array(["mel"]), REAL_CLASSES, rule="closest", seed=0)


# --- pair_images: nearest_same_class ----------------------------------------------------------


def flat_thumbnail(level: int) -> np.ndarray:
    return np.full((4, 4, 3), level, np.uint8)


def test_nearest_pairing_picks_the_real_thumbnail_closest_in_mean_squared_difference():
    real_classes = np.array(["mel", "mel", "nv", "mel"])
    real_thumbs = np.stack([flat_thumbnail(v) for v in (10, 100, 98, 200)])
    # a synthetic mel at level 95: real 1 (100) is nearest among mels; real 2 (98, nearer) is nv
    synthetic_thumbs = np.stack([flat_thumbnail(95), flat_thumbnail(190), flat_thumbnail(0)])
    partners = pair_images(
        np.array(["a", "b", "c"]),
        np.array(["mel", "mel", "nv"]),
        real_classes,
        rule="nearest_same_class",
        seed=0,
        synthetic_thumbnails=synthetic_thumbs,
        real_thumbnails=real_thumbs,
    )
    np.testing.assert_array_equal(partners, [1, 3, 2])


# --- pair_table -------------------------------------------------------------------------------


def test_pair_table_has_one_row_per_paired_image_with_its_metrics():
    images = {"s0": noise_image(seed=0), "s1": noise_image(seed=1), "r0": noise_image(seed=0)}
    images["r1"] = shifted(images["s1"], 10)
    table = pair_table(
        np.array(["s0", "s1", "s2"]),
        np.array(["s0", "s1", "s2"]),
        np.array(["r0", "r1"]),
        np.array(["r0", "r1"]),
        np.array(["mel", "nv", "df"]),
        np.array([0, 1, -1]),  # s2 has no partner
        images.__getitem__,
        "uint8",
    )
    assert table.columns.tolist() == ["synthetic_id", "real_id", "class", "ssim", "psnr", "mse"]
    assert table[["synthetic_id", "real_id", "class"]].values.tolist() == [
        ["s0", "r0", "mel"],
        ["s1", "r1", "nv"],
    ]
    assert table["mse"].tolist() == pytest.approx([0.0, 100.0])
    assert table["ssim"].iloc[0] == 1.0

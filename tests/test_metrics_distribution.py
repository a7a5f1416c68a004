"""dermsynth.metrics.distribution: FID, KID, IS and precision/recall/density/coverage, pinned to
torch-fidelity's own functions where it has them and to hand-computed values where it has not."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kernel_poly, mmd2
from torch_fidelity.metric_prc import calculate_precision_recall_full

from dermsynth.metrics.bootstrap import bootstrap_values, counts, percentile_interval
from dermsynth.metrics.distribution import (
    KID,
    PRDC,
    frechet_distance,
    inception_score,
    knn_radii,
    pooled_inception_score,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gaussian(n: int, dim: int, seed: int, mean: float = 0.0, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, scale, (n, dim))


# --- FID --------------------------------------------------------------------------------------


def torch_fidelity_fid(a: np.ndarray, b: np.ndarray) -> float:
    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (a, b)]
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


# (n_synthetic, n_real, dim): fewer images than dimensions takes the n x n Gram route, more
# images than dimensions the d x d covariance route
FID_SHAPES = {
    "gram route": (20, 20, 64),
    "gram route, unequal sets": (20, 35, 64),
    "covariance route": (300, 300, 16),
    "covariance route, unequal sets": (300, 200, 16),
}


@pytest.mark.parametrize("shape", FID_SHAPES.values(), ids=FID_SHAPES.keys())
def test_fid_equals_torch_fidelity(shape):
    n1, n2, dim = shape
    a = gaussian(n1, dim, seed=1)
    b = gaussian(n2, dim, seed=2, mean=0.3, scale=1.5)
    assert frechet_distance(a, b) == pytest.approx(torch_fidelity_fid(a, b), rel=1e-6)


@pytest.mark.parametrize("shape", [(20, 64), (300, 16)], ids=["gram route", "covariance route"])
def test_fid_of_a_set_with_itself_is_zero(shape):
    a = gaussian(*shape, seed=3)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("shape", FID_SHAPES.values(), ids=FID_SHAPES.keys())
def test_fid_is_symmetric(shape):
    n1, n2, dim = shape
    a, b = gaussian(n1, dim, seed=4), gaussian(n2, dim, seed=5, scale=2.0)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-9)


@pytest.mark.parametrize("shape", [(20, 64), (300, 16)], ids=["gram route", "covariance route"])
def test_fid_of_a_pure_mean_shift_is_the_squared_length_of_the_shift(shape):
    a = gaussian(*shape, seed=6)
    shift = np.random.default_rng(7).normal(size=shape[1])
    assert frechet_distance(a + shift, a) == pytest.approx(shift @ shift, rel=1e-6)


def test_fid_needs_two_images_per_set():
    assert np.isnan(frechet_distance(gaussian(1, 4, seed=0), gaussian(5, 4, seed=1)))


# --- KID --------------------------------------------------------------------------------------


def torch_fidelity_kid(x: np.ndarray, y: np.ndarray) -> float:
    # as torch_fidelity.metric_kid.kernel_mmd with its defaults: (x.y / d + 1)^3, unbiased
    def kernel(a, b):
        return kernel_poly(
            a, b, kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1
        )

    return float(mmd2(kernel(x, x), kernel(x, y), kernel(y, y)))


def test_kid_equals_torch_fidelitys_unbiased_mmd2_for_equal_set_sizes():
    x, y = gaussian(40, 12, seed=1), gaussian(40, 12, seed=2, mean=0.2)
    assert KID(x, y)() == pytest.approx(torch_fidelity_kid(x, y), rel=1e-9)


def test_kid_of_unequal_sets_averages_the_kernel_over_pairs_of_distinct_points():
    x, y = gaussian(7, 5, seed=3), gaussian(11, 5, seed=4, mean=0.5)

    def k(a, b):
        return (a @ b / 5 + 1) ** 3

    within_x = np.mean([k(x[i], x[j]) for i in range(7) for j in range(7) if i != j])
    within_y = np.mean([k(y[i], y[j]) for i in range(11) for j in range(11) if i != j])
    across = np.mean([k(a, b) for a in x for b in y])
    expected = within_x + within_y - 2 * across
    assert KID(x, y)() == pytest.approx(expected, rel=1e-9)


def kid_of_a_resample_by_definition(x, y, idx, jdx) -> float:
    """Unbiased MMD^2 of the resampled sets x[idx], y[jdx], averaging the within-set kernel
    over pairs of draws of different images (a draw and its duplicate are the same image)."""

    def k(a, b):
        return (a @ b / x.shape[1] + 1) ** 3

    def within(points, draws):
        pairs = [(a, b) for a in draws for b in draws if a != b]  # a list: duplicates count
        return np.mean([k(points[a], points[b]) for a, b in pairs])

    across = np.mean([k(x[a], y[b]) for a in idx for b in jdx])
    return within(x, idx) + within(y, jdx) - 2 * across


def test_kid_weighted_by_counts_is_kid_of_the_resample_over_pairs_of_different_images():
    x, y = gaussian(9, 6, seed=5), gaussian(12, 6, seed=6, mean=0.3)
    idx = np.array([0, 0, 0, 3, 4, 4, 8, 8, 1])  # 2, 5, 6, 7 not drawn
    jdx = np.array([11, 11, 2, 2, 2, 5, 0, 7, 7, 9, 9, 1])
    assert KID(x, y)(counts(idx, 9), counts(jdx, 12)) == pytest.approx(
        kid_of_a_resample_by_definition(x, y, idx, jdx), rel=1e-9
    )


def test_kid_bootstrap_replicates_centre_on_the_unbiased_estimate_not_the_biased_mmd2():
    x, y = gaussian(30, 8, seed=7), gaussian(40, 8, seed=8, mean=0.3)
    kid = KID(x, y)
    replicates = bootstrap_values(
        lambda i, j: kid(counts(i, 30), counts(j, 40)), [30, 40], resamples=400, seed=0
    )
    biased = float(kid.k_xx.mean() + kid.k_yy.mean() - 2 * kid.k_xy.mean())  # V-statistic
    assert biased - kid() > 0.3  # far apart at this size, so the two claims below differ
    standard_error = replicates.std() / np.sqrt(len(replicates))
    assert abs(replicates.mean() - kid()) < 4 * standard_error
    low, high = percentile_interval(replicates)
    assert low < kid() < high


def test_kid_without_counts_is_kid_of_the_full_sets():
    x, y = gaussian(9, 6, seed=5), gaussian(12, 6, seed=6)
    kid = KID(x, y)
    assert kid() == kid(np.ones(9), np.ones(12))


def test_kid_of_two_samples_of_one_distribution_is_unbiased_and_small_next_to_a_shift():
    same, shifted = [], []
    for seed in range(10):
        x, y = gaussian(100, 16, seed=2 * seed), gaussian(100, 16, seed=2 * seed + 1)
        same.append(KID(x, y)())
        shifted.append(KID(x, y + 0.5)())
    assert min(same) < 0 < max(same)  # unbiased: not clipped at 0, so it scatters around it
    assert abs(np.mean(same)) < 0.02 * np.mean(shifted)
    assert max(np.abs(same)) < 0.1 * min(shifted)


def test_kid_needs_two_images_per_set():
    x, y = gaussian(3, 4, seed=0), gaussian(3, 4, seed=1)
    assert np.isnan(KID(x[:1], y)())
    assert np.isnan(KID(x, y)(np.array([0, 1, 0]), np.ones(3)))  # a resample of one draw
    assert np.isnan(KID(x, y)(np.array([0, 3, 0]), np.ones(3)))  # three draws of one image


# --- IS ---------------------------------------------------------------------------------------


def confident_logits(labels: list[int], classes: int = 1008) -> np.ndarray:
    logits = np.zeros((len(labels), classes), np.float32)
    logits[np.arange(len(labels)), labels] = 50.0  # softmax: probability 1 - 1e-19
    return logits


def test_inception_score_of_uniform_predictions_is_1():
    assert inception_score(np.zeros((20, 1008)), splits=2) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("m", [1, 3, 8])
def test_inception_score_of_confident_predictions_spread_evenly_over_m_classes_is_m(m):
    logits = confident_logits(list(range(m)) * 4)
    assert inception_score(logits, splits=1) == pytest.approx(m, rel=1e-6)


def test_inception_score_averages_splits_in_order():
    # each half holds every class once: IS 4 per split; shuffled, the halves would not
    logits = confident_logits([0, 1, 2, 3, 3, 2, 1, 0])
    assert inception_score(logits, splits=2) == pytest.approx(4.0, rel=1e-6)
    # four splits of two classes each: IS 2 per split
    assert inception_score(logits, splits=4) == pytest.approx(2.0, rel=1e-6)


def test_inception_score_clips_the_splits_to_the_number_of_images():
    # 10 splits of 3 images would leave empty splits; clipped, each image is its own split
    assert inception_score(confident_logits([0, 1, 2]), splits=10) == pytest.approx(1.0)


def test_inception_score_of_no_images_is_nan():
    assert np.isnan(inception_score(np.zeros((0, 1008))))


# --- IS on average-pooled features (definitions: paper) ----------------------------------------


def test_pooled_inception_score_of_a_hand_computed_feature_matrix():
    # two images, three pooled features; softmaxes (1/3, 1/3, 1/3) and (1/2, 1/4, 1/4)
    pool = np.array([[0.0, 0.0, 0.0], [math.log(2), 0.0, 0.0]])
    marginal = [5 / 12, 7 / 24, 7 / 24]
    kl_first = 1 / 3 * math.log((1 / 3) / marginal[0]) + 2 / 3 * math.log((1 / 3) / marginal[1])
    kl_second = 1 / 2 * math.log((1 / 2) / marginal[0]) + 1 / 2 * math.log((1 / 4) / marginal[1])
    expected = math.exp((kl_first + kl_second) / 2)  # 1.01447
    assert pooled_inception_score(pool) == pytest.approx(expected, rel=1e-12)


def test_pooled_inception_score_is_torch_fidelitys_is_of_the_pooled_features_in_one_split():
    pool = np.abs(gaussian(40, 2048, 11))  # non-negative, as after ReLU and average pooling
    reference = isc_features_to_metric(torch.from_numpy(pool), splits=1, shuffle=False)
    assert pooled_inception_score(pool) == pytest.approx(reference["inception_score_mean"])


def test_pooled_inception_score_of_one_image_or_of_identical_images_is_1():
    # why definitions: paper takes IS over a class's pairs, not as a mean of per-pair IS
    one = np.abs(gaussian(1, 2048, 12))
    assert pooled_inception_score(one) == pytest.approx(1.0, abs=1e-12)
    assert pooled_inception_score(np.repeat(one, 5, axis=0)) == pytest.approx(1.0, abs=1e-12)


def test_pooled_inception_score_ignores_a_constant_added_to_an_images_features():
    pool = np.abs(gaussian(10, 64, 13))
    shifted = pool + np.arange(10)[:, None]  # softmax is shift-invariant per image
    assert pooled_inception_score(shifted) == pytest.approx(pooled_inception_score(pool))


def test_pooled_inception_score_of_no_images_is_nan():
    assert np.isnan(pooled_inception_score(np.zeros((0, 2048))))


# --- precision, recall, density, coverage ----------------------------------------------------


def test_knn_radii_are_distances_to_the_kth_nearest_other_point():
    points = np.array([[0.0], [1.0], [3.0]])
    assert knn_radii(points, 1).tolist() == [1.0, 1.0, 2.0]
    assert knn_radii(points, 2).tolist() == [3.0, 2.0, 3.0]


# 1-D, k = 1. Real radii (to the nearest other real): 0:1, 1:1, 2:1, 10:8.
# Synthetic radii: 0.5:8.5, 9:0.2, 9.2:0.2, 40:1, 41:1.
HAND_REAL = np.array([[0.0], [1.0], [2.0], [10.0]])
HAND_SYNTHETIC = np.array([[0.5], [9.0], [9.2], [40.0], [41.0]])
HAND_PRDC = {
    "precision": 3 / 5,  # 0.5 (in 0's and 1's balls), 9 and 9.2 (in 10's ball); not 40, 41
    "recall": 3 / 4,  # 0, 1, 2 lie in 0.5's ball; 10 in no synthetic ball
    "density": 4 / 5,  # real balls holding each synthetic point: 2 + 1 + 1 + 0 + 0, / (k=1 * 5)
    "coverage": 3 / 4,  # balls of 0, 1 (0.5) and 10 (9) hold a synthetic point; 2's does not
}


def test_prdc_of_a_hand_built_1d_example():
    assert PRDC(HAND_SYNTHETIC, HAND_REAL, k=1)() == pytest.approx(HAND_PRDC, rel=1e-12)


def test_prdc_of_a_synthetic_set_identical_to_the_real_set():
    # 20 points: below 25 rows torch.cdist takes exact differences (no matrix-product
    # shortcut), so each point's k-th neighbour lies exactly on the boundary of its ball
    points = gaussian(20, 2, seed=0)
    scores = PRDC(points, points.copy(), k=3)()
    assert scores["precision"] == scores["recall"] == scores["coverage"] == 1.0
    # balls are closed (as torch-fidelity's), so each real ball holds its centre and its k
    # nearest neighbours: density (k + 1) / k for an exact copy (Naeem et al.'s code, with
    # open balls, gives 1)
    assert scores["density"] == pytest.approx(4 / 3, rel=1e-12)


def test_prdc_of_a_synthetic_set_far_from_the_real_set_is_all_zero():
    real = gaussian(30, 2, seed=0)
    scores = PRDC(real + 100.0, real, k=3)()
    assert scores == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


@pytest.mark.parametrize(("k", "dim"), [(3, 2), (5, 8)])
def test_precision_and_recall_equal_torch_fidelitys_with_the_same_k(k, dim):
    fake = torch.from_numpy(gaussian(60, dim, seed=k, mean=-0.5))
    real = torch.from_numpy(gaussian(50, dim, seed=k + 100, mean=0.5))
    precision, recall = calculate_precision_recall_full(fake, real, neighborhood=k)
    scores = PRDC(fake, real, k=k)()
    assert scores["precision"] == pytest.approx(precision, abs=1e-6)  # theirs: float32
    assert scores["recall"] == pytest.approx(recall, abs=1e-6)
    assert 0 < precision < 1 and 0 < recall < 1  # the comparison above is not trivial


def prdc_by_definition(fake, real, fake_radii, real_radii, k) -> dict[str, float]:
    """Naeem et al. 2020, eqs. 1-4 written out point by point, with given (closed) ball radii."""
    distance = np.abs(fake[:, None, :] - real[None, :, :]).__pow__(2).sum(-1) ** 0.5
    in_real_ball = distance <= real_radii[None, :]  # [j, i]: fake j in real i's ball
    in_fake_ball = distance <= fake_radii[:, None]  # [j, i]: real i in fake j's ball
    return {
        "precision": np.mean([in_real_ball[j].any() for j in range(len(fake))]),
        "recall": np.mean([in_fake_ball[:, i].any() for i in range(len(real))]),
        "density": in_real_ball.sum() / (k * len(fake)),
        "coverage": np.mean([in_real_ball[:, i].any() for i in range(len(real))]),
    }


def test_prdc_equals_the_papers_formulas_on_random_sets():
    fake, real = gaussian(25, 3, seed=8, scale=1.2), gaussian(30, 3, seed=9, mean=0.3)
    expected = prdc_by_definition(
        fake, real, knn_radii(fake, 4).numpy(), knn_radii(real, 4).numpy(), 4
    )
    assert PRDC(fake, real, k=4)() == pytest.approx(expected, rel=1e-12)


def test_prdc_weighted_by_counts_equals_the_formulas_on_the_resampled_sets_with_fixed_radii():
    fake, real = gaussian(25, 3, seed=10, scale=1.2), gaussian(30, 3, seed=11, mean=0.3)
    rng = np.random.default_rng(12)
    idx, jdx = rng.integers(0, 25, 25), rng.integers(0, 30, 30)
    assert len(set(idx)) < 25 and len(set(jdx)) < 30  # duplicates and omissions both
    fake_radii, real_radii = knn_radii(fake, 4).numpy(), knn_radii(real, 4).numpy()
    expected = prdc_by_definition(fake[idx], real[jdx], fake_radii[idx], real_radii[jdx], 4)
    weighted = PRDC(fake, real, k=4)(counts(idx, 25), counts(jdx, 30))
    assert weighted == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("n_synthetic", "n_real"), [(5, 10), (10, 5), (3, 3)])
def test_prdc_is_nan_when_k_is_not_below_each_set_size(n_synthetic, n_real):
    scores = PRDC(gaussian(n_synthetic, 2, seed=0), gaussian(n_real, 2, seed=1), k=5)()
    assert set(scores) == {"precision", "recall", "density", "coverage"}
    assert all(np.isnan(v) for v in scores.values())


def test_prdc_is_defined_with_one_point_more_than_k():
    scores = PRDC(gaussian(6, 2, seed=0), gaussian(6, 2, seed=1), k=5)()
    assert all(np.isfinite(v) for v in scores.values())

"""dermsynth.metrics.bootstrap: seeded resampling of images and percentile intervals."""

from __future__ import annotations

import numpy as np
import pytest

from dermsynth.metrics.bootstrap import bootstrap_values, counts, percentile_interval


def sample(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(5.0, 2.0, n)


def mean_interval(values: np.ndarray, resamples: int = 400, seed: int = 0) -> tuple[float, float]:
    replicates = bootstrap_values(
        lambda i: values[i].mean(), [len(values)], resamples=resamples, seed=seed
    )
    return percentile_interval(replicates, 0.95)


def test_the_same_seed_gives_the_same_replicates():
    values = sample(50)

    def run(seed):
        return bootstrap_values(lambda i: values[i].mean(), [50], resamples=30, seed=seed)

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


def test_each_resample_draws_one_index_array_per_set_of_that_sets_size():
    drawn = []

    def record(i, j):
        drawn.append((i, j))
        return 0.0

    bootstrap_values(record, [4, 7], resamples=50, seed=0)
    assert len(drawn) == 50
    assert all(len(i) == 4 and len(j) == 7 for i, j in drawn)
    assert all(0 <= i.min() and i.max() < 4 and 0 <= j.min() and j.max() < 7 for i, j in drawn)
    # with replacement: some resample repeats an image
    assert any(len(set(i)) < 4 for i, _ in drawn)


def test_several_statistics_at_once_give_one_column_each():
    values = sample(20)
    replicates = bootstrap_values(
        lambda i: (values[i].mean(), values[i].max()), [20], resamples=15, seed=0
    )
    assert replicates.shape == (15, 2)
    assert (replicates[:, 0] <= replicates[:, 1]).all()


def test_the_interval_of_a_mean_contains_the_point_estimate():
    values = sample(1000)
    low, high = mean_interval(values)
    assert low < values.mean() < high


def test_the_interval_of_a_mean_has_the_normal_theory_width_and_shrinks_as_one_over_sqrt_n():
    small, large = sample(100, seed=1), sample(1600, seed=2)
    (low_small, high_small), (low_large, high_large) = mean_interval(small), mean_interval(large)
    width_small, width_large = high_small - low_small, high_large - low_large
    # 95%: 2 * 1.96 * sd / sqrt(n), sd = 2
    assert width_small == pytest.approx(2 * 1.96 * 2 / np.sqrt(100), rel=0.2)
    assert width_small / width_large == pytest.approx(np.sqrt(1600 / 100), rel=0.2)


def test_percentile_interval_takes_the_tails_of_the_replicates():
    replicates = np.arange(101, dtype=float)  # percentiles are the values themselves
    assert percentile_interval(replicates, 0.95) == pytest.approx((2.5, 97.5))
    assert percentile_interval(replicates, 0.5) == pytest.approx((25.0, 75.0))


def test_non_finite_replicates_are_dropped():
    replicates = np.array([np.nan, 0.0, np.inf, 1.0, -np.inf, 2.0])
    assert percentile_interval(replicates, 1.0) == (0.0, 2.0)


@pytest.mark.parametrize("replicates", [[], [np.nan, np.nan], [np.nan, 3.0, np.inf]])
def test_fewer_than_two_finite_replicates_give_no_interval(replicates):
    low, high = percentile_interval(np.array(replicates))
    assert np.isnan(low) and np.isnan(high)


@pytest.mark.parametrize(("sizes", "resamples"), [([0], 10), ([5, 0], 10), ([5], 0)])
def test_an_empty_set_or_no_resamples_gives_no_replicates(sizes, resamples):
    replicates = bootstrap_values(lambda *i: 1.0, sizes, resamples=resamples, seed=0)
    assert replicates.shape == (0,)


def test_counts_are_how_often_each_item_was_drawn():
    assert counts(np.array([2, 0, 2, 2]), 4).tolist() == [1, 0, 3, 0]


def test_a_centred_interval_is_shifted_to_the_estimate_and_keeps_its_width():
    replicates = np.arange(101.0) + 50  # mean 100: a statistic biased by +100 under resampling
    low, high = percentile_interval(replicates, 0.95, centre=0.0)
    assert (low, high) == pytest.approx((-47.5, 47.5))
    assert percentile_interval(replicates, 0.95, centre=float("nan")) == pytest.approx(
        (52.5, 147.5)
    )

"""dermsynth.classify.paper2_accuracy: top-1 and top-3 accuracy with Wilson intervals, per class and
per skin type, and DDI's shared diseases scored over all classes or the shared ones only."""

from __future__ import annotations

import numpy as np
import pytest

from dermsynth.classify.paper2_accuracy import (
    external_metrics,
    held_out_metrics,
    normal_interval,
    proportion,
    seed_interval,
    top_k_hits,
    wilson_interval,
)

CLASSES = ["psoriasis", "lichen planus", "basal cell carcinoma", "squamous cell carcinoma"]


def test_wilson_interval_matches_the_textbook_value():
    # 8 of 10 at 95%, by hand: z = 1.96, centre (0.8 + z^2 / 20) / (1 + z^2 / 10) = 0.7168,
    # half width z / (1 + z^2 / 10) * sqrt(0.8 * 0.2 / 10 + z^2 / 400) = 0.2266
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert all(np.isnan(wilson_interval(0, 0)))


@pytest.mark.parametrize(("correct", "n"), [(8, 10), (0, 10), (10, 10), (131, 360), (359, 360)])
def test_both_intervals_are_statsmodels_proportion_confint(correct, n):
    """Wilson ours; the normal approximation the authors' scripts log, the same call."""
    from statsmodels.stats.proportion import proportion_confint

    wilson = proportion_confint(correct, n, alpha=0.05, method="wilson")
    assert wilson_interval(correct, n) == pytest.approx(wilson, abs=1e-12)
    normal = proportion_confint(correct, n, alpha=0.05, method="normal")
    assert normal_interval(correct, n) == pytest.approx(normal, abs=1e-12)
    hits = np.arange(n) < correct
    record = proportion(hits)
    assert (record["normal_low"], record["normal_high"]) == pytest.approx(normal, abs=1e-12)


def test_seed_interval_is_students_t_and_needs_two_seeds():
    mean, low, high = seed_interval([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.303, sd 0.1, so the half width is 4.303 * 0.1 / sqrt(3)
    assert mean == pytest.approx(0.6) and high - mean == pytest.approx(0.24843, abs=1e-4)
    assert mean - low == pytest.approx(high - mean)
    assert np.isnan(seed_interval([0.5])[1])


def test_top_k_counts_a_label_among_the_k_largest_logits():
    logits = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    labels = np.array([2, 0])
    assert top_k_hits(logits, labels, 1).tolist() == [False, False]
    assert top_k_hits(logits, labels, 3).tolist() == [True, False]
    assert top_k_hits(logits, labels, 9).tolist() == [True, True]  # k capped at the class count


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    n = 60
    labels = [CLASSES[i % 4] for i in range(n)]
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), [i % 4 for i in range(n)]] += 1.0  # right more often than chance
    skins = [["1", "2", "3", "4", "5", "6", ""][i % 7] for i in range(n)]
    return logits, labels, skins, held_out_metrics(logits, labels, CLASSES, skins)


def test_top3_is_at_least_top1_and_each_interval_holds_its_accuracy(scored):
    _, _, _, metrics = scored
    groups = [metrics, *metrics["per_class"].values(), *metrics["per_skin_type"].values()]
    for group in groups:
        top1, top3 = group["top1"], group["top3"]
        assert top3["accuracy"] >= top1["accuracy"]
        for value in (top1, top3):
            assert value["ci_low"] <= value["accuracy"] <= value["ci_high"]
            assert value["accuracy"] == value["correct"] / value["n"]
    assert 0.25 < metrics["top1"]["accuracy"] < metrics["top3"]["accuracy"] < 1


def test_per_skin_type_counts_add_up_to_the_test_set(scored):
    _, _, skins, metrics = scored
    per_type = metrics["per_skin_type"]
    assert list(per_type) == ["1", "2", "3", "4", "5", "6", "unknown"]
    assert {k: v["top1"]["n"] for k, v in per_type.items()} == {
        "1": 9,
        "2": 9,
        "3": 9,
        "4": 9,
        "5": 8,
        "6": 8,
        "unknown": 8,
    }
    assert sum(v["top1"]["n"] for v in per_type.values()) == len(skins) == metrics["top1"]["n"]
    assert sum(v["top1"]["correct"] for v in per_type.values()) == metrics["top1"]["correct"]


def test_ddi_external_is_scored_over_all_classes_and_over_the_shared_ones():
    # the model prefers psoriasis, then the true class: wrong over all four, right among the two
    shared = ["basal cell carcinoma", "squamous cell carcinoma", "squamous cell carcinoma"]
    logits = np.array([[5.0, 0, 2, 1], [5.0, 0, 1, 2], [0.0, 0, 3, 1]])
    result = external_metrics(logits, shared, CLASSES, ["12", "34", "56"])
    assert result["shared_classes"] == ["basal cell carcinoma", "squamous cell carcinoma"]
    assert result["top1_all_classes"]["correct"] == 0
    assert result["top1_shared_classes"]["correct"] == 2  # the third prefers bcc over scc
    assert result["top3_all_classes"]["correct"] == 3
    assert result["per_class"]["squamous cell carcinoma"]["top1_shared_classes"]["n"] == 2
    assert set(result["per_skin_type"]) == {"12", "34", "56"}

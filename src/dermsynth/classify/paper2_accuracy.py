"""Paper 2's measures on a held-out set of real images: top-1 and top-3 accuracy with 95%
confidence intervals, overall, per class and per Fitzpatrick skin type; and the F17k-9 models on
DDI's images of the diseases the two datasets share, over the full nine-way output and over the
shared classes' logits alone.

Intervals over one run's test images are Wilson score intervals (a binomial proportion: right or
wrong per image); beside them, `normal_low` / `normal_high` are the authors' interval (their
scripts' `proportion_confint(..., method='normal')`, the normal approximation, clipped to
[0, 1] as statsmodels clips it). Intervals over seeds (`seed_interval`) are Student-t intervals
of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import special

LEVEL = 0.95
CI_METHOD = "Wilson score interval over test images (95%)"
SEED_CI_METHOD = "Student-t interval of the mean over seeds (95%)"
UNKNOWN_SKIN_TYPE = "unknown"


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The Wilson score interval of a proportion `correct` / `n` (nan, nan when n is 0)."""
    if n == 0:
        return math.nan, math.nan
    z = special.ndtri(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    high = 1.0 if correct == n else min(1.0, centre + half)
    return float(low), float(high)


def normal_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The normal-approximation interval of `correct` / `n`, p -+ z sqrt(p (1 - p) / n),
    clipped to [0, 1], as statsmodels' `proportion_confint(method='normal')` (nan, nan when n
    is 0)."""
    if n == 0:
        return math.nan, math.nan
    p = correct / n
    half = special.ndtri(0.5 + level / 2) * math.sqrt(p * (1 - p) / n)
    return float(max(p - half, 0.0)), float(min(p + half, 1.0))


def seed_interval(values: Iterable[float], level: float = LEVEL) -> tuple[float, float, float]:
    """Mean of the values (one per seed) and its Student-t interval (nan bounds for one seed)."""
    values = np.asarray(list(values), dtype=float)
    mean = float(values.mean()) if len(values) else math.nan
    if len(values) < 2:
        return mean, math.nan, math.nan
    half = (
        special.stdtrit(len(values) - 1, 0.5 + level / 2)
        * values.std(ddof=1)
        / math.sqrt(len(values))
    )
    return mean, float(mean - half), float(mean + half)


def proportion(hits: np.ndarray, level: float = LEVEL) -> dict[str, float | int]:
    """Accuracy of boolean hits, with its count, size, Wilson interval and the authors' normal
    interval."""
    n, correct = int(len(hits)), int(np.sum(hits))
    low, high = wilson_interval(correct, n, level)
    normal_low, normal_high = normal_interval(correct, n, level)
    return {
        "accuracy": correct / n if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "normal_low": normal_low,  # the authors' interval
        "normal_high": normal_high,
        "correct": correct,
        "n": n,
    }


def top_k_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Whether each true label is among the k largest logits (k capped at the class count)."""
    k = min(k, logits.shape[1])
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def _grouped(
    logits: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str],
    order: Sequence[str],
    level: float,
) -> dict[str, dict[str, Any]]:
    groups = np.asarray(groups)
    result = {}
    for group in order:
        rows = groups == group
        result[group] = {
            "top1": proportion(top_k_hits(logits[rows], labels[rows], 1), level),
            "top3": proportion(top_k_hits(logits[rows], labels[rows], 3), level),
        }
    return result


def skin_type_names(values: Iterable[str]) -> list[str]:
    """Fitzpatrick skin types as group names: '1'..'6' (or DDI's '12', '34', '56'); an empty
    value is 'unknown'."""
    return [str(v) if str(v) not in ("", "nan", "-1") else UNKNOWN_SKIN_TYPE for v in values]


def held_out_metrics(
    logits: np.ndarray,
    labels: Sequence[str],
    classes: Sequence[str],
    skin_types: Sequence[str],
    *,
    level: float = LEVEL,
) -> dict[str, Any]:
    """Top-1 and top-3 accuracy on a test set with Wilson intervals: overall, per class and per
    skin type (types in order, 'unknown' last)."""
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[label] for label in labels])
    skins = skin_type_names(skin_types)
    skin_order = sorted(set(skins) - {UNKNOWN_SKIN_TYPE}, key=lambda s: (len(s), s))
    skin_order += [UNKNOWN_SKIN_TYPE] if UNKNOWN_SKIN_TYPE in skins else []
    return {
        "top1": proportion(top_k_hits(logits, y, 1), level),
        "top3": proportion(top_k_hits(logits, y, 3), level),
        "per_class": _grouped(logits, y, list(labels), list(classes), level),
        "per_skin_type": _grouped(logits, y, skins, skin_order, level),
    }


def external_metrics(
    logits: np.ndarray,
    shared_labels: Sequence[str],
    classes: Sequence[str],
    skin_types: Sequence[str],
    *,
    level: float = LEVEL,
) -> dict[str, Any]:
    """An F17k-9 model on DDI images of shared diseases: top-1 over the full output
    (`top1_all_classes`: the argmax of every class's logit is the shared label), top-1 among the
    shared classes' logits alone (`top1_shared_classes`), per shared class and per skin tone."""
    index = {c: i for i, c in enumerate(classes)}
    shared = [c for c in classes if c in set(shared_labels)]  # in the model's output order
    y = np.array([index[label] for label in shared_labels])
    columns = np.array([index[c] for c in shared])
    y_shared = np.searchsorted(columns, y)  # columns ascend, as `shared` keeps the class order
    restricted = logits[:, columns]

    def measures(rows: np.ndarray) -> dict[str, Any]:
        return {
            "top1_all_classes": proportion(top_k_hits(logits[rows], y[rows], 1), level),
            "top3_all_classes": proportion(top_k_hits(logits[rows], y[rows], 3), level),
            "top1_shared_classes": proportion(
                top_k_hits(restricted[rows], y_shared[rows], 1), level
            ),
        }

    labels = np.asarray(shared_labels)
    skins = np.asarray(skin_type_names(skin_types))
    return {
        "shared_classes": shared,
        **measures(np.ones(len(y), dtype=bool)),
        "per_class": {c: measures(labels == c) for c in shared},
        "per_skin_type": {s: measures(skins == s) for s in sorted(set(skins))},
    }


def counts_by(values: Iterable[str], order: Sequence[str] | None = None) -> dict[str, int]:
    """How many of each value, in `order` (zeros included) or first-seen order."""
    values = list(values)
    keys: Mapping[str, None] = dict.fromkeys(order if order is not None else values)
    return {key: values.count(key) for key in keys}

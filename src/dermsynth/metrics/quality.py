"""Paper 1's Table 1: quality of a synthetic set against the real images, per class and overall.

SSIM, PSNR and MSE of synthetic-real pairs (an explicit pairing rule), FID and IS as in the paper,
and KID and precision/recall/density/coverage beside them; every number with its sample size and
a percentile bootstrap confidence interval (images resampled with replacement), and the paper's
published values in columns beside ours. Rows: each class, `overall` (all images pooled) and
`class_mean` (the mean of the class rows: how the paper made its "Overall Metrics" row).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dermsynth.errors import DataError
from dermsynth.io import read_table, write_csv
from dermsynth.metrics.bootstrap import bootstrap_values, counts, percentile_interval
from dermsynth.metrics.distribution import KID, PRDC, frechet_distance, inception_score
from dermsynth.metrics.images import load_rgb
from dermsynth.metrics.inception import ImageFeatures, load_features
from dermsynth.metrics.pixel import SCALE_NOTES, pair_images, pair_table
from dermsynth.seeds import derived_seed, text_key

log = logging.getLogger("dermsynth.metrics")

PIXEL_METRICS = ("ssim", "psnr", "mse")
DISTRIBUTION_METRICS = ("fid", "kid", "is", "precision", "recall", "density", "coverage")
METRICS = PIXEL_METRICS + DISTRIBUTION_METRICS
PAPER_METRICS = ("ssim", "psnr", "mse", "fid", "is")  # the columns of the paper's Table 1


@dataclass(frozen=True)
class QualitySettings:
    """config metrics: how Table 1 is computed."""

    pairing: str = "random_same_class"
    pixel_scale: str = "unit"
    bootstrap: int = 200
    level: float = 0.95
    seed: int = 0
    prdc_k: int = 5
    is_splits: int = 10


@dataclass
class GroupScores:
    """A row of the table: point estimates, bootstrap replicates (aligned across groups)."""

    point: dict[str, float]
    replicates: dict[str, np.ndarray]
    sizes: dict[str, int]


def score_group(
    synthetic: ImageFeatures,
    real: ImageFeatures,
    pairs: pd.DataFrame,
    settings: QualitySettings,
    seed: int,
) -> GroupScores:
    """Every metric of one group of images (a class, or all), with bootstrap replicates."""
    point: dict[str, float] = {}
    replicates: dict[str, np.ndarray] = {}
    pair_values = pairs[list(PIXEL_METRICS)].to_numpy(np.float64)
    for column, name in enumerate(PIXEL_METRICS):
        point[name] = float(pair_values[:, column].mean()) if len(pairs) else float("nan")
    pixel_draws = bootstrap_values(
        lambda i: pair_values[i].mean(axis=0),
        [len(pairs)],
        resamples=settings.bootstrap,
        seed=derived_seed(seed, 1),
    )
    for column, name in enumerate(PIXEL_METRICS):
        replicates[name] = (
            pixel_draws[:, column] if pixel_draws.size else np.full(settings.bootstrap, np.nan)
        )

    kid = KID(synthetic.pool, real.pool)
    prdc = PRDC(synthetic.pool, real.pool, settings.prdc_k)
    n_syn, n_real = len(synthetic.ids), len(real.ids)

    def distribution(syn_index: np.ndarray | None, real_index: np.ndarray | None) -> list[float]:
        syn_pool = synthetic.pool if syn_index is None else synthetic.pool[syn_index]
        real_pool = real.pool if real_index is None else real.pool[real_index]
        logits = synthetic.logits if syn_index is None else synthetic.logits[syn_index]
        syn_counts = None if syn_index is None else counts(syn_index, n_syn)
        real_counts = None if real_index is None else counts(real_index, n_real)
        scores = prdc(syn_counts, real_counts)
        return [
            frechet_distance(syn_pool, real_pool),
            kid(syn_counts, real_counts),
            inception_score(logits, settings.is_splits),
            *(scores[name] for name in ("precision", "recall", "density", "coverage")),
        ]

    for name, value in zip(DISTRIBUTION_METRICS, distribution(None, None), strict=True):
        point[name] = value
    draws = bootstrap_values(
        distribution, [n_syn, n_real], resamples=settings.bootstrap, seed=derived_seed(seed, 2)
    )
    for column, name in enumerate(DISTRIBUTION_METRICS):
        replicates[name] = draws[:, column] if draws.size else np.full(settings.bootstrap, np.nan)
    sizes = {"n_synthetic": n_syn, "n_real": n_real, "n_pairs": len(pairs)}
    return GroupScores(point, replicates, sizes)


def mean_of_groups(groups: list[GroupScores]) -> GroupScores:
    """The paper's "Overall Metrics": the mean of the class rows (replicate by replicate)."""
    with np.errstate(all="ignore"):
        point = {m: float(np.nanmean([g.point[m] for g in groups])) for m in METRICS}
        replicates = {m: np.nanmean([g.replicates[m] for g in groups], axis=0) for m in METRICS}
    sizes = {key: sum(g.sizes[key] for g in groups) for key in groups[0].sizes}
    return GroupScores(point, replicates, sizes)


def quality_table(
    synthetic: ImageFeatures,
    real: ImageFeatures,
    *,
    classes: dict[str, str],
    settings: QualitySettings,
    reference: str | Path | None,
    run: str,
    method: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 for one synthetic set, and the table of its synthetic-real pairs."""
    if synthetic.image_size != real.image_size:
        raise ValueError(
            f"synthetic and real features at different sizes "
            f"({synthetic.image_size} and {real.image_size} px)"
        )
    unknown = sorted(map(str, set(synthetic.classes) - set(classes)))  # str: not np.str_('x')
    if unknown:
        raise DataError("synthetic set", f"classes {unknown} are not in config {list(classes)}")
    missing_real = sorted(map(str, set(synthetic.classes) - set(real.classes)))
    if missing_real:
        raise DataError("real image set", f"no real images of classes {missing_real}")
    partners = pair_images(
        synthetic.ids,
        synthetic.classes,
        real.classes,
        rule=settings.pairing,
        seed=settings.seed,
        synthetic_thumbnails=synthetic.thumbnails,
        real_thumbnails=real.thumbnails,
    )
    pairs = pair_table(
        synthetic.ids, synthetic.files, real.ids, real.files, synthetic.classes, partners,
        lambda file: load_rgb(file, synthetic.image_size), settings.pixel_scale,
    )  # fmt: skip
    present = [cls for cls in classes if cls in set(synthetic.classes)]
    rows: dict[str, GroupScores] = {}
    for cls in present:
        log.info("scoring class %s", cls)
        rows[cls] = score_group(
            synthetic.subset(synthetic.classes == cls),
            real.subset(real.classes == cls),
            pairs[pairs["class"] == cls],
            settings,
            derived_seed(settings.seed, text_key(cls)),
        )
    log.info("scoring all images pooled")
    rows["overall"] = score_group(
        synthetic, real, pairs, settings, derived_seed(settings.seed, text_key("overall"))
    )
    rows["class_mean"] = mean_of_groups([rows[cls] for cls in present])
    names = {**classes, "overall": "all images pooled", "class_mean": "mean of the class rows"}

    records = []
    for group, scores in rows.items():
        record: dict[str, object] = {
            "run": run,
            "method": method,
            "group": group,
            "name": names[group],
            **scores.sizes,
            "pairing": settings.pairing,
            "pixel_scale": settings.pixel_scale,
            "image_size": synthetic.image_size,
        }
        for metric in METRICS:
            low, high = percentile_interval(
                scores.replicates[metric], settings.level, centre=scores.point[metric]
            )
            record[metric] = scores.point[metric]
            record[f"{metric}_low"] = low
            record[f"{metric}_high"] = high
        records.append(record)
    table = pd.DataFrame(records)
    table["bootstrap_resamples"] = settings.bootstrap
    table["confidence_level"] = settings.level
    table["inception_weights"] = synthetic.weights
    table["comparable_with_literature"] = synthetic.comparable and real.comparable
    table["pixel_scale_note"] = SCALE_NOTES[settings.pixel_scale]
    if reference is not None:
        table = table.merge(paper_values(reference), on="group", how="left")
    return table, pairs


def paper_values(path: str | Path) -> pd.DataFrame:
    """The published Table 1 (columns `paper_<metric>`); its `overall` row is a class mean."""
    frame = read_table(path, ["class", *PAPER_METRICS])
    frame = frame.rename(columns={"class": "group", **{m: f"paper_{m}" for m in PAPER_METRICS}})
    frame["group"] = frame["group"].replace({"overall": "class_mean"})
    for metric in PAPER_METRICS:
        frame[f"paper_{metric}"] = pd.to_numeric(frame[f"paper_{metric}"])
    return frame[["group", *(f"paper_{m}" for m in PAPER_METRICS)]]


def score_synthetic_set(
    synthetic_features: str | Path,
    real_features: str | Path,
    table_path: str | Path,
    pairs_path: str | Path,
    *,
    classes: dict[str, str],
    settings: QualitySettings,
    reference: str | Path | None,
    run: str,
    method: str,
) -> pd.DataFrame:
    """Read cached features, score, and write Table 1 and the pairs it used."""
    table, pairs = quality_table(
        load_features(synthetic_features),
        load_features(real_features),
        classes=classes,
        settings=settings,
        reference=reference,
        run=run,
        method=method,
    )
    write_csv(pairs, pairs_path)
    write_csv(table, table_path)
    return table

"""Paper 1's Table 1: quality of a synthetic set against the real images, per class and overall.

SSIM, PSNR and MSE are means over synthetic-real pairs (an explicit pairing rule); FID and IS
follow config `metrics.definitions` (see `definition_notes`):
- `ours` (the default): the standard definitions. FID between all synthetic and all real images
  of a class on torch-fidelity's pool3 features, IS from the class logits of the same network.
- `paper`: our reading of paper 1's section 2.2, where one InceptionV3 "initialized with average
  pooling and without the top layer" serves FID and IS, and the scores are "averaged over all the
  image pairs within a category". FID between the synthetic images of a class's pairs and their
  real partners, IS over those synthetic images from a softmax over the 2048 pooled features.
  Neither is a mean of per-pair values: one image per side has no covariance (FID undefined) and
  one image is its own marginal (IS 1), so each is taken over the class's pairs as one set.
KID and precision/recall/density/coverage (ours in both) sit beside them. Every number comes with
its sample size and a percentile bootstrap confidence interval (pairs, or images, resampled with
replacement), and the published values in `paper_*` columns, each with a column saying whether
ours is computed the same way. Rows: each class, `overall` (all images pooled) and `class_mean`
(the mean of the class rows; the paper's "Overall Metrics" row is the mean of its class rows).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dermsynth.errors import DataError
from dermsynth.images import load_rgb
from dermsynth.io import read_table, write_csv
from dermsynth.metrics.bootstrap import bootstrap_values, counts, percentile_interval
from dermsynth.metrics.distribution import (
    KID,
    PRDC,
    frechet_distance,
    inception_score,
    pooled_inception_score,
)
from dermsynth.metrics.inception import ImageFeatures, load_features
from dermsynth.metrics.pixel import SCALE_NOTES, pair_images, pair_table
from dermsynth.seeds import derived_seed, text_key

log = logging.getLogger("dermsynth.metrics")

PIXEL_METRICS = ("ssim", "psnr", "mse")
DISTRIBUTION_METRICS = ("fid", "kid", "is", "precision", "recall", "density", "coverage")
METRICS = PIXEL_METRICS + DISTRIBUTION_METRICS
PAPER_METRICS = ("ssim", "psnr", "mse", "fid", "is")  # the columns of the paper's Table 1
DEFINITIONS = ("ours", "paper")
PAIR_SET_METRICS = ("fid", "is")  # over a class's pairs as one set with definitions: paper


@dataclass(frozen=True)
class QualitySettings:
    """config metrics: how Table 1 is computed."""

    definitions: str = "ours"
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
    """Every metric of one group of images (a class, or all), with bootstrap replicates.

    Metrics over pairs are resampled pair by pair; the others resample the synthetic and the
    real images independently.
    """
    paper = settings.definitions == "paper"
    over_pairs = PIXEL_METRICS + (PAIR_SET_METRICS if paper else ())
    over_sets = tuple(m for m in DISTRIBUTION_METRICS if m not in over_pairs)
    point: dict[str, float] = {}
    replicates: dict[str, np.ndarray] = {}
    pair_values = pairs[list(PIXEL_METRICS)].to_numpy(np.float64)
    for column, name in enumerate(PIXEL_METRICS):
        point[name] = float(pair_values[:, column].mean()) if len(pairs) else float("nan")
    # each pair's synthetic and real features, one row per pair (a real image once per pair)
    paired_synthetic = synthetic.pool[rows_of(synthetic.ids, pairs["synthetic_id"])]
    paired_real = real.pool[rows_of(real.ids, pairs["real_id"])]

    def pair_scores(index: np.ndarray) -> list[float]:
        scores = list(pair_values[index].mean(axis=0))
        if paper:
            scores.append(frechet_distance(paired_synthetic[index], paired_real[index]))
            scores.append(pooled_inception_score(paired_synthetic[index]))
        return scores

    if paper:
        point["fid"] = frechet_distance(paired_synthetic, paired_real)
        point["is"] = pooled_inception_score(paired_synthetic)
    pair_draws = bootstrap_values(
        pair_scores, [len(pairs)], resamples=settings.bootstrap, seed=derived_seed(seed, 1)
    )
    for column, name in enumerate(over_pairs):
        replicates[name] = (
            pair_draws[:, column] if pair_draws.size else np.full(settings.bootstrap, np.nan)
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
        scores = {
            "kid": kid(syn_counts, real_counts),
            **prdc(syn_counts, real_counts),
        }
        if not paper:
            scores["fid"] = frechet_distance(syn_pool, real_pool)
            scores["is"] = inception_score(logits, settings.is_splits)
        return [scores[name] for name in over_sets]

    for name, value in zip(over_sets, distribution(None, None), strict=True):
        point[name] = value
    draws = bootstrap_values(
        distribution, [n_syn, n_real], resamples=settings.bootstrap, seed=derived_seed(seed, 2)
    )
    for column, name in enumerate(over_sets):
        replicates[name] = draws[:, column] if draws.size else np.full(settings.bootstrap, np.nan)
    sizes = {"n_synthetic": n_syn, "n_real": n_real, "n_pairs": len(pairs)}
    return GroupScores(point, replicates, sizes)


def rows_of(ids: np.ndarray, wanted: pd.Series) -> np.ndarray:
    """The row of each wanted id in `ids`."""
    rows = pd.Index(ids).get_indexer(wanted)
    if (rows < 0).any():
        raise ValueError(f"ids not in the feature set: {sorted(wanted[rows < 0])[:5]}")
    return rows


def mean_of_groups(groups: list[GroupScores]) -> GroupScores:
    """The mean of the class rows (replicate by replicate), as the paper's "Overall Metrics"."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a metric undefined in every group
        point = {m: float(np.nanmean([g.point[m] for g in groups])) for m in METRICS}
        replicates = {m: np.nanmean([g.replicates[m] for g in groups], axis=0) for m in METRICS}
    sizes = {key: sum(g.sizes[key] for g in groups) for key in groups[0].sizes}
    return GroupScores(point, replicates, sizes)


NETWORK_NOTE = (
    "network: the one named in inception_weights; the paper's is an InceptionV3 'pre-trained on "
    "ImageNet' (its wording matches Keras's include_top=False, pooling='avg'), whose weights "
    "we cannot load"
)


def definition_notes(settings: QualitySettings) -> dict[str, str]:
    """How each of the paper's five metrics is computed under the settings, in words."""
    pairs = f"the group's synthetic-real pairs ({settings.pairing})"
    notes = {
        "ssim": f"mean over {pairs} of each pair's SSIM (per colour channel, averaged)",
        "psnr": f"mean over {pairs} of each pair's PSNR ({SCALE_NOTES[settings.pixel_scale]})",
        "mse": f"mean over {pairs} of each pair's MSE (pixel scale {settings.pixel_scale})",
    }
    if settings.definitions == "paper":
        notes["fid"] = (
            "Frechet distance of the 2048 average-pooled features between the synthetic and "
            f"the real images of {pairs}, a real image once per pair it is in; not a mean of "
            "per-pair FIDs, which are undefined (one image per side has no covariance); "
            f"{NETWORK_NOTE}"
        )
        notes["is"] = (
            "IS of the synthetic images of the group's pairs, p(y|x) the softmax over the 2048 "
            "average-pooled features (no class layer), one split; not a mean of per-pair IS, "
            f"which is 1 for every pair (one image is its own marginal); {NETWORK_NOTE}"
        )
    else:
        notes["fid"] = (
            "Frechet distance of the 2048 average-pooled (pool3) features between all synthetic "
            "and all real images of the group (standard FID)"
        )
        notes["is"] = (
            "IS of all synthetic images of the group from the 1008 class logits of "
            f"torch-fidelity's InceptionV3, {settings.is_splits} splits (standard IS)"
        )
    return notes


def same_definition_as_paper(metric: str, settings: QualitySettings) -> bool:
    """Whether our `metric` follows section 2.2's definition (formula, what it is averaged over,
    and for MSE/PSNR the scale the published magnitudes imply); network and pairs aside."""
    if metric == "ssim":
        return True  # a mean over pairs of per-channel SSIM under both definitions
    if metric == "mse":
        return settings.pixel_scale in ("unit", "paper_compat")  # MSE on [0,1]
    if metric == "psnr":
        return settings.pixel_scale == "paper_compat"
    if metric in PAIR_SET_METRICS:
        return settings.definitions == "paper"
    raise ValueError(f"{metric!r} is not a metric of the paper's Table 1")


def quality_table(
    synthetic: ImageFeatures,
    real: ImageFeatures,
    *,
    classes: dict[str, str],
    settings: QualitySettings,
    reference: str | Path | None,
    run: str,
    method: str,
    trained_on: str = "",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table 1 for one synthetic set, and the table of its synthetic-real pairs; `trained_on`
    says in words which real images its generator learned from (a column of every row)."""
    if settings.definitions not in DEFINITIONS:
        raise ValueError(f"definitions {settings.definitions!r}: expected one of {DEFINITIONS}")
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
        synthetic.ids,
        synthetic.files,
        real.ids,
        real.files,
        synthetic.classes,
        partners,
        lambda file: load_rgb(file, synthetic.image_size),
        settings.pixel_scale,
    )
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
            "generator_trained_on": trained_on,
            "group": group,
            "name": names[group],
            **scores.sizes,
            "definitions": settings.definitions,
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
    for metric, note in definition_notes(settings).items():
        table[f"{metric}_definition"] = note
    if reference is not None:
        table = table.merge(paper_values(reference), on="group", how="left")
        for metric in PAPER_METRICS:  # beside each published value, and only where there is one
            same = pd.Series(
                same_definition_as_paper(metric, settings), index=table.index, dtype="boolean"
            )
            same[table[f"paper_{metric}"].isna()] = pd.NA
            at = table.columns.get_loc(f"paper_{metric}") + 1
            table.insert(at, f"paper_{metric}_same_definition", same)
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
    trained_on: str = "",
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
        trained_on=trained_on,
    )
    write_csv(pairs, pairs_path)
    write_csv(table, table_path)
    return table

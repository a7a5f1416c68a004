"""One run of the DDI experiment (`dermsynth.classify.paper2_ddi`): train EfficientNetV2-M for
benign vs malignant on the run's images, test it on DDI's real test images, and score accuracy with
its 95% CI overall and per skin-tone group. Kept apart from the run list so that the workflow reads
the run list without importing torch and timm."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dermsynth.classify.paper2_accuracy import CI_METHOD, held_out_metrics
from dermsynth.classify.paper2_ddi import EXPERIMENT, ddi_training_set
from dermsynth.classify.paper2_grid import SyntheticInput, synthetic_origin_of
from dermsynth.classify.paper2_grid_run import (
    image_cache,
    logits_of,
    run_settings,
    train_on_frames,
    training_record,
    write_run,
)
from dermsynth.classify.run_files import RunFiles
from dermsynth.classify.settings import GridSettings
from dermsynth.classify.train import pick_device
from dermsynth.design.pools import DDI_CLASSES
from dermsynth.design.runs import parse_ddi_run_id

log = logging.getLogger(__name__)


def malignancy_metrics(
    logits: np.ndarray, labels: Iterable[str], skin_types: Iterable[str]
) -> dict[str, Any]:
    """Accuracy with its Wilson interval, overall and per skin-tone group, and the per-class
    accuracies (benign: specificity, malignant: sensitivity)."""
    scores = held_out_metrics(logits, list(labels), DDI_CLASSES, list(skin_types))
    return {
        "accuracy": scores["top1"],
        "per_skin_tone": {g: s["top1"] for g, s in scores["per_skin_type"].items()},
        "per_class": {c: s["top1"] for c, s in scores["per_class"].items()},
    }


def run_ddi(
    *,
    split: str | Path,
    images_dir: str | Path,
    size: int,
    run_id: str,
    settings: GridSettings | Mapping[str, Any],
    files: RunFiles,
    run: str,
    synthetic: SyntheticInput = None,
    caches: Sequence[str | Path] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the DDI run `run_id` (resuming from `files.checkpoint`), test it on the split's real
    test images, write `files`: metrics.json, the history CSV, the weights and the timing file,
    and remove the checkpoint. Images are read as `run_grid` reads them (`caches`)."""
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device)
    ddi_run = parse_ddi_run_id(run_id)
    settings = run_settings(settings, seed=ddi_run.seed, transforms=ddi_run.transforms)
    frames = ddi_training_set(
        split,
        images_dir,
        size=size,
        synthetic=synthetic if ddi_run.synthetic_per_real else None,
        synthetic_per_real=ddi_run.synthetic_per_real,
        source=ddi_run.source,
    )
    with image_cache(settings, frames, caches, workers=threads or 1) as cache:
        network, trained, resolved, seconds = train_on_frames(
            frames, DDI_CLASSES, settings, checkpoint=files.checkpoint, device=device, cache=cache
        )
        test = frames["test"]
        logits = logits_of(network, test, DDI_CLASSES, resolved, device, cache)
    record = {
        "run": run,
        "experiment": EXPERIMENT,
        "run_id": run_id,
        **asdict(ddi_run),
        "classes": list(DDI_CLASSES),
        "synthetic_origin": synthetic_origin_of(frames["train"], ddi_run.source, synthetic),
        "ci_method": CI_METHOD,
        **malignancy_metrics(logits, test["label"], test["skin_type"]),
        **training_record(
            frames,
            trained,
            DDI_CLASSES,
            network=network,
            settings=resolved,
            source_size=size,
            device=device,
        ),
    }
    log.info(
        "DDI %s: accuracy %.3f [%.3f, %.3f] on %d real test images",
        run_id,
        record["accuracy"]["accuracy"],
        record["accuracy"]["ci_low"],
        record["accuracy"]["ci_high"],
        record["n_test"],
    )
    write_run(record, network, trained, resolved, DDI_CLASSES, seconds=seconds, files=files)
    return record

"""One run of paper 2's Figure 3 grid, from files to files: the run id's real images per class,
synthetic images per real image and transforms; EfficientNetV2-M trained through the shared
loop; top-1 / top-3 accuracy on the balanced held-out test set of real images (overall, per class,
per Fitzpatrick type) and, when given, on DDI's images of the diseases it shares with F17k-9."""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from dermsynth.classify.evaluate import TEST_SET, write_metrics
from dermsynth.classify.image_cache import (
    ImageCache,
    frame_references,
    pixels_path,
    write_image_cache,
)
from dermsynth.classify.paper2_accuracy import (
    CI_METHOD,
    counts_by,
    external_metrics,
    held_out_metrics,
)
from dermsynth.classify.paper2_efficientnet import save_efficientnet
from dermsynth.classify.paper2_grid import (
    EXPERIMENT,
    SyntheticInput,
    external_images,
    grid_training_set,
    synthetic_origin_of,
)
from dermsynth.classify.paper2_loader import FileBatches, file_image_set
from dermsynth.classify.run_files import RunFiles
from dermsynth.classify.settings import GridSettings, grid_settings_from
from dermsynth.classify.state import trainable_parameters
from dermsynth.classify.train import (
    pick_device,
    predict_logits,
    train_efficientnet,
    write_history,
)
from dermsynth.design.draws import draw_seed
from dermsynth.design.runs import parse_run_id
from dermsynth.io import file_sha256

log = logging.getLogger(__name__)


def run_settings(
    settings: GridSettings | Mapping[str, Any], *, seed: int, transforms: bool
) -> GridSettings:
    """A run's settings: the configured ones with the run id's seed and transforms."""
    if isinstance(settings, GridSettings):
        return replace(settings, seed=seed, transforms=transforms)
    return grid_settings_from(settings, seed=seed, transforms=transforms)


@contextmanager
def image_cache(
    settings: GridSettings,
    frames: Mapping[str, pd.DataFrame],
    caches: Sequence[str | Path] | None = None,
    *,
    workers: int = 1,
) -> Iterator[ImageCache | None]:
    """Where a run reads its images (`settings.input`): None for its files; else the caches
    given (the workflow's `paper2_image_cache_*` rules: each image decoded once per dataset and
    size, or per synthetic pool), or, with none given, a cache of the run's own images (the
    training set as it is read, then the other frames) made in a temporary folder and removed
    after: each image decoded once per run instead of once per epoch."""
    if settings.input == "files":
        yield None
        return
    if caches:
        yield ImageCache(caches, settings.image_size)
        return
    references = frame_references(frames["train"], settings.random_crop)
    for name, frame in frames.items():
        if name != "train":
            references += frame_references(frame)
    with tempfile.TemporaryDirectory(prefix="dermsynth-image-cache-") as folder:
        index = Path(folder) / "index.csv"
        write_image_cache(
            references,
            pixels=pixels_path(index),
            index=index,
            size=settings.image_size,
            workers=workers,
        )
        yield ImageCache([index], settings.image_size)


def train_on_frames(
    frames: Mapping[str, pd.DataFrame],
    classes: Sequence[str],
    settings: GridSettings,
    *,
    checkpoint: str | Path,
    device: torch.device,
    cache: ImageCache | None = None,
) -> tuple[nn.Module, pd.DataFrame, GridSettings, float]:
    """Train on `frames['train']`, stopping early on `frames['val']` (read from `cache` when
    given): the model, its history, the settings with the batch size used, and the training
    seconds."""
    size = settings.image_size
    train = file_image_set(
        frames["train"], classes, size, random_crop=settings.random_crop, cache=cache
    )
    val = file_image_set(frames["val"], classes, size, cache=cache)
    started = time.perf_counter()
    model, history, resolved = train_efficientnet(
        train, val, settings=settings, checkpoint_path=checkpoint, log=log, device=device
    )
    return model, history, resolved, time.perf_counter() - started


def logits_of(
    model: nn.Module,
    frame: pd.DataFrame,
    classes: Sequence[str],
    settings: GridSettings,
    device: torch.device,
    cache: ImageCache | None = None,
) -> np.ndarray:
    """The model's logits on the images of `frame`, in order (read from `cache` when given)."""
    data = file_image_set(frame, classes, settings.image_size, cache=cache)
    batches = FileBatches(
        data, settings.eval_batch_size, device=device, workers=settings.num_workers
    )
    return predict_logits(model, batches)


def training_record(
    frames: Mapping[str, pd.DataFrame],
    history: pd.DataFrame,
    classes: Sequence[str],
    *,
    network: nn.Module,
    settings: GridSettings,
    source_size: int,
    device: torch.device,
) -> dict[str, Any]:
    """The counts of a run's images, the end of its training and how it was trained: the
    regime, the network's parameters (all and trainable), the epoch whose weights it kept, the
    network's input size, the resized copies read (`source_size`), device, settings (the
    seconds it took go to the run's timing file, `write_run`)."""
    train = frames["train"]
    improved = history.loc[history["improved"].astype(bool), "epoch"]
    best_epoch = int(improved.iloc[-1]) if len(improved) else 0
    return {
        "regime": settings.regime,
        "model_name": settings.model_name,
        "parameters": sum(p.numel() for p in network.parameters()),
        "trainable_parameters": trainable_parameters(network),
        "weights_sha256": file_sha256(settings.weights) if settings.weights else None,
        "epoch_kept": best_epoch if settings.restore_best else len(history),
        "test_set": TEST_SET,
        "n_train_real": int((train["source"] == "real").sum()),
        "n_train_synthetic": int((train["source"] == "synthetic").sum()),
        "n_train_per_class": counts_by(train["label"], classes),
        "n_val": len(frames["val"]),
        "n_test": len(frames["test"]),
        "n_test_per_class": counts_by(frames["test"]["label"], classes),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "best_val_loss": float(history["val_loss"].min()) if len(history) else float("nan"),
        "image_size": settings.image_size,
        "source_image_size": source_size,
        "device": str(device),
        "settings": asdict(settings),
    }


def write_run(
    record: Mapping[str, Any],
    network: nn.Module,
    history_frame: pd.DataFrame,
    settings: GridSettings,
    classes: Sequence[str],
    *,
    seconds: float,
    files: RunFiles,
) -> None:
    """Write a trained run's history CSV, weights and metrics.json (the same bytes for the
    same inputs), its training `seconds` and epoch times to the timing file, then remove its
    checkpoint: a run killed before the end resumes from the checkpoint."""
    write_history(history_frame, seconds, path=files.history, timing=files.timing)
    save_efficientnet(network, settings, classes, files.model, extra={"run_id": record["run_id"]})
    write_metrics(record, files.metrics)
    files.drop_checkpoint()


def run_grid(
    *,
    split: str | Path,
    images_dir: str | Path,
    size: int,
    run_id: str,
    protocol: str,
    classes: Sequence[str],
    val_per_class: int,
    split_seed: int,
    settings: GridSettings | Mapping[str, Any],
    files: RunFiles,
    run: str,
    synthetic: SyntheticInput = None,
    ddi_split: str | Path | None = None,
    ddi_images: str | Path | None = None,
    ddi_size: int | None = None,
    caches: Sequence[str | Path] | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the grid run `run_id` of `protocol` (resuming from `files.checkpoint`) on its
    draw of real images (`dermsynth.design.draws`: `val_per_class` validation images per class,
    the split seed for `strict`) and its synthetic images, test it on the split's real test
    images and, with `ddi_split` (DDI's `external` split) and `ddi_images`, on DDI's images of
    the shared diseases; write `files`: metrics.json (with the real images trained and
    validated on), the history CSV, the weights and the timing file, then remove the
    checkpoint. `size` is the resized copies read (the network input is settings.image_size).
    With `settings.input` cache (the default) the images are read from `caches` (index files of
    `dermsynth.classify.image_cache`), or from a cache made for this run when none are given.
    Returns the metrics record."""
    if threads:
        torch.set_num_threads(threads)
    device = pick_device(device)
    grid_run = parse_run_id(run_id, protocol)
    settings = run_settings(settings, seed=grid_run.seed, transforms=grid_run.transforms)
    classes = list(classes)
    frames = grid_training_set(
        split,
        images_dir,
        size=size,
        run=grid_run,
        classes=classes,
        val_per_class=val_per_class,
        split_seed=split_seed,
        synthetic=synthetic if grid_run.synthetic_per_real else None,
    )
    counts = {name: frame["source"].value_counts().to_dict() for name, frame in frames.items()}
    log.info("grid run %s: images by split and source %s", grid_run.path_id, counts)
    read = dict(frames)
    if ddi_split is not None and ddi_images is not None:
        read["ddi"] = external_images(ddi_split, ddi_images, size=ddi_size or size, classes=classes)
    with image_cache(settings, read, caches, workers=threads or 1) as cache:
        network, trained, resolved, seconds = train_on_frames(
            frames, classes, settings, checkpoint=files.checkpoint, device=device, cache=cache
        )
        test = frames["test"]
        scores = held_out_metrics(
            logits_of(network, test, classes, resolved, device, cache),
            list(test["label"]),
            classes,
            list(test["skin_type"]),
        )
        external = None
        if "ddi" in read:
            ddi = read["ddi"]
            external = external_metrics(
                logits_of(network, ddi, classes, resolved, device, cache),
                list(ddi["label"]),
                classes,
                list(ddi["skin_type"]),
            )
    real = {
        name: list(frames[name].loc[frames[name]["source"] == "real", "image_id"])
        for name in ("train", "val")
    }
    record = {
        "run": run,
        "experiment": EXPERIMENT,
        "run_id": run_id,
        **asdict(grid_run),
        "draw_seed": draw_seed(protocol, grid_run.seed, split_seed),
        "synthetic_origin": synthetic_origin_of(frames["train"], grid_run.source, synthetic),
        "classes": classes,
        "ci_method": CI_METHOD,
        **scores,
        "ddi_external": external,
        **training_record(
            frames,
            trained,
            classes,
            network=network,
            settings=resolved,
            source_size=size,
            device=device,
        ),
        "real_images": real,
    }
    log.info(
        "%s: top-1 %.3f [%.3f, %.3f], top-3 %.3f on %d real test images (%s regime, epoch %d "
        "of %d kept)",
        grid_run.path_id,
        record["top1"]["accuracy"],
        record["top1"]["ci_low"],
        record["top1"]["ci_high"],
        record["top3"]["accuracy"],
        record["n_test"],
        record["regime"],
        record["epoch_kept"],
        record["epochs_run"],
    )
    write_run(record, network, trained, resolved, classes, seconds=seconds, files=files)
    return record

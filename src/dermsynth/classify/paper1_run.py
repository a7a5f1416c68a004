"""One run of paper 1's CNN ablation, from files to files: a variant (original, synthetic,
combined) under a split protocol and a test set composition (`real`: the split's real images;
`paper`: the arm's own images split 80/20, `dermsynth.classify.paper1_data`), trained, tested, and
reported."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from dermsynth.class_order import paper_order
from dermsynth.classify.evaluate import metrics_record, write_metrics
from dermsynth.classify.paper1_cnn import PaperCNN
from dermsynth.classify.paper1_data import describe_test_set, load_image_set, variant_frames
from dermsynth.classify.paper1_figures import plot_confusion, plot_loss_curves
from dermsynth.classify.run_files import RunFiles
from dermsynth.classify.settings import CNNSettings
from dermsynth.classify.train import pick_device, predict, train_classifier, write_history
from dermsynth.design.paper1 import seen_by_generator
from dermsynth.io import read_table, save_torch

log = logging.getLogger(__name__)


def save_model(model: PaperCNN, settings: CNNSettings, classes: Mapping[str, str], path) -> None:
    """The weights (float32, CPU) with what it takes to rebuild the network."""
    state = {
        "state_dict": {k: v.detach().float().cpu() for k, v in model.state_dict().items()},
        "classes": dict(classes),
        "settings": asdict(settings),
    }
    save_torch(state, path)


def load_model(path: str | Path) -> tuple[PaperCNN, dict[str, str]]:
    """A saved network (eval mode, CPU) and its classes (code -> name, in index order)."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    settings = CNNSettings(**state["settings"])
    model = PaperCNN(
        len(state["classes"]),
        settings.image_size,
        settings.filters,
        settings.dense,
        settings.dropout,
    )
    model.load_state_dict(state["state_dict"])
    return model.eval(), state["classes"]


def run_paper_cnn(
    *,
    split: str | Path,
    images_dir: str | Path,
    variant: str,
    protocol: str,
    classes: Mapping[str, str],
    settings: CNNSettings,
    synthetic: str | Path | None,
    files: RunFiles,
    run: str,
    test_set: str = "real",
    synthetic_split: Mapping[str, Any] | None = None,
    generator_images: str | Path | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train the variant's network (resuming from `files.checkpoint`), test it on the test set
    of composition `test_set` (`synthetic_split`: the fractions and seed that split the
    synthetic images under `paper`), and write `files`: metrics.json, the history CSV, both
    figures and the weights, each the same bytes for the same inputs, and the wall-clock times
    apart (the timing file). `generator_images` (the train_images.csv of the GLIDE that made
    `synthetic`) lets the record count the real test images that GLIDE learned from. The
    checkpoint is removed once everything is written. Returns the metrics record."""
    if threads:
        torch.set_num_threads(threads)
    confusion, curves = files.figures()
    device = pick_device(device)
    size = settings.image_size
    frames = variant_frames(
        split,
        images_dir,
        size=size,
        variant=variant,
        classes=classes,
        synthetic=synthetic,
        test_set=test_set,
        synthetic_split=synthetic_split,
    )
    counts = {name: frame["source"].value_counts().to_dict() for name, frame in frames.items()}
    log.info(
        "%s / %s, test set %s, at %d px: images by split and source %s",
        variant,
        protocol,
        test_set,
        size,
        counts,
    )
    tested = frames["test"]["source"].value_counts()
    seen = None
    if generator_images is not None:
        real_test = frames["test"].loc[frames["test"]["source"] == "real", "image_id"]
        seen = seen_by_generator(list(real_test), read_table(generator_images, ["image_id"]))
        log.info(
            "%d of the %d real test images were in the generator's training images",
            seen,
            len(real_test),
        )
    codes = list(classes)
    workers = max(1, threads or 1)
    data = {
        name: load_image_set(frame, codes, size, workers=workers, desc=f"decode {name}")
        for name, frame in frames.items()
    }
    started = time.perf_counter()
    network, trained = train_classifier(
        data["train"],
        data["val"],
        settings=settings,
        checkpoint_path=files.checkpoint,
        log=log,
        device=device,
    )
    seconds = time.perf_counter() - started
    predicted_index = predict(
        network, data["test"], batch_size=settings.eval_batch_size, device=device
    )
    true = list(frames["test"]["label"])
    predicted = [codes[i] for i in predicted_index]
    record = metrics_record(
        true=true,
        predicted=predicted,
        classes=classes,
        train=frames["train"],
        n_val=len(frames["val"]),
        history=trained,
        variant=variant,
        protocol=protocol,
        run=run,
        extra={
            "test_set_composition": test_set,
            "test_set": describe_test_set(test_set, variant),
            "n_test_real": int(tested.get("real", 0)),
            "n_test_synthetic": int(tested.get("synthetic", 0)),
            "n_test_real_seen_by_generator": seen,
            "n_val_synthetic": int((frames["val"]["source"] == "synthetic").sum()),
            "image_size": size,
            "device": str(device),
            "settings": asdict(settings),
        },
    )
    log.info(
        "%s / %s: test accuracy %.3f on %d images, %s (best epoch %d of %d)",
        variant,
        protocol,
        record["accuracy"],
        record["n_test"],
        record["test_set"],
        record["best_epoch"],
        record["epochs_run"],
    )
    title = (
        f"Paper 1 CNN, {variant} training data, {protocol} split ({run} run)\n"
        f"test set {test_set}: {record['n_test_real']} real, "
        f"{record['n_test_synthetic']} synthetic images"
    )
    write_history(trained, seconds, path=files.history, timing=files.timing)
    plot_confusion(
        true,
        predicted,
        paper_order(classes),
        confusion,
        title=f"{title}, accuracy {record['accuracy']:.2f}",
    )
    plot_loss_curves(trained, record["best_epoch"], curves, title=title, augmented=settings.augment)
    save_model(network, settings, classes, files.model)
    write_metrics(record, files.metrics)
    files.drop_checkpoint()
    return record

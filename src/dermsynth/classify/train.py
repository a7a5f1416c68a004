"""Training the paper 1 CNN: Adam, cross-entropy, early stopping on validation loss restoring the
best weights (Keras's EarlyStopping(patience, restore_best_weights=True)), at most `epochs`.

Every epoch's batch order, augmentation and dropout masks come from generators seeded by
(seed, epoch, step), and every epoch ends in a checkpoint (model, optimizer, best weights,
history, epochs without improvement, RNG states) written atomically; so a run killed at any
point and started again finishes with the same weights and history as one never killed (on the
same hardware and thread count; `seconds` aside).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from dermsynth.classify.augment import Augmentation
from dermsynth.classify.cnn import PaperCNN
from dermsynth.classify.data import DROPOUT_STREAM, Batches, ImageSet
from dermsynth.classify.settings import CNNSettings
from dermsynth.io import atomic_path
from dermsynth.seeds import derived_seed

HISTORY_COLUMNS = [
    "epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "improved", "seconds",
]  # fmt: skip
CHECKPOINT_VERSION = 1


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """The device asked for, else the GPU when there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def build_model(settings: CNNSettings, num_classes: int) -> PaperCNN:
    """The network of `settings`, its initial weights drawn from the settings' seed."""
    torch.manual_seed(derived_seed(settings.seed, 0))
    return PaperCNN(
        num_classes, settings.image_size, settings.filters, settings.dense, settings.dropout
    )


def model_input(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A batch laid out as the model wants it (channels-last on a GPU)."""
    if device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    return x


def mean_loss(model: nn.Module, batches: Batches, *, autocast: bool = False) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of `model` (in eval mode) over every batch."""
    model.eval()
    total = correct = 0.0
    n = 0
    with torch.no_grad():
        for x, y in batches.epoch(0):
            with torch.autocast(batches.device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(model_input(x, batches.device))
            logits = logits.float()
            total += F.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
    return total / n, correct / n


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _identity(settings: CNNSettings, train: ImageSet, val: ImageSet) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the settings and the data."""
    return {
        "version": CHECKPOINT_VERSION,
        "settings": asdict(settings),
        "train": train.fingerprint(),
        "val": val.fingerprint(),
    }


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def train_classifier(
    train: ImageSet,
    val: ImageSet,
    *,
    settings: CNNSettings,
    checkpoint_path: str | Path,
    log: logging.Logger | None = None,
    device: str | torch.device | None = None,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> tuple[PaperCNN, pd.DataFrame]:
    """Train the paper's CNN on `train`, stopping early on `val`'s loss; resume from
    `checkpoint_path` when it holds a run of the same settings and data.

    Returns the model with the best epoch's weights (in eval mode) and the history, one row per
    epoch (`improved`: the epoch's val loss beat the best by more than min_delta; the last such
    epoch is the one restored). `on_epoch_end(epoch, model)` runs after each checkpoint.
    """
    log = log or logging.getLogger(__name__)
    device = pick_device(device)
    checkpoint_path = Path(checkpoint_path)
    autocast = settings.precision == "bf16" and device.type == "cuda"
    model = build_model(settings, len(train.classes)).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        # cuDNN's fastest kernels may sum in a different order from run to run
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    # fused: one kernel for the whole update, about twice as fast as the default on a CPU
    optimizer = torch.optim.Adam(
        model.parameters(), lr=settings.lr, eps=settings.adam_eps, fused=True
    )
    train_batches = Batches(
        train, settings.batch_size, seed=settings.seed, shuffle=True,
        augmentation=Augmentation.from_settings(settings),
        max_steps=settings.max_steps_per_epoch, device=device,
    )  # fmt: skip
    val_batches = Batches(val, settings.eval_batch_size, device=device)

    identity = _identity(settings, train, val)
    epoch, history, wait, finished = 0, [], 0, False
    best_loss, best_epoch = float("inf"), 0
    best_state = _clone(model.state_dict())
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state.get("identity") != identity:
            log.warning("ignoring %s: made with other settings or data", checkpoint_path)
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            best_state, best_loss, best_epoch = (
                state["best_state"], state["best_loss"], state["best_epoch"]
            )  # fmt: skip
            epoch, history, wait = state["epoch"], state["history"], state["wait"]
            finished = state["finished"]
            _set_rng_states(state["rng"])
            log.info("resumed from %s after epoch %d", checkpoint_path, epoch)

    log.info(
        "training on %s: %d train and %d val images, %d steps of %d per epoch, at most %d "
        "epochs, patience %d", device, len(train), len(val), len(train_batches),
        settings.batch_size, settings.epochs, settings.patience,
    )  # fmt: skip
    while not finished:
        epoch += 1
        started = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        progress = tqdm(
            total=len(train_batches), desc=f"epoch {epoch}/{settings.epochs}", mininterval=10
        )
        for step, (x, y) in enumerate(train_batches.epoch(epoch)):
            torch.manual_seed(derived_seed(settings.seed, DROPOUT_STREAM, epoch, step))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(model_input(x, device))
            loss = F.cross_entropy(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            progress.update(1)
        progress.close()
        train_loss = loss_sum.item() / seen
        if not torch.isfinite(torch.tensor(train_loss)):
            raise FloatingPointError(f"training loss is {train_loss} in epoch {epoch}")
        val_loss, val_accuracy = mean_loss(model, val_batches, autocast=autocast)
        improved = val_loss < best_loss - settings.min_delta
        if improved:
            best_loss, best_epoch, wait = val_loss, epoch, 0
            best_state = _clone(model.state_dict())
        else:
            wait += 1
        finished = wait >= settings.patience or epoch >= settings.epochs
        history.append(
            {
                "epoch": epoch, "train_loss": train_loss,
                "train_accuracy": correct.item() / seen, "val_loss": val_loss,
                "val_accuracy": val_accuracy, "improved": improved,
                "seconds": time.perf_counter() - started,
            }
        )  # fmt: skip
        log.info(
            "epoch %d: train loss %.4f acc %.3f, val loss %.4f acc %.3f%s (%.1f s)",
            epoch, train_loss, history[-1]["train_accuracy"], val_loss, val_accuracy,
            " (best)" if improved else f", {wait} without improvement", history[-1]["seconds"],
        )  # fmt: skip
        state = {
            "identity": identity,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "best_state": best_state,
            "best_loss": best_loss,
            "best_epoch": best_epoch,
            "epoch": epoch,
            "history": history,
            "wait": wait,
            "finished": finished,
            "rng": _rng_states(),
        }
        with atomic_path(checkpoint_path) as tmp:
            torch.save(state, tmp)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)

    if wait >= settings.patience:
        log.info("early stop after epoch %d: restoring epoch %d", epoch, best_epoch)
    else:
        log.info("reached %d epochs: restoring epoch %d", epoch, best_epoch)
    model.load_state_dict(best_state)
    model.eval()
    return model, pd.DataFrame(history, columns=HISTORY_COLUMNS)

"""The one training loop of both papers' classifiers: Adam, cross-entropy, early stopping on
validation loss (`EarlyStopping`: Keras's EarlyStopping and fastai's EarlyStoppingCallback
decide alike), at most `epochs`, then the best epoch's weights restored (Keras's
restore_best_weights=True; paper 2's dose-response script) or the last epoch's kept (paper 2's
Figure 3 script). Paper 1's CNN (`train_classifier`) and paper 2's EfficientNetV2-M
(`train_efficientnet`, in the authors' regime or ours) differ only in the network, the
optimiser, the batches and the settings they hand to `fit`.

Every epoch's batch order, augmentation and dropout masks come from generators seeded by
(seed, epoch, step), and every epoch ends in a checkpoint (model, optimizer, best weights,
history, epochs without improvement, RNG states) written atomically; so a run killed at any
point and started again finishes with the same weights and history as one never killed (on the
same hardware and thread count; `seconds` aside). The history CSV leaves wall-clock time out
(`write_history`), so its bytes depend on the run's inputs alone; the times go to a timing file.
On a GPU: channels-last, and bf16 autocast when the settings ask for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from dermsynth.classify import authors
from dermsynth.classify.paper1_augment import Augmentation
from dermsynth.classify.paper1_cnn import PaperCNN
from dermsynth.classify.paper1_data import Batches, ImageSet
from dermsynth.classify.paper2_efficientnet import build_efficientnet
from dermsynth.classify.paper2_loader import FileBatches, FileImageSet
from dermsynth.classify.paper2_transforms import standard_transforms
from dermsynth.classify.settings import CNNSettings, GridSettings
from dermsynth.classify.state import changing_state, load_changing_state, trainable_parameters
from dermsynth.classify.streams import DROPOUT_STREAM
from dermsynth.io import file_sha256, save_torch, write_csv, write_json
from dermsynth.seeds import derived_seed

HISTORY_COLUMNS = [
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "improved",
]
# the loop also times each epoch; the products keep that apart, in the run's timing.json
EPOCH_SECONDS = "seconds"
CHECKPOINT_VERSION = 2
# settings that change how fast a run goes, never what it computes
SPEED_ONLY = ("num_workers",)


class LoopSettings(Protocol):
    """What the loop reads of a network's settings (CNNSettings and GridSettings have it)."""

    epochs: int
    lr: float
    adam_eps: float
    patience: int
    min_delta: float
    seed: int
    precision: str


class BatchSource(Protocol):
    """Seeded batches of float pixels in [0, 1] and class indices on `device` (`Batches` of
    decoded images, `FileBatches` of files)."""

    device: torch.device
    batch_size: int

    def __len__(self) -> int: ...

    def epoch(self, epoch: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]: ...


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


def predict_logits(model: nn.Module, batches: BatchSource) -> np.ndarray:
    """The logits (float32, N x classes) of every image of `batches`, in order, no augmentation."""
    model.eval()
    out = []
    with torch.no_grad():
        for x, _ in batches.epoch(0):
            out.append(model(model_input(x, batches.device)).float().cpu())
    return torch.cat(out).numpy()


def predict(
    model: nn.Module,
    data: ImageSet,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """The predicted class index of every image of `data`, in order (no augmentation)."""
    device = pick_device(device)
    logits = predict_logits(model.to(device), Batches(data, batch_size, device=device))
    return logits.argmax(1)


def mean_loss(
    model: nn.Module, batches: BatchSource, *, autocast: bool = False
) -> tuple[float, float]:
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
        "settings": asdict(settings),
        "train": train.fingerprint(),
        "val": val.fingerprint(),
    }


def _clone(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def make_optimizer(model: nn.Module, settings: LoopSettings) -> torch.optim.Optimizer:
    """Adam with the settings' learning rate and epsilon."""
    # fused: one kernel for the whole update, about twice as fast as the default on a CPU
    return torch.optim.Adam(model.parameters(), lr=settings.lr, eps=settings.adam_eps, fused=True)


def grid_optimizer(model: nn.Module, settings: GridSettings) -> torch.optim.Optimizer:
    """Paper 2's optimiser: fastai's Adam in the authors' regime
    (`dermsynth.classify.authors.make_optimizer`), else AdamW over every parameter with the
    settings' betas, epsilon and weight decay (0: plain Adam)."""
    if settings.regime == "authors":
        return authors.make_optimizer(
            model,
            settings.lr,
            eps=settings.adam_eps,
            beta2=settings.beta2,
            weight_decay=settings.weight_decay,
        )
    return torch.optim.AdamW(
        model.parameters(),
        lr=settings.lr,
        betas=(0.9, settings.beta2),
        eps=settings.adam_eps,
        weight_decay=settings.weight_decay,
        fused=True,
    )


@dataclass
class EarlyStopping:
    """Stop after `patience` epochs in a row whose validation loss does not beat the best by
    more than `min_delta` (Keras's EarlyStopping and fastai's EarlyStoppingCallback on
    `valid_loss` both decide so)."""

    patience: int
    min_delta: float = 0.0
    best_loss: float = float("inf")
    best_epoch: int = 0
    wait: int = 0

    def update(self, epoch: int, loss: float) -> bool:
        """Record epoch `epoch`'s validation loss; True when it is a new best."""
        if loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.wait = loss, epoch, 0
            return True
        self.wait += 1
        return False

    @property
    def stop(self) -> bool:
        return self.wait >= self.patience


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    autocast: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimisation step on a batch (bf16 autocast if asked): the loss and the logits."""
    device = x.device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        logits = model(model_input(x, device))
    loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, logits


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The model on `device`; on a GPU channels-last, with cuDNN's deterministic kernels."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        # cuDNN's fastest kernels may sum in a different order from run to run
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    return model


def fit(
    model: nn.Module,
    train_batches: BatchSource,
    val_batches: BatchSource,
    *,
    settings: LoopSettings,
    identity: dict[str, Any],
    checkpoint_path: str | Path,
    log: logging.Logger | None = None,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
    optimizer: Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    restore_best: bool = True,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train `model` on `train_batches`, stopping early on `val_batches`' loss; resume from
    `checkpoint_path` when it holds a run of the same `identity` (settings and data).
    `optimizer(model)` makes the optimiser (default: `make_optimizer` of the settings).

    Returns the model (in eval mode) with the best epoch's weights, or with the last epoch's
    when not `restore_best`, and the history, one row per epoch (`improved`: the epoch's val
    loss beat the best by more than min_delta; `seconds`: its wall-clock time).
    `on_epoch_end(epoch, model)` runs after each checkpoint.
    """
    log = log or logging.getLogger(__name__)
    device = train_batches.device
    checkpoint_path = Path(checkpoint_path)
    autocast = settings.precision == "bf16" and device.type == "cuda"
    model = prepare_model(model, device)
    optimizer_ = (optimizer or (lambda m: make_optimizer(m, settings)))(model)
    identity = {"version": CHECKPOINT_VERSION, "restore_best": restore_best, **identity}
    stopping = EarlyStopping(settings.patience, settings.min_delta)
    epoch, history, finished = 0, [], False
    best_state = _clone(changing_state(model))
    if checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location=device, weights_only=False)
        if state.get("identity") != identity:
            log.warning("ignoring %s: made with other settings or data", checkpoint_path)
        else:
            load_changing_state(model, state["model"])
            optimizer_.load_state_dict(state["optimizer"])
            best_state, stopping = state["best_state"], EarlyStopping(**state["stopping"])
            epoch, history, finished = state["epoch"], state["history"], state["finished"]
            _set_rng_states(state["rng"])
            log.info("resumed from %s after epoch %d", checkpoint_path, epoch)

    log.info(
        "training on %s: %d steps of %d per epoch, at most %d epochs, patience %d",
        device,
        len(train_batches),
        train_batches.batch_size,
        settings.epochs,
        settings.patience,
    )
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
            loss, logits = train_step(model, optimizer_, x, y, autocast=autocast)
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            progress.update(1)
        progress.close()
        train_loss = loss_sum.item() / seen
        if not torch.isfinite(torch.tensor(train_loss)):
            raise FloatingPointError(f"training loss is {train_loss} in epoch {epoch}")
        val_loss, val_accuracy = mean_loss(model, val_batches, autocast=autocast)
        improved = stopping.update(epoch, val_loss)
        if improved and restore_best:
            best_state = _clone(changing_state(model))
        finished = stopping.stop or epoch >= settings.epochs
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_accuracy": correct.item() / seen,
                "val_loss": val_loss,
                "val_accuracy": val_accuracy,
                "improved": improved,
                EPOCH_SECONDS: time.perf_counter() - started,
            }
        )
        log.info(
            "epoch %d: train loss %.4f acc %.3f, val loss %.4f acc %.3f%s (%.1f s)",
            epoch,
            train_loss,
            history[-1]["train_accuracy"],
            val_loss,
            val_accuracy,
            " (best)" if improved else f", {stopping.wait} without improvement",
            history[-1][EPOCH_SECONDS],
        )
        state = {
            "identity": identity,
            "model": changing_state(model),
            "optimizer": optimizer_.state_dict(),
            "best_state": best_state if restore_best else {},
            "stopping": asdict(stopping),
            "epoch": epoch,
            "history": history,
            "finished": finished,
            "rng": _rng_states(),
        }
        save_torch(state, checkpoint_path)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model)

    ended = "early stop after" if stopping.stop else "reached"
    if restore_best:
        log.info("%s epoch %d: restoring epoch %d", ended, epoch, stopping.best_epoch)
        load_changing_state(model, best_state)
    else:
        log.info(
            "%s epoch %d: keeping its weights (best epoch %d)", ended, epoch, stopping.best_epoch
        )
    model.eval()
    return model, pd.DataFrame(history, columns=[*HISTORY_COLUMNS, EPOCH_SECONDS])


def write_history(
    history: pd.DataFrame, train_seconds: float, *, path: str | Path, timing: str | Path
) -> None:
    """A run's history (`fit`'s) as CSV without its wall-clock time, so two runs of the same
    inputs write the same bytes, and the time apart in `timing` (JSON): the training's seconds
    and each epoch's."""
    write_csv(history[HISTORY_COLUMNS], path)
    epochs = [float(s) for s in history[EPOCH_SECONDS]]
    write_json({"train_seconds": train_seconds, "epoch_seconds": epochs}, timing)


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
    """Train paper 1's CNN on decoded images (`fit`, with the Keras-like augmentation)."""
    log = log or logging.getLogger(__name__)
    device = pick_device(device)
    model = build_model(settings, len(train.classes))
    train_batches = Batches(
        train,
        settings.batch_size,
        seed=settings.seed,
        shuffle=True,
        augmentation=Augmentation.from_settings(settings),
        max_steps=settings.max_steps_per_epoch,
        device=device,
    )
    val_batches = Batches(val, settings.eval_batch_size, device=device)
    log.info("paper 1 CNN: %d train and %d val images", len(train), len(val))
    return fit(
        model,
        train_batches,
        val_batches,
        settings=settings,
        identity=_identity(settings, train, val),
        checkpoint_path=checkpoint_path,
        log=log,
        on_epoch_end=on_epoch_end,
    )


def grid_identity(settings: GridSettings, train: FileImageSet, val: FileImageSet) -> dict[str, Any]:
    """What a paper 2 checkpoint must match: the settings (less the speed-only ones), the
    ImageNet weights' content and the data."""
    values = {k: v for k, v in asdict(settings).items() if k not in SPEED_ONLY}
    weights = file_sha256(settings.weights) if settings.weights else None
    return {
        "settings": values,
        "weights_sha256": weights,
        "train": train.fingerprint(),
        "val": val.fingerprint(),
    }


def train_efficientnet(
    train: FileImageSet,
    val: FileImageSet,
    *,
    settings: GridSettings,
    checkpoint_path: str | Path,
    log: logging.Logger | None = None,
    device: str | torch.device | None = None,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> tuple[nn.Module, pd.DataFrame, GridSettings]:
    """Train paper 2's network on image files (`fit`, with the transforms axis), its batch size
    from the training set's size, in the settings' regime: the authors' (fastai's network,
    optimiser and `aug_transforms()` on each batch, the last partial batch dropped) or ours.
    Returns the model, the history and the settings with the batch size used."""
    log = log or logging.getLogger(__name__)
    device = pick_device(device)
    settings = settings.resolved(len(train))
    model = build_efficientnet(settings, len(train.classes))
    authors_regime = settings.regime == "authors"
    augment = settings.transforms and authors_regime
    train_batches = FileBatches(
        train,
        settings.batch_size,
        seed=settings.seed,
        shuffle=True,
        transform=None if authors_regime else standard_transforms(settings),
        batch_transform=authors.fastai_augment() if augment else None,
        drop_last=settings.drop_last,
        max_steps=settings.max_steps_per_epoch,
        device=device,
        workers=settings.num_workers,
    )
    val_batches = FileBatches(
        val, settings.eval_batch_size, device=device, workers=settings.num_workers
    )
    log.info(
        "%s regime, %s (%s): %d train and %d val images at %d px, batch %d, transforms %s, "
        "%d trainable parameters",
        settings.regime,
        settings.model_name,
        settings.weights or "random init",
        len(train),
        len(val),
        settings.image_size,
        settings.batch_size,
        "on" if settings.transforms else "off",
        trainable_parameters(model),
    )
    model, history = fit(
        model,
        train_batches,
        val_batches,
        settings=settings,
        identity=grid_identity(settings, train, val),
        checkpoint_path=checkpoint_path,
        log=log,
        on_epoch_end=on_epoch_end,
        optimizer=lambda m: grid_optimizer(m, settings),
        restore_best=settings.restore_best,
    )
    return model, history, settings

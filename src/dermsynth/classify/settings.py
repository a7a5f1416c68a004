"""The paper 1 CNN's training knobs; defaults are paper 1's (section 2.4) and Keras's defaults
where the paper names a Keras class without arguments (Adam, ImageDataGenerator's fill)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class CNNSettings:
    epochs: int = 100  # "a maximum of 100 epochs"
    batch_size: int = 32
    lr: float = 1e-3  # Keras Adam's default learning rate
    adam_eps: float = 1e-7  # Keras Adam's epsilon (torch's default is 1e-8)
    patience: int = 5  # EarlyStopping on val loss, restoring the best weights
    min_delta: float = 0.0  # Keras EarlyStopping's default
    seed: int = 0
    image_size: int = 128
    # ImageDataGenerator: rotation, width and height shift, zoom, horizontal flip
    augment: bool = True
    rotation_range: float = 20.0  # degrees, uniform in [-r, r]
    width_shift_range: float = 0.1  # fraction of the width, uniform in [-w, w]
    height_shift_range: float = 0.1
    zoom_range: float = 0.1  # x and y scale each uniform in [1 - z, 1 + z]
    horizontal_flip: bool = True
    # the network: conv 3x3 'valid' + ReLU + 2x2 max-pool per filter count, dense, dropout
    filters: tuple[int, ...] = (32, 64, 128)
    dense: int = 64
    dropout: float = 0.5
    max_steps_per_epoch: int | None = None  # cap the training steps of an epoch (demo)
    eval_batch_size: int = 256  # validation and test (no effect on the numbers)
    precision: str = "fp32"  # fp32, or bf16 autocast on a GPU

    def __post_init__(self) -> None:
        # YAML gives lists; a tuple keeps the settings hashable and comparable with a checkpoint's
        object.__setattr__(self, "filters", tuple(int(f) for f in self.filters))
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {self.precision!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1:
            raise ValueError("epochs, batch_size and patience must be at least 1")


def settings_from(config: Mapping[str, Any], image_size: int | None = None) -> CNNSettings:
    """CNNSettings from a config mapping (unknown keys are an error), at `image_size` if given."""
    known = {f.name for f in fields(CNNSettings)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown CNN setting(s) {unknown}; known: {sorted(known)}")
    values = dict(config)
    if image_size is not None:
        if "image_size" in values and int(values["image_size"]) != int(image_size):
            raise ValueError(
                f"settings say image_size {values['image_size']} but the run's size is {image_size}"
            )
        values["image_size"] = int(image_size)
    return CNNSettings(**values)

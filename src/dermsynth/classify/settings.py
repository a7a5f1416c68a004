"""The classifiers' training knobs: paper 1's CNN (`CNNSettings`; defaults from its section 2.4,
and Keras's defaults where the paper names a Keras class without arguments: Adam,
ImageDataGenerator's fill) and paper 2's EfficientNetV2-M grid in our regime (`GridSettings`;
what it shares with the authors' scripts and what not is in its docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
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


@dataclass(frozen=True)
class GridSettings:
    """Paper 2's classifier in our regime: EfficientNetV2-M from timm, ImageNet weights from a
    local file (None: random init, the demo), Adam lr 1e-3, at most 50 epochs with early
    stopping on validation loss (patience 3: as the authors' scripts), a batch size of about
    n_train / 10 clipped to 8..128 (theirs: 8, 32 or 64 by thresholds), and the "transforms"
    axis: none, or a standard augmentation set (flip, crop, rotation, warp, lighting). The
    authors trained torchvision's EfficientNetV2-M through fastai's `vision_learner`."""

    model_name: str = "tf_efficientnetv2_m"
    weights: str | None = None  # a local ImageNet weights file; nothing is ever downloaded
    image_size: int = 224
    drop_rate: float = 0.0  # timm's default (the authors call create_model without it)
    lr: float = 1e-3
    adam_eps: float = 1e-8  # torch Adam's default
    epochs: int = 50
    patience: int = 3
    min_delta: float = 0.0
    batch_size: int | None = None  # None: the rule below, from the training set's size
    batch_divisor: int = 10  # batch size = n_train // batch_divisor, clipped to [min, max]
    batch_min: int = 8
    batch_max: int = 128
    transforms: bool = False  # the grid's transforms axis (a run id's t0 / t1)
    # the standard set, each knob at fastai aug_transforms' default (flip, rotate, zoom, warp,
    # lighting: the list the slides name); the crop is a RandomResizedCrop of this area range
    crop_scale: tuple[float, float] = (0.75, 1.0)
    rotation: float = 10.0  # degrees, uniform in [-r, r]
    warp: float = 0.2  # perspective distortion scale
    lighting: float = 0.2  # brightness and contrast factors in [1 - l, 1 + l]
    p_affine: float = 0.75  # chance of each of rotation and warp
    p_lighting: float = 0.75
    seed: int = 0
    max_steps_per_epoch: int | None = None  # cap the training steps of an epoch (demo)
    eval_batch_size: int = 128  # validation and test
    num_workers: int = 0  # DataLoader decoding processes (no effect on the numbers)
    precision: str = "bf16"  # bf16 autocast on a GPU (always fp32 on a CPU), or fp32

    def __post_init__(self) -> None:
        object.__setattr__(self, "crop_scale", tuple(float(s) for s in self.crop_scale))
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {self.precision!r}")
        if self.epochs < 1 or self.patience < 1 or (self.batch_size or 1) < 1:
            raise ValueError("epochs, batch_size and patience must be at least 1")
        if not 1 <= self.batch_min <= self.batch_max or self.batch_divisor < 1:
            raise ValueError("need 1 <= batch_min <= batch_max and batch_divisor >= 1")

    def batch_size_for(self, n_train: int) -> int:
        """The batch size of a training set of `n_train` images: the fixed one if set, else
        n_train // batch_divisor clipped to [batch_min, batch_max]."""
        if self.batch_size is not None:
            return self.batch_size
        return grid_batch_size(n_train, self.batch_divisor, self.batch_min, self.batch_max)

    def resolved(self, n_train: int) -> GridSettings:
        """These settings with the batch size of a training set of `n_train` images."""
        return replace(self, batch_size=self.batch_size_for(n_train))


def grid_batch_size(n_train: int, divisor: int = 10, low: int = 8, high: int = 128) -> int:
    """n_train // divisor, clipped to [low, high]."""
    return int(min(max(n_train // divisor, low), high))


def grid_settings_from(config: Mapping[str, Any], **run: Any) -> GridSettings:
    """GridSettings from a config mapping (unknown keys are an error), with the values a run
    fixes (`image_size`, `seed`, `transforms`) set; a config value that contradicts one is an
    error, as is a run value that is not a setting."""
    known = {f.name for f in fields(GridSettings)}
    unknown = sorted((set(config) | set(run)) - known)
    if unknown:
        raise ValueError(f"unknown grid setting(s) {unknown}; known: {sorted(known)}")
    values = dict(config)
    for key, value in run.items():
        if key in values and values[key] != value:
            raise ValueError(f"settings say {key} {values[key]!r} but the run's is {value!r}")
        values[key] = value
    return GridSettings(**values)

"""The classifiers' training knobs: paper 1's CNN (`CNNSettings`: values from its section 2.4,
Keras' defaults where the paper names, without arguments, a class whose name and wording are
Keras's (Adam, EarlyStopping; the paper names no framework), and
our own choices where the paper gives no value (filter counts, augmentation strengths, input
size), each field saying which) and paper 2's EfficientNetV2-M (`GridSettings`: the authors'
regime and ours, each described in its docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class CNNSettings:
    """Paper 1's CNN and its training (section 2.4). A comment per field says where its value
    comes from: "paper" (the text of 2.4), "Keras" (the default of the Keras class whose name
    the paper uses without arguments; it names no framework) or "ours" (no value given)."""

    epochs: int = 100  # paper: "a maximum of 100 epochs"
    batch_size: int = 32  # paper: "a batch size of 32"
    lr: float = 1e-3  # Keras: Adam's default learning rate (the paper names none)
    adam_eps: float = 1e-7  # Keras: Adam's epsilon (torch's default is 1e-8)
    patience: int = 5  # paper: EarlyStopping on validation loss, patience 5, best weights restored
    min_delta: float = 0.0  # Keras: EarlyStopping's default
    seed: int = 0  # ours
    image_size: int = 128  # ours: the paper gives the CNN no input size (128 px is GLIDE's, 2.1)
    # paper: ImageDataGenerator with "rotation, width and height shift, zoom, and horizontal
    # flip", no strength given; ImageDataGenerator's defaults are 0 (no augmentation), so every
    # range below is ours
    augment: bool = True
    rotation_range: float = 20.0  # ours: degrees, uniform in [-r, r]
    width_shift_range: float = 0.1  # ours: fraction of the width, uniform in [-w, w]
    height_shift_range: float = 0.1  # ours
    zoom_range: float = 0.1  # ours: x and y scale each uniform in [1 - z, 1 + z]
    horizontal_flip: bool = True  # paper
    # paper: "three convolutional layers, each followed by a max-pooling layer", flatten, dense
    # 64 + ReLU, dropout 0.5; ours: the filter counts and the layers' shape (conv 3x3 'valid' +
    # ReLU, 2x2 max-pool), which the paper does not give
    filters: tuple[int, ...] = (32, 64, 128)  # ours
    dense: int = 64  # paper
    dropout: float = 0.5  # paper
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


REGIMES = ("authors", "ours")
INPUTS = ("cache", "files")  # paper 2's images: decoded once into a cache, or every epoch
# the regimes' optimiser settings: fastai's Adam as `vision_learner` makes it (decoupled weight
# decay, none on normalisation layers and biases), and torch's Adam
REGIME_DEFAULTS: dict[str, dict[str, Any]] = {
    "authors": {
        "model_name": "efficientnet_v2_m",
        "adam_eps": 1e-5,
        "beta2": 0.99,
        "weight_decay": 0.01,
        "restore_best": False,
        "batch_steps": ((100, 64), (10, 32)),
        "precision": "fp32",
    },
    "ours": {
        "model_name": "tf_efficientnetv2_m",
        "adam_eps": 1e-8,
        "beta2": 0.999,
        "weight_decay": 0.0,
        "restore_best": True,
        "batch_steps": (),
        "precision": "bf16",
    },
}


@dataclass(frozen=True)
class GridSettings:
    """Paper 2's classifier. Two regimes, each complete:

    - `authors` (`dermsynth.classify.authors`): what their Figure 3 script ran. torchvision's
      EfficientNetV2-M through fastai's `vision_learner` (body frozen but its BatchNorm, fastai's
      head, no input normalisation), fastai's Adam (lr 1e-3 constant, betas 0.9 / 0.99, eps 1e-5,
      weight decay 0.01), a batch size of 64 / 32 / 8 as n_train / 10 reaches 100 / 10, fastai's
      `aug_transforms()` as the transforms axis, the last epoch kept, fp32. Their dose-response
      script adds a batch size of 128 from 500 and keeps the best epoch (`batch_steps`,
      `restore_best`).
    - `ours` (`dermsynth.classify.paper2_efficientnet`): timm's `tf_efficientnetv2_m`, every layer
      trained, torch's Adam, n_train // 10 clipped to 8..128, torchvision transforms of the same
      kinds, the best epoch restored, bf16 autocast on a GPU.

    Both: at most 50 epochs, early stopping on validation loss with patience 3 (their scripts'
    `EarlyStoppingCallback`), 224 px. Settings left None take the regime's value
    (`REGIME_DEFAULTS`)."""

    regime: str = "authors"
    model_name: str | None = None  # authors: torchvision's efficientnet_v2_m; ours: a timm name
    weights: str | None = None  # a local ImageNet weights file; nothing is ever downloaded
    image_size: int = 224
    drop_rate: float = 0.0  # ours: timm's dropout before the head (its default)
    lr: float = 1e-3
    adam_eps: float | None = None
    beta2: float | None = None  # Adam's second-moment decay (beta1 is 0.9 in both)
    weight_decay: float | None = None  # decoupled (AdamW); authors: not on norms and biases
    epochs: int = 50
    patience: int = 3
    min_delta: float = 0.0
    restore_best: bool | None = None  # keep the best epoch's weights (else the last epoch's)
    batch_size: int | None = None  # None: the rule below, from the training set's size
    # the batch size as n_train / batch_divisor reaches each threshold, largest first:
    # ((threshold, size), ...), batch_min below them all; empty: n_train // batch_divisor
    # clipped to [batch_min, batch_max]
    batch_steps: tuple[tuple[float, int], ...] | None = None
    batch_divisor: int = 10
    batch_min: int = 8
    batch_max: int = 128
    transforms: bool = False  # the grid's transforms axis (a run id's t0 / t1)
    # ours' torchvision set, each knob at fastai aug_transforms' default (flip, rotate, zoom,
    # warp, lighting); the crop is a RandomResizedCrop of this area range
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
    precision: str | None = None  # bf16 autocast on a GPU (always fp32 on a CPU), or fp32
    # where the images come from (paper2_loader): `cache`, each decoded once into a memory-mapped
    # cache; `files`, decoded from their files every epoch. Same batches on a CPU
    input: str = "cache"

    def __post_init__(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"regime must be one of {list(REGIMES)}, not {self.regime!r}")
        if self.input not in INPUTS:
            raise ValueError(f"input must be one of {list(INPUTS)}, not {self.input!r}")
        for key, value in REGIME_DEFAULTS[self.regime].items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        if self.regime == "authors" and self.model_name != "efficientnet_v2_m":
            raise ValueError(
                f"the authors' regime trains torchvision's efficientnet_v2_m, not "
                f"{self.model_name!r} (choose regime: ours for a timm model)"
            )
        object.__setattr__(self, "crop_scale", tuple(float(s) for s in self.crop_scale))
        steps = tuple((float(t), int(b)) for t, b in self.batch_steps)
        object.__setattr__(self, "batch_steps", steps)
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be fp32 or bf16, not {self.precision!r}")
        if self.epochs < 1 or self.patience < 1 or (self.batch_size or 1) < 1:
            raise ValueError("epochs, batch_size and patience must be at least 1")
        if not 1 <= self.batch_min <= self.batch_max or self.batch_divisor < 1:
            raise ValueError("need 1 <= batch_min <= batch_max and batch_divisor >= 1")
        if list(steps) != sorted(steps, reverse=True) or any(b < 1 for _, b in steps):
            raise ValueError(f"batch_steps {steps}: thresholds largest first, sizes >= 1")

    @property
    def random_crop(self) -> bool:
        """Whether a training image is the largest square of the whole image at a random
        position (fastai's `Resize` on a training set), not its centre square."""
        return self.regime == "authors"

    @property
    def drop_last(self) -> bool:
        """Whether an epoch drops the training set's last partial batch (fastai's training
        DataLoader does; ours keeps it)."""
        return self.regime == "authors"

    def batch_size_for(self, n_train: int) -> int:
        """The batch size of a training set of `n_train` images: the fixed one if set, else
        the first step whose threshold n_train / batch_divisor reaches (`batch_steps`), else
        n_train // batch_divisor clipped to [batch_min, batch_max]."""
        if self.batch_size is not None:
            return self.batch_size
        if self.batch_steps:
            return stepped_batch_size(n_train, self.batch_steps, self.batch_divisor, self.batch_min)
        return grid_batch_size(n_train, self.batch_divisor, self.batch_min, self.batch_max)

    def resolved(self, n_train: int) -> GridSettings:
        """These settings with the batch size of a training set of `n_train` images."""
        return replace(self, batch_size=self.batch_size_for(n_train))


def grid_batch_size(n_train: int, divisor: int = 10, low: int = 8, high: int = 128) -> int:
    """n_train // divisor, clipped to [low, high]."""
    return int(min(max(n_train // divisor, low), high))


def stepped_batch_size(
    n_train: int, steps: Sequence[tuple[float, int]], divisor: int = 10, low: int = 8
) -> int:
    """The authors' rule: the size of the first (threshold, size) step, largest threshold
    first, that n_train / divisor reaches; `low` below them all."""
    return next((int(b) for t, b in steps if n_train / divisor >= t), int(low))


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

"""Paper 2's classifier as its authors trained it (GitHub `manrai/synthetic-derm`,
`skin_classification_with_augmentation.py` and `paper_experiments/Experiments/dose_response.py`):

    learn = vision_learner(dls, arch=efficientnet_v2_m, metrics=[error_rate, accuracy])
    learn.fit(50, cbs=[..., EarlyStoppingCallback(monitor='valid_loss', min_delta=0.0, patience=3)])

written out in torch, as fastai 2.8 builds it for this architecture:

- the network: torchvision's EfficientNetV2-M cut before its pooling layer (its `features`), then
  fastai's head: concatenated max and average pooling, flatten, BatchNorm1d, dropout 0.25,
  Linear(2560, 512, no bias), ReLU, BatchNorm1d, dropout 0.5, Linear(512, classes, no bias);
  head BatchNorms start at weight 1, bias 1e-3, the Linear weights from a Kaiming normal init.
- frozen as `vision_learner` leaves it for pretrained weights: the body's parameters do not
  train except its BatchNorm layers' (fastai's `train_bn`).
- no input normalisation: fastai's `model_meta` holds no statistics for efficientnet_v2_m, so
  `vision_learner` adds no `Normalize`; the network sees pixels / 255.
- fastai's `Adam`: decoupled weight decay 0.01 (none on normalisation layers and biases,
  `wd_bn_bias=False`), betas 0.9 / 0.99, eps 1e-5, the learner's default lr 1e-3, constant.
- the transforms axis: fastai's own `aug_transforms()` with its defaults, applied to each
  training batch on its device (fastai is imported for it only when a run asks).

`tests/test_classify_authors.py` builds fastai's own learner offline and holds this module to
it: parameters, what trains, outputs, one optimiser step, normalisation, batch sizes and early
stopping.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from dermsynth.errors import DataError

ARCH = "efficientnet_v2_m"
# the file torchvision's IMAGENET1K_V1 weights download to (its hub cache name)
WEIGHTS_FILE = "efficientnet_v2_m-dc08266a.pth"
HEAD_HIDDEN = 512  # fastai create_head's lin_ftrs default: [features, 512, classes]
HEAD_DROPOUT = (0.25, 0.5)  # create_head's ps=0.5: half of it before the hidden layer
HEAD_NORM_BIAS = 1e-3  # fastai's BatchNorm(): bias filled with 1e-3, weight 1
NORM_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
)
ADAM = {"betas": (0.9, 0.99), "eps": 1e-5, "weight_decay": 0.01}  # fastai's Adam defaults


class ConcatPool(nn.Module):
    """fastai's AdaptiveConcatPool2d: global max and average pooling, concatenated (max first)."""

    def __init__(self) -> None:
        super().__init__()
        self.ap = nn.AdaptiveAvgPool2d(1)
        self.mp = nn.AdaptiveMaxPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


def _norm(features: int) -> nn.BatchNorm1d:
    norm = nn.BatchNorm1d(features)
    with torch.no_grad():
        norm.bias.fill_(HEAD_NORM_BIAS)
        norm.weight.fill_(1.0)
    return norm


def head(features: int, num_classes: int) -> nn.Sequential:
    """fastai's `create_head(features, num_classes)` (its layers in one flat Sequential),
    initialised as `vision_learner` does."""
    sizes = [features * 2, HEAD_HIDDEN, num_classes]
    layers: list[nn.Module] = [ConcatPool(), Flatten()]
    for n_in, n_out, p, last in zip(
        sizes[:-1], sizes[1:], HEAD_DROPOUT, (False, True), strict=True
    ):
        layers += [_norm(n_in), nn.Dropout(p), nn.Linear(n_in, n_out, bias=False)]
        if not last:
            layers.append(nn.ReLU(inplace=True))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_normal_(layer.weight)
    return nn.Sequential(*layers)


def load_torchvision_weights(network: nn.Module, path: str | Path) -> None:
    """torchvision's ImageNet weights for `network` from a local file (every tensor, strictly)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found (ImageNet weights are never downloaded)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).splitlines()[:3]
        raise DataError(path, f"not torchvision's {ARCH} weights: {' '.join(first)}") from None


def freeze_body(model: nn.Sequential) -> None:
    """fastai's `learn.freeze()` with `train_bn=True`: the body (model[0]) stops training but for
    its normalisation layers; the head trains."""
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    for layer in model[0].modules():
        if isinstance(layer, NORM_TYPES):
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
    for parameter in model[1].parameters():
        parameter.requires_grad_(True)


def build_model(num_classes: int, weights: str | Path | None = None) -> nn.Sequential:
    """The network `vision_learner(dls, arch=efficientnet_v2_m)` builds and freezes before
    `learn.fit`: torchvision's EfficientNetV2-M body (ImageNet weights from `weights`, the file
    torchvision downloads as efficientnet_v2_m-dc08266a.pth; None: its random init, the demo's
    stand-in) and fastai's head, body frozen but for its BatchNorm layers."""
    network = torchvision.models.efficientnet_v2_m(weights=None)
    if weights is not None:
        load_torchvision_weights(network, weights)
    body = nn.Sequential(network.features)  # fastai's cut: the children before the pooling
    features = network.features[-1].out_channels
    model = nn.Sequential(body, head(features, num_classes))
    freeze_body(model)
    return model


def norm_and_bias_parameters(model: nn.Module) -> list[nn.Parameter]:
    """fastai's `norm_bias_params`: every normalisation layer's parameters and every bias."""
    found: list[nn.Parameter] = []
    for module in model.modules():
        if isinstance(module, NORM_TYPES):
            found += list(module.parameters(recurse=False))
        elif isinstance(getattr(module, "bias", None), nn.Parameter):
            found.append(module.bias)
    return found


def make_optimizer(
    model: nn.Module,
    lr: float,
    *,
    eps: float = 1e-5,
    beta2: float = 0.99,
    weight_decay: float = 0.01,
) -> torch.optim.AdamW:
    """fastai's Adam as a Learner with `wd_bn_bias=False` makes it, over the trainable
    parameters: decoupled weight decay (AdamW) except on norms and biases."""
    exempt = {id(p) for p in norm_and_bias_parameters(model)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in exempt], "weight_decay": weight_decay},
        {"params": [p for p in trainable if id(p) in exempt], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(0.9, beta2), eps=eps)


def fastai_augment() -> Callable[[torch.Tensor], torch.Tensor]:
    """fastai's `aug_transforms()` (its defaults: flip, warp 0.2, rotate 10 degrees, zoom to 1.1,
    brightness and contrast 0.2, each with its probability) as a function of a float batch
    (N, 3, H, W) in [0, 1] on any device; its random draws come from torch's generator of that
    device, so seeding torch fixes them."""
    from fastai.torch_core import TensorImage
    from fastai.vision.augment import aug_transforms

    transforms = aug_transforms()

    def augment(x: torch.Tensor) -> torch.Tensor:
        image = TensorImage(x)
        for transform in transforms:
            image = transform(image, split_idx=0)
        return image.as_subclass(torch.Tensor)

    return augment

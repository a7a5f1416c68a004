"""Paper 2's classifier: "the Efficient-Net V2-M image classification model pretrained on
ImageNet" (slides, Methodology). `build_efficientnet` makes the settings' regime's network: the
authors' (`dermsynth.classify.authors`: torchvision's, as fastai's `vision_learner` builds and
freezes it) or ours, timm's `tf_efficientnetv2_m` (or any timm name) with a new head of one
logit per class. ImageNet weights come from a local file when configured (nothing is ever
downloaded); without one the network starts from a seeded random init (the demo).

Our network takes pixels in [0, 1] and normalises them itself, with the mean and std its
weights were trained with (timm's pretrained config: ImageNet's, or 0.5 for the TF ports); the
authors' takes pixels in [0, 1] as they are.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dermsynth.classify import authors
from dermsynth.classify.settings import GridSettings
from dermsynth.classify.state import changing_state, load_changing_state
from dermsynth.errors import DataError
from dermsynth.io import file_sha256, save_torch
from dermsynth.seeds import derived_seed

# state dicts in checkpoint files are often wrapped in one of these
WRAPPERS = ("state_dict", "model", "state_dict_ema", "model_ema")


class PixelNormalize(nn.Module):
    """(x - mean) / std per channel, for pixels in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (.safetensors, or a torch file, unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "weights file not found (ImageNet weights are never downloaded)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    while isinstance(state, dict):
        wrapper = next((k for k in WRAPPERS if isinstance(state.get(k), dict)), None)
        if wrapper is None:
            break
        state = state[wrapper]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise DataError(path, "not a state dict of tensors")
    return state


def load_imagenet_weights(network: nn.Module, path: str | Path) -> list[str]:
    """Load a timm network's ImageNet weights from `path`, every tensor but the classifier head's
    where its class count differs (the head keeps its fresh init); any other missing, extra or
    misshapen tensor is an error. Returns the keys of the head left as initialised."""
    state = read_state_dict(path)
    head = network.pretrained_cfg.get("classifier", "classifier")
    own = network.state_dict()
    kept_head = [
        k
        for k in own
        if k.startswith(f"{head}.") and (k not in state or state[k].shape != own[k].shape)
    ]
    state = {k: v for k, v in state.items() if k not in kept_head}
    misshapen = [k for k in state if k in own and state[k].shape != own[k].shape]
    missing = [k for k in own if k not in state and k not in kept_head]
    unexpected = [k for k in state if k not in own]
    if misshapen or missing or unexpected:
        raise DataError(
            path,
            f"not weights of {network.pretrained_cfg.get('architecture')}: missing "
            f"{missing[:5]}, unexpected {unexpected[:5]}, misshapen {misshapen[:5]}",
        )
    network.load_state_dict(state, strict=False)
    return kept_head


def create_efficientnet(
    num_classes: int,
    *,
    model_name: str = "tf_efficientnetv2_m",
    weights: str | Path | None = None,
    drop_rate: float = 0.0,
) -> nn.Sequential:
    """timm's `model_name` with `num_classes` outputs (random init, never downloaded), its
    ImageNet weights loaded from `weights` when given, behind its input normalisation:
    `normalize` then `network`."""
    import timm  # here: the authors' regime never needs it, and it costs every run's start

    network = timm.create_model(
        model_name, pretrained=False, num_classes=num_classes, drop_rate=drop_rate
    )
    if weights is not None:
        load_imagenet_weights(network, weights)
    config = network.pretrained_cfg
    return nn.Sequential(
        OrderedDict(normalize=PixelNormalize(config["mean"], config["std"]), network=network)
    )


def build_efficientnet(settings: GridSettings, num_classes: int) -> nn.Sequential:
    """The network of `settings` (its regime's), its random initial weights drawn from the
    settings' seed."""
    torch.manual_seed(derived_seed(settings.seed, 0))
    if settings.regime == "authors":
        return authors.build_model(num_classes, settings.weights)
    return create_efficientnet(
        num_classes,
        model_name=settings.model_name,
        weights=settings.weights,
        drop_rate=settings.drop_rate,
    )


def save_efficientnet(
    model: nn.Module,
    settings: GridSettings,
    classes: Sequence[str],
    path: str | Path,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """The weights that training changed (float32, CPU; a frozen parameter is rebuilt from the
    settings: its ImageNet weights file, checked by its sha256, or the seeded init) with what
    it takes to rebuild the network."""
    state = {
        "state_dict": {k: v.detach().float().cpu() for k, v in changing_state(model).items()},
        "classes": list(classes),
        "settings": asdict(settings),
        "weights_sha256": file_sha256(settings.weights) if settings.weights else None,
        **dict(extra or {}),
    }
    save_torch(state, path)


def load_efficientnet(path: str | Path) -> tuple[nn.Sequential, list[str]]:
    """A saved network (eval mode, CPU) and its classes, in output order. A network whose body
    was frozen is rebuilt from the same ImageNet weights file (which must still be there, with
    the same content) or seeded init, then given the saved weights."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    settings = GridSettings(**state["settings"])
    if settings.weights and file_sha256(settings.weights) != state.get("weights_sha256"):
        raise DataError(settings.weights, f"not the ImageNet weights {path} was trained from")
    model = build_efficientnet(settings, len(state["classes"]))
    load_changing_state(model, state["state_dict"])
    return model.eval(), list(state["classes"])

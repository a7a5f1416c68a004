"""Casting parts of the GLIDE network to float16 the way the released model does.

Only the weights of chosen layer types are cast; norms, the time embedding and the output head
stay float32, which is what keeps float16 sampling stable and what the checkpoints' dtype map
records.
"""

from __future__ import annotations

import torch
from torch import nn

CONVOLUTIONS: tuple[type[nn.Module], ...] = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
LINEAR_LAYERS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


def cast_layers(module: nn.Module, layer_types: tuple[type[nn.Module], ...], dtype) -> None:
    """Cast weight and bias of every sub-layer of `layer_types` to `dtype`, in place.

    Assigning `.data` keeps the Parameter objects, so an optimiser holding them stays valid.
    """
    for layer in module.modules():
        if isinstance(layer, layer_types):
            layer.weight.data = layer.weight.data.to(dtype)
            if layer.bias is not None:
                layer.bias.data = layer.bias.data.to(dtype)


def cast_to_float32(module: nn.Module) -> None:
    """Undo any float16 conversion: every floating parameter and buffer back to float32."""
    module.to(torch.float32)

"""Paper 1's CNN (section 2.4): three blocks of 3x3 convolution ('valid', ReLU) and 2x2 max-pool,
flatten, dense 64 + ReLU, dropout 0.5, dense 7 (softmax: here the logits, as cross-entropy
takes them). Weights start as Keras's do: Glorot-uniform kernels, zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def feature_side(image_size: int, blocks: int) -> int:
    """The side of the last block's feature map: each block takes 2 px ('valid') and halves."""
    side = image_size
    for _ in range(blocks):
        side = (side - 2) // 2
    return side


class PaperCNN(nn.Module):
    def __init__(
        self,
        num_classes: int,
        image_size: int,
        filters: Sequence[int] = (32, 64, 128),
        dense: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        side = feature_side(image_size, len(filters))
        if side < 1:
            raise ValueError(f"{image_size} px is too small for {len(filters)} conv/pool blocks")
        layers: list[nn.Module] = []
        channels = 3
        for out in filters:
            layers += [nn.Conv2d(channels, out, 3), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, dense),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(dense, num_classes),
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in [0, 1] (N, 3, H, W) -> class logits (N, num_classes)."""
        return self.classifier(self.features(x))

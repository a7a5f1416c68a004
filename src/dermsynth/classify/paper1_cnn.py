"""Paper 1's CNN (section 2.4: "three convolutional layers, each followed by a max-pooling
layer", flatten, "a dense layer with 64 units and a ReLU activation function", dropout 0.5, a
dense output layer of 7 units; softmax: here the logits, as cross-entropy takes them). The paper
gives no kernel sizes, padding, activations or filter counts for the convolutions: ours are 3x3
'valid' with ReLU, 2x2 max-pooling and the settings' filter counts. Weights start as Keras's
layers' do: Glorot-uniform kernels, zero biases.
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

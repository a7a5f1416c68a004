"""What of a network training changes, for checkpoints and saved models: a frozen parameter
keeps the value the network was built with (from its weights file or its seeded init), so only
the rest is written."""

from __future__ import annotations

import torch
from torch import nn


def trainable_parameters(model: nn.Module) -> int:
    """How many parameters training updates."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def changing_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The entries of `model`'s state dict that training can change: every buffer and every
    parameter that trains. A frozen parameter keeps the value the model was built with, so
    checkpoints and saved models leave it out (the authors' regime: 3% of the network)."""
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def load_changing_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load what `changing_state` saved into a model built as the saved one was: every entry
    but the frozen parameters must be there."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    if unexpected or set(missing) - frozen:
        raise KeyError(
            f"state does not fit the model: missing {sorted(set(missing) - frozen)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )

"""GLIDE (Nichol et al. 2021): the text-conditional base model, the upsampler and their diffusion.

Our own implementation, compatible with OpenAI's released `base.pt` / `upsample.pt`. The
option defaults import without torch; the model builders load torch on first use.
"""

from typing import Any

from dermsynth.glide.defaults import (
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)

__all__ = [
    "create_model_and_diffusion",
    "model_and_diffusion_defaults",
    "model_and_diffusion_defaults_upsampler",
]


def __getattr__(name: str) -> Any:
    if name == "create_model_and_diffusion":
        from dermsynth.glide.options import create_model_and_diffusion

        return create_model_and_diffusion
    raise AttributeError(f"module 'dermsynth.glide' has no attribute {name!r}")

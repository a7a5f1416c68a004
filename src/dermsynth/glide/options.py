"""Building GLIDE models and diffusions from the reference's 24 options.

The option names, defaults and their meaning are those of OpenAI's glide-text2im
(`glide_text2im/model_creation.py`, commit 69b5307), so option dicts written for the released
checkpoints (`base.pt`, `upsample.pt`) work unchanged.
"""

from __future__ import annotations

from typing import Any

from dermsynth.glide.defaults import (  # noqa: F401 (re-exported)
    DIFFUSION_OPTIONS,
    attention_downsample_rates,
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
    parse_channel_mult,
)
from dermsynth.glide.unet import OUT_CHANNELS, SuperResText2ImUNet, Text2ImUNet

__all__ = [
    "create_model",
    "create_model_and_diffusion",
    "model_and_diffusion_defaults",
    "model_and_diffusion_defaults_upsampler",
]


def create_model(
    *,
    image_size: int,
    num_channels: int,
    num_res_blocks: int,
    channel_mult: str,
    attention_resolutions: str,
    num_heads: int,
    num_head_channels: int,
    num_heads_upsample: int,
    use_scale_shift_norm: bool,
    dropout: float,
    text_ctx: int,
    xf_width: int,
    xf_layers: int,
    xf_heads: int,
    xf_final_ln: bool,
    xf_padding: bool,
    resblock_updown: bool,
    use_fp16: bool,
    cache_text_emb: bool,
    inpaint: bool,
    super_res: bool,
    tokenizer: Any = None,
) -> Text2ImUNet:
    """The text-conditional network for the model options (all but the diffusion's three).

    `tokenizer` defaults to the GLIDE tokenizer (`get_tokenizer()`); it sets the vocabulary
    size and is attached as `model.tokenizer`. With `use_fp16` the model is returned already
    converted (`convert_to_fp16()`), ready for float16 sampling.
    """
    if inpaint:
        raise NotImplementedError("the GLIDE inpainting models are not part of dermsynth")
    if tokenizer is None:
        from dermsynth.glide.tokenizer import get_tokenizer

        tokenizer = get_tokenizer()
    model_class = SuperResText2ImUNet if super_res else Text2ImUNet
    model = model_class(
        text_ctx=text_ctx,
        xf_width=xf_width,
        xf_layers=xf_layers,
        xf_heads=xf_heads,
        xf_final_ln=xf_final_ln,
        n_vocab=tokenizer.n_vocab,
        xf_padding=xf_padding,
        cache_text_emb=cache_text_emb,
        in_channels=3,
        model_channels=num_channels,
        out_channels=OUT_CHANNELS,
        num_res_blocks=num_res_blocks,
        attention_resolutions=attention_downsample_rates(attention_resolutions, image_size),
        dropout=dropout,
        channel_mult=parse_channel_mult(channel_mult, image_size),
        num_heads=num_heads,
        num_head_channels=num_head_channels,
        num_heads_upsample=num_heads_upsample,
        use_scale_shift_norm=use_scale_shift_norm,
        resblock_updown=resblock_updown,
    )
    model.tokenizer = tokenizer
    if use_fp16:
        model.convert_to_fp16()
    return model


def create_model_and_diffusion(
    *,
    diffusion_steps: int,
    noise_schedule: str,
    timestep_respacing: str,
    tokenizer: Any = None,
    **model_options: Any,
):
    """(model, diffusion) from the 24 reference options (see `model_and_diffusion_defaults`).

    The diffusion is respaced by `timestep_respacing` ("" keeps all `diffusion_steps`); the
    model always receives original-scale timesteps through it.
    """
    from dermsynth.glide.diffusion import create_gaussian_diffusion

    model = create_model(**model_options, tokenizer=tokenizer)
    diffusion = create_gaussian_diffusion(
        steps=diffusion_steps,
        noise_schedule=noise_schedule,
        timestep_respacing=timestep_respacing,
    )
    return model, diffusion

"""GLIDE's option dicts and their parsing: no torch here, so the workflow can read them cheaply.

The option names, defaults and their meaning are those of OpenAI's glide-text2im
(`glide_text2im/model_creation.py`, commit 69b5307), so option dicts written for the released
checkpoints (`base.pt`, `upsample.pt`) work unchanged.
"""

from __future__ import annotations

from typing import Any

# channel_mult="" picks the released models' widths by image size.
CHANNEL_MULT_BY_IMAGE_SIZE: dict[int, tuple[int, ...]] = {
    64: (1, 2, 3, 4),
    128: (1, 1, 2, 3, 4),
    256: (1, 1, 2, 2, 4, 4),
}
DIFFUSION_OPTIONS = ("diffusion_steps", "noise_schedule", "timestep_respacing")


def model_and_diffusion_defaults() -> dict[str, Any]:
    """The reference's options for the 64 px text-conditional base model.

    The reference notebook then sets `timestep_respacing="100"` and `use_fp16` to whether CUDA
    is available.
    """
    return dict(
        image_size=64,
        num_channels=192,
        num_res_blocks=3,
        channel_mult="",
        num_heads=1,
        num_head_channels=64,
        num_heads_upsample=-1,
        attention_resolutions="32,16,8",
        dropout=0.1,
        text_ctx=128,
        xf_width=512,
        xf_layers=16,
        xf_heads=8,
        xf_final_ln=True,
        xf_padding=True,
        diffusion_steps=1000,
        noise_schedule="squaredcos_cap_v2",
        timestep_respacing="",
        use_scale_shift_norm=True,
        resblock_updown=True,
        use_fp16=True,
        cache_text_emb=False,
        inpaint=False,
        super_res=False,
    )


def model_and_diffusion_defaults_upsampler() -> dict[str, Any]:
    """The reference's options for the 64->256 upsampler (the notebook respaces to "fast27")."""
    options = model_and_diffusion_defaults()
    options.update(image_size=256, num_res_blocks=2, noise_schedule="linear", super_res=True)
    return options


def parse_channel_mult(channel_mult: str, image_size: int) -> tuple[int, ...]:
    """ "" -> the released width for `image_size`; "a,b,c" -> (a, b, c), one per level.

    An explicit list must have one level per halving from `image_size` down to 4 px
    (2 ** (levels + 2) == image_size), as the reference asserts.
    """
    if channel_mult == "":
        if image_size not in CHANNEL_MULT_BY_IMAGE_SIZE:
            raise ValueError(
                f"no default channel_mult for image_size {image_size}; "
                f"give one or use {sorted(CHANNEL_MULT_BY_IMAGE_SIZE)}"
            )
        return CHANNEL_MULT_BY_IMAGE_SIZE[image_size]
    mult = tuple(int(m) for m in channel_mult.split(","))
    if 2 ** (len(mult) + 2) != image_size:
        raise ValueError(
            f"channel_mult {channel_mult!r} has {len(mult)} levels, but image_size "
            f"{image_size} needs 2**(levels + 2) == image_size"
        )
    return mult


def attention_downsample_rates(attention_resolutions: str, image_size: int) -> tuple[int, ...]:
    """ "32,16,8" at 64 px -> (2, 4, 8): the UNet places attention by downsample rate."""
    return tuple(image_size // int(res) for res in attention_resolutions.split(","))

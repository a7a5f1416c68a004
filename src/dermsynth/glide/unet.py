"""GLIDE's denoising UNet: the base 64 px text-to-image model and the 64->256 upsampler.

The structure (and so every state_dict key and shape) is that of OpenAI's glide-text2im
(`unet.py`, `text2im_model.py`), so the released `base.pt` / `upsample.pt` load strictly. The
output has 6 channels: the predicted noise eps and the variance interpolation v (learned sigma).

Activations may be channels-last: every layer here either keeps the memory format of its input
or works on an explicit (N, length, C) view, so `model.to(memory_format=torch.channels_last)`
with channels-last input gives the same numbers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dermsynth.glide.fp16 import CONVOLUTIONS, LINEAR_LAYERS, cast_layers, cast_to_float32
from dermsynth.glide.nn import (
    LayerNorm,
    attention,
    normalization,
    pointwise,
    timestep_embedding,
    zero_module,
)
from dermsynth.glide.text import Transformer

OUT_CHANNELS = 6  # eps (3) and the variance interpolation v (3)


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling, optionally followed by a 3x3 convolution."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        if use_conv:
            self.conv = nn.Conv2d(channels, self.out_channels, 3, padding=1)
        else:
            self.conv = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x if self.conv is None else self.conv(x)


class Downsample(nn.Module):
    """x2 downsampling: a stride-2 3x3 convolution, or 2x2 average pooling without one."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.out_channels = out_channels or channels
        if use_conv:
            self.op = nn.Conv2d(channels, self.out_channels, 3, stride=2, padding=1)
        elif self.out_channels != channels:
            raise ValueError("average-pool downsampling cannot change the channel count")
        else:
            self.op = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(nn.Module):
    """Residual block conditioned on the (time + text) embedding, optionally resampling.

    With `use_scale_shift_norm` the embedding acts FiLM-like, GroupNorm(h)·(1 + scale) + shift;
    with `up`/`down` both branches are resampled after the first norm+SiLU, before the conv.
    The last conv starts at zero so that the block starts as its skip connection.
    """

    def __init__(
        self,
        channels: int,
        emb_channels: int,
        dropout: float,
        out_channels: int | None = None,
        *,
        use_scale_shift_norm: bool = False,
        up: bool = False,
        down: bool = False,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm

        # Identity slots keep the checkpoint's indices (in_layers.2, out_layers.3).
        self.in_layers = nn.Sequential(
            normalization(channels, swish=True),
            nn.Identity(),
            nn.Conv2d(channels, self.out_channels, 3, padding=1),
        )
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()

        emb_out = 2 * self.out_channels if use_scale_shift_norm else self.out_channels
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_channels, emb_out))
        self.out_layers = nn.Sequential(
            normalization(self.out_channels, swish=not use_scale_shift_norm),
            nn.SiLU() if use_scale_shift_norm else nn.Identity(),
            nn.Dropout(p=dropout),
            zero_module(nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1)),
        )
        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.h_upd(self.in_layers[:-1](x))
            x = self.x_upd(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[..., None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Spatial self-attention whose keys/values are prefixed with the caption's.

    `qkv` is laid out per head as [q | k | v] and `encoder_kv` as [k | v]; the text keys and
    values come BEFORE the image's own, as in the released model. GroupNorm without SiLU.
    """

    def __init__(
        self,
        channels: int,
        *,
        num_heads: int = 1,
        num_head_channels: int = -1,
        encoder_channels: int | None = None,
    ) -> None:
        super().__init__()
        if num_head_channels == -1:
            self.num_heads = num_heads
        elif channels % num_head_channels:
            raise ValueError(
                f"{channels} channels are not divisible into heads of {num_head_channels}"
            )
        else:
            self.num_heads = channels // num_head_channels
        self.norm = normalization(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        if encoder_channels is not None:
            self.encoder_kv = nn.Conv1d(encoder_channels, channels * 2, 1)
        else:
            self.encoder_kv = None
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor, encoder_out: torch.Tensor | None = None) -> torch.Tensor:
        """`encoder_out`: the caption encoding, (N, text_ctx, encoder_channels)."""
        b, c, *spatial = x.shape
        heads = self.num_heads
        h = self.norm(x).reshape(b, c, -1).transpose(1, 2)  # (N, T, C); free if channels-last
        length = h.shape[1]
        q, k, v = pointwise(self.qkv, h).view(b, length, heads, -1).transpose(1, 2).chunk(3, -1)
        if encoder_out is not None and self.encoder_kv is not None:
            ekv = pointwise(self.encoder_kv, encoder_out)
            ek, ev = ekv.view(b, encoder_out.shape[1], heads, -1).transpose(1, 2).chunk(2, -1)
            k = torch.cat([ek, k], dim=2)
            v = torch.cat([ev, v], dim=2)
        a = attention(q, k, v).transpose(1, 2).reshape(b, length, c)
        h = pointwise(self.proj_out, a)
        return x + h.transpose(1, 2).reshape(b, c, *spatial)


class EmbedSequential(nn.Sequential):
    """A Sequential that hands the embedding to ResBlocks and the caption to attention."""

    def forward(
        self, x: torch.Tensor, emb: torch.Tensor, encoder_out: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, AttentionBlock):
                x = layer(x, encoder_out)
            else:
                x = layer(x)
        return x


class UNet(nn.Module):
    """The UNet torso with a sinusoidal time embedding (no text conditioning by itself).

    `attention_resolutions` holds downsample rates (1 = full resolution) at which attention
    follows each ResBlock; `channel_mult` gives the width of each level in `model_channels`.
    With `encoder_channels`, every attention block also attends to an encoder's output.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int,
        attention_resolutions: tuple[int, ...],
        dropout: float = 0.0,
        channel_mult: tuple[int, ...] = (1, 2, 4, 8),
        conv_resample: bool = True,
        num_heads: int = 1,
        num_head_channels: int = -1,
        num_heads_upsample: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        encoder_channels: int | None = None,
    ) -> None:
        super().__init__()
        if num_heads_upsample == -1:
            num_heads_upsample = num_heads
        self.in_channels = in_channels
        self.model_channels = model_channels
        self.out_channels = out_channels

        time_embed_dim = model_channels * 4
        self.time_embed = nn.Sequential(
            nn.Linear(model_channels, time_embed_dim),
            nn.SiLU(),
            nn.Linear(time_embed_dim, time_embed_dim),
        )

        def res_block(ch: int, out_ch: int, **updown: bool) -> ResBlock:
            return ResBlock(
                ch,
                time_embed_dim,
                dropout,
                out_ch,
                use_scale_shift_norm=use_scale_shift_norm,
                **updown,
            )

        def attention_block(ch: int, heads: int) -> AttentionBlock:
            return AttentionBlock(
                ch,
                num_heads=heads,
                num_head_channels=num_head_channels,
                encoder_channels=encoder_channels,
            )

        ch = input_ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList(
            [EmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))]
        )
        skip_channels = [ch]
        ds = 1
        for level, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res_block(ch, int(mult * model_channels))]
                ch = int(mult * model_channels)
                if ds in attention_resolutions:
                    layers.append(attention_block(ch, num_heads))
                self.input_blocks.append(EmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(channel_mult) - 1:
                down = (
                    res_block(ch, ch, down=True)
                    if resblock_updown
                    else Downsample(ch, conv_resample, out_channels=ch)
                )
                self.input_blocks.append(EmbedSequential(down))
                skip_channels.append(ch)
                ds *= 2

        self.middle_block = EmbedSequential(
            res_block(ch, ch), attention_block(ch, num_heads), res_block(ch, ch)
        )

        self.output_blocks = nn.ModuleList([])
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks + 1):
                layers = [res_block(ch + skip_channels.pop(), int(model_channels * mult))]
                ch = int(model_channels * mult)
                if ds in attention_resolutions:
                    layers.append(attention_block(ch, num_heads_upsample))
                if level and i == num_res_blocks:
                    layers.append(
                        res_block(ch, ch, up=True)
                        if resblock_updown
                        else Upsample(ch, conv_resample, out_channels=ch)
                    )
                    ds //= 2
                self.output_blocks.append(EmbedSequential(*layers))

        self.out = nn.Sequential(
            normalization(ch, swish=True),
            nn.Identity(),
            zero_module(nn.Conv2d(input_ch, out_channels, 3, padding=1)),
        )

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the torso runs in: float16 after `convert_to_fp16()`, else float32."""
        return self.input_blocks[0][0].weight.dtype

    def convert_to_fp16(self) -> None:
        """Cast the torso's convolutions to float16 (norms, embeddings and `out` stay float32)."""
        for part in (self.input_blocks, self.middle_block, self.output_blocks):
            cast_layers(part, CONVOLUTIONS, torch.float16)

    def convert_to_fp32(self) -> None:
        """Undo `convert_to_fp16()`: every parameter back to float32."""
        cast_to_float32(self)

    def time_embedding(self, timesteps: torch.Tensor) -> torch.Tensor:
        """(N,) original-scale timesteps -> (N, 4 * model_channels) float32 embedding."""
        return self.time_embed(timestep_embedding(timesteps, self.model_channels))

    def torso(
        self, x: torch.Tensor, emb: torch.Tensor, encoder_out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Input blocks, middle block and output blocks with skip connections, then `out`."""
        skips = []
        h = x.to(self.dtype)
        for module in self.input_blocks:
            h = module(h, emb, encoder_out)
            skips.append(h)
        h = self.middle_block(h, emb, encoder_out)
        for module in self.output_blocks:
            h = module(torch.cat([h, skips.pop()], dim=1), emb, encoder_out)
        return self.out(h.to(x.dtype))

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return self.torso(x, self.time_embedding(timesteps))


class Text2ImUNet(UNet):
    """The GLIDE text-conditional UNet: `model(x, t, tokens=, mask=)` -> (N, 6, H, W).

    The caption runs through `transformer` (+ `final_ln`); its LAST position, projected by
    `transformer_proj`, is added to the time embedding, and the whole sequence feeds every
    attention block's `encoder_kv`. Where `mask` is False (padding) the token and positional
    embedding is replaced by the learned `padding_embedding`.
    """

    def __init__(
        self,
        *,
        text_ctx: int,
        xf_width: int,
        xf_layers: int,
        xf_heads: int,
        xf_final_ln: bool,
        n_vocab: int,
        xf_padding: bool = False,
        cache_text_emb: bool = False,
        **unet_options,
    ) -> None:
        super().__init__(**unet_options, encoder_channels=xf_width or None)
        self.text_ctx = text_ctx
        self.xf_width = xf_width
        self.xf_padding = xf_padding
        self.tokenizer = None  # attached by create_model; the network itself only needs n_vocab
        if xf_width:
            self.transformer = Transformer(xf_width, xf_layers, xf_heads)
            self.final_ln = LayerNorm(xf_width) if xf_final_ln else None
            self.token_embedding = nn.Embedding(n_vocab, xf_width)
            # The reference leaves these two uninitialised (torch.empty); zeros are as untrained
            # and draw no random numbers, so a seeded build matches the reference's elsewhere.
            self.positional_embedding = nn.Parameter(torch.zeros(text_ctx, xf_width))
            self.transformer_proj = nn.Linear(xf_width, self.model_channels * 4)
            if xf_padding:
                self.padding_embedding = nn.Parameter(torch.zeros(text_ctx, xf_width))
        self.cache_text_emb = cache_text_emb
        self.cache: dict[str, torch.Tensor] | None = None

    def convert_to_fp16(self) -> None:
        """The released model's float16 map: torso convs, every transformer Linear,
        `transformer_proj` and `token_embedding`. `positional_embedding` and
        `padding_embedding` stay float32 (the reference casts them out of place)."""
        super().convert_to_fp16()
        if self.xf_width:
            cast_layers(self.transformer, LINEAR_LAYERS, torch.float16)
            self.transformer_proj.to(torch.float16)
            self.token_embedding.to(torch.float16)

    def encode_text(
        self, tokens: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Caption tokens (N, text_ctx) -> (projection (N, 4·model_channels), sequence
        (N, text_ctx, xf_width)), both in the torso's dtype."""
        if tokens is None:
            raise ValueError("a text-conditional model needs `tokens`")
        if self.cache_text_emb and self.cache is not None:
            if not self._cache_matches(tokens, mask):
                raise ValueError("cache_text_emb is set but the tokens differ from the cache's")
            return self.cache["xf_proj"], self.cache["xf_out"]

        xf_in = self.token_embedding(tokens.long()) + self.positional_embedding[None]
        if self.xf_padding:
            if mask is None:
                raise ValueError("a model with xf_padding needs `mask`")
            xf_in = torch.where(mask[..., None], xf_in, self.padding_embedding[None])
        xf_out = self.transformer(xf_in.to(self.dtype))
        if self.final_ln is not None:
            xf_out = self.final_ln(xf_out)
        xf_proj = self.transformer_proj(xf_out[:, -1])

        if self.cache_text_emb:
            self.cache = {"tokens": tokens, "xf_proj": xf_proj.detach(), "xf_out": xf_out.detach()}
            if mask is not None:
                self.cache["mask"] = mask
        return xf_proj, xf_out

    def _cache_matches(self, tokens: torch.Tensor, mask: torch.Tensor | None) -> bool:
        cached = self.cache or {}
        same_tokens = torch.equal(tokens, cached["tokens"])
        same_mask = mask is None or "mask" not in cached or torch.equal(mask, cached["mask"])
        return same_tokens and same_mask

    def del_cache(self) -> None:
        """Forget the cached caption encoding (with `cache_text_emb`)."""
        self.cache = None

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        tokens: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        emb = self.time_embedding(timesteps)
        if self.xf_width:
            xf_proj, xf_out = self.encode_text(tokens, mask)
            emb = emb + xf_proj.to(emb)
        else:
            xf_out = None
        return self.torso(x, emb, xf_out)


class SuperResText2ImUNet(Text2ImUNet):
    """The GLIDE upsampler: `model(x, t, low_res=, tokens=, mask=)` -> (N, 6, H, W).

    `low_res` is resized to x's size (bilinear, align_corners=False) and concatenated after x,
    so the network sees twice `in_channels`.
    """

    def __init__(self, *, in_channels: int, **options) -> None:
        super().__init__(in_channels=in_channels * 2, **options)

    def forward(
        self,
        x: torch.Tensor,
        timesteps: torch.Tensor,
        low_res: torch.Tensor | None = None,
        tokens: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if low_res is None:
            raise ValueError("the upsampler needs `low_res`")
        upsampled = F.interpolate(low_res, x.shape[2:], mode="bilinear", align_corners=False).to(
            x.dtype
        )
        return super().forward(torch.cat([x, upsampled], dim=1), timesteps, tokens, mask)

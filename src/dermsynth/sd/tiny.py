"""Tiny randomly initialised Stable Diffusion pipelines in exactly the diffusers folder layout.

The demo runs every Stable Diffusion rule on a 2-core CPU, so it needs models that load through
the same code as `stabilityai/stable-diffusion-2-1-base` and `runwayml/stable-diffusion-inpainting`
(`model_index.json`, `unet/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`, written by
`save_pretrained`) but run in milliseconds. Sizes (paper models in brackets):

- images 64 px (512); VAE with 3 blocks, so latents are 1/4 of the image: 16 x 16 (64 x 64);
- UNet2DConditionModel with block_out_channels (32, 64), one layer per block, 4 input channels
  for text-to-image and 9 for inpainting (noisy latents + mask + masked-image latents);
- CLIPTextModel with 2 layers of width 32, 77 positions (23 layers of width 1024, 77 positions);
- a CLIP byte-level BPE tokenizer whose `vocab.json` / `merges.txt` are learned here from the
  prompt words (a few hundred tokens; CLIP's has 49,408);
- DPMSolverMultistepScheduler with Stable Diffusion's training noise schedule.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from dermsynth.io import atomic_directory
from dermsynth.sd.files import public_modes

RESOLUTION = 64  # demo image size, px
LATENT_FACTOR = 4  # image size / latent size of the tiny VAE
TEXT_POSITIONS = 77  # CLIP's context length, kept so prompts are tokenised as with real weights
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
END_OF_WORD = "</w>"
# every character a prompt is likely to hold gets a token; words learned below get one each
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789,.-'()/:;"
PROMPT_WORDS = "An image of a skin disease, Fitzpatrick skin type 1 2 3 4 5 6 12 34 56 unknown"
# CLIP's pre-tokenisation (transformers' CLIPTokenizer): contractions, letter runs, single digits,
# runs of other symbols
WORD_PATTERN = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+")
# Stable Diffusion's noise schedule (the `scheduler_config.json` of both paper models)
NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "steps_offset": 1,
}
KINDS = {"text2img": 4, "inpaint": 9}  # pipeline kind -> UNet input channels


def learn_bpe(words: Iterable[str]) -> list[tuple[str, str]]:
    """Byte-pair merges, most frequent pair first, until every word is a single token.

    Words are lower-case letter/digit/symbol runs; the last symbol of each carries `</w>`, as in
    CLIP. Encoding a training word with these merges (in rank order) gives back the whole word.
    """
    counts = Counter(w for w in words if w)
    split = {w: [*w[:-1], w[-1] + END_OF_WORD] for w in counts}
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, symbols in split.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += counts[word]
        if not pairs:
            return merges
        best = min(pairs, key=lambda p: (-pairs[p], p))  # ties: alphabetical, so deterministic
        merges.append(best)
        for word, symbols in split.items():
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            split[word] = merged


def write_tokenizer(folder: str | Path, texts: Iterable[str]) -> dict[str, int]:
    """Write a CLIP tokenizer folder (vocab.json, merges.txt, configs) covering `texts`.

    The vocabulary: every ALPHABET character alone and at a word's end, every merge's result,
    then the start and end tokens (last, as in CLIP's vocabulary). Returns the vocabulary.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = [w for text in texts for w in WORD_PATTERN.findall(text.lower())]
    alphabet = sorted(set(ALPHABET) | {c for w in words for c in w if c.isascii()})
    merges = learn_bpe(w for w in words if w.isascii())
    tokens = alphabet + [c + END_OF_WORD for c in alphabet] + ["".join(m) for m in merges]
    tokens = list(dict.fromkeys(tokens)) + [BOS, EOS]
    vocab = {token: i for i, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0))
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n")
    special = {"bos_token": BOS, "eos_token": EOS, "unk_token": EOS, "pad_token": EOS}
    (folder / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": TEXT_POSITIONS,
        "do_lower_case": True,
        "add_prefix_space": False,
        "errors": "replace",
        **special,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return vocab


def tiny_components(vocab: dict[str, int], in_channels: int, seed: int) -> dict:
    """Randomly initialised UNet, VAE, text encoder and scheduler of the tiny pipeline."""
    import torch
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=RESOLUTION // LATENT_FACTOR,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        use_linear_projection=True,  # as Stable Diffusion 2
    )
    torch.manual_seed(seed + 1)  # the same VAE and text encoder in both pipelines
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(16, 16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        sample_size=RESOLUTION,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=TEXT_POSITIONS,
            hidden_act="gelu",
            bos_token_id=vocab[BOS],
            eos_token_id=vocab[EOS],
            pad_token_id=vocab[EOS],
        )
    )
    scheduler = DPMSolverMultistepScheduler(**NOISE_SCHEDULE)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "scheduler": scheduler}


def write_tiny_pipeline(folder: str | Path, kind: str, *, seed: int, texts: Sequence[str]) -> Path:
    """Write one tiny pipeline (`kind` "text2img" or "inpaint") to `folder`, atomically."""
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline
    from transformers import CLIPTokenizer

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, not {kind!r}")
    pipeline_class = {
        "text2img": StableDiffusionPipeline,
        "inpaint": StableDiffusionInpaintPipeline,
    }[kind]
    with atomic_directory(folder) as tmp:
        vocab = write_tokenizer(tmp / "tokenizer", [PROMPT_WORDS, *texts])
        tokenizer = CLIPTokenizer.from_pretrained(tmp / "tokenizer")
        pipeline = pipeline_class(
            tokenizer=tokenizer,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            **tiny_components(vocab, KINDS[kind], seed),
        )
        # our own vocab.json/merges.txt are the tokenizer's files: keep them, save the rest
        tokenizer_files = {p.name: p.read_bytes() for p in (tmp / "tokenizer").iterdir()}
        pipeline.save_pretrained(tmp, safe_serialization=True)
        (tmp / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)  # real folders have none
        for name, data in tokenizer_files.items():
            (tmp / "tokenizer" / name).write_bytes(data)
        public_modes(tmp)
    return Path(folder)


def write_tiny_models(root: str | Path, *, seed: int, texts: Sequence[str] = ()) -> dict[str, Path]:
    """Write `root/text2img/` and `root/inpaint/`, tiny pipelines in the diffusers layout.

    `texts` (class names, prompts) add words to the tokenizer's vocabulary; any other word is
    still tokenised, character by character.
    """
    root = Path(root)
    return {kind: write_tiny_pipeline(root / kind, kind, seed=seed, texts=texts) for kind in KINDS}

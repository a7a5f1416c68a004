"""dermsynth.glide.tokenizer: the same token ids, padding and mask as the reference tokenizer.

Fixtures: shared/fixtures/glide/tokenizer.json (README section 3: 15 strings, encoded by the
reference `glide_text2im.tokenizer.bpe.get_encoder()`, padded to text_ctx 128) and the captions'
tokens recorded in every golden_*/<model>/cases.json. Token ids must match exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dermsynth.glide.tokenizer import BPETokenizer, get_tokenizer, load_tokenizer, vocabulary_dir

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "glide"
TOKENIZER_JSON = FIXTURES / "tokenizer.json"

# fails on CI, skips elsewhere (tests/prerequisites.py), where the fixture is missing
pytestmark = pytest.mark.requires(
    TOKENIZER_JSON.is_file(), f"the GLIDE tokenizer fixture {TOKENIZER_JSON}"
)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


REFERENCE = read_json(TOKENIZER_JSON) if TOKENIZER_JSON.is_file() else {"cases": []}
CASES = REFERENCE["cases"]
CASE_IDS = [f"{i:02d}-{case['text'][:24]!r}" for i, case in enumerate(CASES)]
GOLDEN_CASES = sorted(FIXTURES.glob("golden_*/*/cases.json")) if FIXTURES.is_dir() else []


@pytest.fixture(scope="module")
def tokenizer() -> BPETokenizer:
    return get_tokenizer()


def test_vocabulary_size_and_end_token_are_the_reference_ones(tokenizer):
    assert tokenizer.n_vocab == REFERENCE["n_vocab"]
    assert tokenizer.end_token == REFERENCE["end_token"]
    assert tokenizer.end_token == tokenizer.n_vocab - 1


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_encode_gives_the_reference_ids(tokenizer, case):
    ids = tokenizer.encode(case["text"])
    assert ids == case["encode"]
    assert len(ids) == case["n_tokens"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_padded_tokens_and_mask_truncate_and_pad_with_end_token_as_the_reference(tokenizer, case):
    tokens, mask = tokenizer.padded_tokens_and_mask(case["encode"], REFERENCE["text_ctx"])
    assert tokens == case["padded_tokens_128"]
    assert mask == case["mask_128"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_decode_of_the_reference_ids_gives_the_reference_text(tokenizer, case):
    assert tokenizer.decode(case["encode"]) == case["decode"]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_encode_lower_cases_the_text_first(tokenizer, case):
    assert tokenizer.encode(case["text"]) == tokenizer.encode(case["text"].lower())


def test_unconditional_row_is_all_end_tokens_with_an_all_false_mask(tokenizer):
    text_ctx = REFERENCE["text_ctx"]
    tokens, mask = tokenizer.padded_tokens_and_mask([], text_ctx)
    assert tokens == [REFERENCE["end_token"]] * text_ctx
    assert mask == [False] * text_ctx
    empty = next(case for case in CASES if case["text"] == "")
    assert (tokens, mask) == (empty["padded_tokens_128"], empty["mask_128"])


@pytest.mark.requires(GOLDEN_CASES, f"GLIDE golden cases golden_*/<model>/cases.json in {FIXTURES}")
@pytest.mark.parametrize(
    "cases_json", GOLDEN_CASES, ids=[str(p.parent.relative_to(FIXTURES)) for p in GOLDEN_CASES]
)
def test_golden_captions_and_unconditional_row_match_the_recorded_tokens(tokenizer, cases_json):
    golden = read_json(cases_json)
    recorded = golden["tokenizer"]
    text_ctx = golden["text_ctx"]
    for caption, ids, padded, mask in zip(
        golden["captions"],
        recorded["encode"],
        recorded["padded_tokens"],
        recorded["mask"],
        strict=True,
    ):
        assert tokenizer.encode(caption) == ids
        assert tokenizer.padded_tokens_and_mask(ids, text_ctx) == (padded, mask)
    uncond = (recorded["uncond_tokens"], recorded["uncond_mask"])
    assert tokenizer.padded_tokens_and_mask([], text_ctx) == uncond


def test_get_tokenizer_loads_the_vocabulary_once():
    assert get_tokenizer() is get_tokenizer()


def test_vocabulary_is_read_offline_from_the_installed_package():
    directory = vocabulary_dir()
    assert (directory / "encoder.json").is_file()
    assert (directory / "vocab.bpe").is_file()
    fresh = load_tokenizer(directory)
    assert len(fresh.merge_ranks) == 50_000  # GPT-2's merges, one per line after the header

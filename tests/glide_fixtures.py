"""The GLIDE reference fixtures (shared/fixtures/glide, described in its README.md).

Paths, loaders and a builder shared by the GLIDE tests; sizes, seeds and shapes are always read
from the files, since the same protocol also runs on other golden configurations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from dermsynth.glide.options import DIFFUSION_OPTIONS, create_model

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "glide"
MANIFESTS = ("base", "upsample")
GOLDEN_FILES = ("options.json", "model.pt", "cases.json", "cases.pt")
# the top-level files the GLIDE tests read (README sections 1-3)
REFERENCE_FILES = tuple(
    f"{kind}_{name}.json" for kind in ("manifest", "fp16map") for name in MANIFESTS
) + ("tokenizer.json",)


def read_json(path: str | Path) -> Any:
    """A fixture JSON file, by path or by name relative to the fixtures folder."""
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


def golden_model_dirs() -> list[Path]:
    """Every golden_*/<model>/ folder holding a model and its cases (empty without fixtures)."""
    if not FIXTURES.is_dir():
        return []
    return [
        d
        for d in sorted(FIXTURES.glob("golden_*/*"))
        if d.is_dir() and all((d / name).is_file() for name in GOLDEN_FILES)
    ]


def missing_fixtures() -> list[str]:
    """What of the GLIDE reference fixtures is absent: the folder, or files and golden models."""
    if not FIXTURES.is_dir():
        return [f"the GLIDE reference fixtures folder {FIXTURES}"]
    absent = [str(FIXTURES / name) for name in REFERENCE_FILES if not (FIXTURES / name).is_file()]
    if not golden_model_dirs():
        absent.append(f"{FIXTURES}/golden_*/<model>/ holding {', '.join(GOLDEN_FILES)}")
    return absent


MISSING = missing_fixtures()
# fails the test on CI and skips it elsewhere (tests/prerequisites.py) unless every fixture is here
requires_fixtures = pytest.mark.requires(not MISSING, "; ".join(MISSING))


def fixture_id(path: Path) -> str:
    """ "golden_A/base" for a golden model folder."""
    return str(path.relative_to(FIXTURES))


def build_network(options: dict[str, Any]) -> torch.nn.Module:
    """The network for a full option dict (the diffusion's options are dropped)."""
    return create_model(**{k: v for k, v in options.items() if k not in DIFFUSION_OPTIONS})


def load_cases(directory: Path) -> tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """(cases.json, cases.pt) of a golden model folder."""
    cases = read_json(directory / "cases.json")
    tensors = torch.load(directory / "cases.pt", map_location="cpu", weights_only=True)
    return cases, tensors


def load_golden_model(directory: Path) -> torch.nn.Module:
    """The golden network, built from options.json with model.pt loaded strictly, in eval mode."""
    model = build_network(read_json(directory / "options.json"))
    state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def max_abs_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual.double() - expected.double()).abs().max().item()


# a few-kB model with every structural choice of the released ones (dropout on, so that the
# dropout seeding is exercised); tests add image_size and channel_mult
TINY_OPTIONS = dict(
    num_channels=32,
    num_res_blocks=1,
    attention_resolutions="8",
    num_head_channels=16,
    dropout=0.1,
    text_ctx=16,
    xf_width=32,
    xf_layers=1,
    xf_heads=2,
)

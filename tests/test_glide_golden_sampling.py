"""dermsynth.glide diffusion + network: every reference case reproduced within its tolerance.

Fixtures: every shared/fixtures/glide/golden_*/<model>/ folder (README section 4): a tiny seeded
network (options.json, model.pt), and in cases.json / cases.pt how the reference ran each case
(seed, shape, guidance scale, temperature, which tensors are inputs and model_kwargs) with its
outputs. A tensor passes when torch.allclose(actual, expected, atol, rtol) holds with the case's
own tolerances (per output where `output_tolerances` gives them; golden_A: p_mean_variance
mean 3e-4, variance 1e-5, log_variance 1e-4, pred_xstart 3e-3; the loops 5e-3; rtol 1e-4).
Everything runs on the CPU in float32, as the fixtures were made.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "glide"
NEEDED = ("options.json", "model.pt", "cases.json", "cases.pt")
GOLDEN = (
    [
        d
        for d in sorted(FIXTURES.glob("golden_*/*"))
        if d.is_dir() and all((d / name).is_file() for name in NEEDED)
    ]
    if FIXTURES.is_dir()
    else []
)
IMAGE_CHANNELS = 3  # eps channels; the rest of the model output is the variance


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def all_cases() -> list[tuple[Path, str]]:
    return [(d, name) for d in GOLDEN for name in read_json(d / "cases.json")["cases"]]


CASES = all_cases()
DRAW_CASES = [(d, n) for d, n in CASES if "randn_draws" in read_json(d / "cases.json")["cases"][n]]
# fails on CI, skips elsewhere (tests/prerequisites.py), where the fixtures are missing
pytestmark = pytest.mark.requires(
    CASES, f"GLIDE golden fixtures golden_*/<model>/ holding {', '.join(NEEDED)} under {FIXTURES}"
)


def create_model_and_diffusion(**options):
    from prerequisites import require_import  # fails on CI, skips elsewhere, if it cannot import

    return require_import("dermsynth.glide").create_model_and_diffusion(**options)


@cache
def golden(directory: Path):
    """(model in eval mode with model.pt loaded strictly, diffusion, cases.json, cases.pt)."""
    model, diffusion = create_model_and_diffusion(**read_json(directory / "options.json"))
    state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    cases = read_json(directory / "cases.json")
    tensors = torch.load(directory / "cases.pt", map_location="cpu", weights_only=True)
    return model, diffusion, cases, tensors


def classifier_free_guidance(model, guidance_scale: float):
    """The reference notebook's `model_fn`: both halves get the guided eps of the first half."""

    def model_fn(x_t, ts, **kwargs):
        half = x_t[: len(x_t) // 2]
        out = model(torch.cat([half, half], dim=0), ts, **kwargs)
        eps, rest = out[:, :IMAGE_CHANNELS], out[:, IMAGE_CHANNELS:]
        cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
        half_eps = uncond_eps + guidance_scale * (cond_eps - uncond_eps)
        return torch.cat([torch.cat([half_eps, half_eps], dim=0), rest], dim=1)

    return model_fn


def run_case(model, diffusion, case: dict, tensors: dict) -> dict[str, torch.Tensor]:
    """Rerun one case as cases.json and README section 4 describe it; its outputs by name."""
    kind = case["kind"]
    kwargs = {name: tensors[name] for name in case["model_kwargs"]}
    shape = tuple(case["shape"])
    loop_args = dict(device="cpu", clip_denoised=True, progress=False, model_kwargs=kwargs)
    if kind == "forward":
        return {"out": model(tensors["x"], tensors["t"], **kwargs)}
    if kind == "p_mean_variance":
        out = diffusion.p_mean_variance(
            model, tensors["x"], tensors["t"], clip_denoised=True, model_kwargs=kwargs
        )
        return {name: out[name] for name in case["outputs"]}
    if kind == "p_sample_loop":
        torch.manual_seed(case["seed"])
        return {
            "sample": diffusion.p_sample_loop(model, shape, noise=tensors["noise"], **loop_args)
        }
    if kind == "ddim_sample_loop":
        eta = case.get("eta") or 0.0
        torch.manual_seed(case["seed"])
        sample = diffusion.ddim_sample_loop(
            model, shape, noise=tensors["noise"], eta=eta, **loop_args
        )
        return {"sample": sample}
    if kind == "guided_p_sample_loop":
        model_fn = classifier_free_guidance(model, case["guidance_scale"])
        torch.manual_seed(case["seed"])
        sample = diffusion.p_sample_loop(model_fn, shape, noise=tensors["noise"], **loop_args)
        return {"sample": sample[: case["batch"]]}
    if kind == "notebook_upsample":
        noise = tensors["noise_raw"] * case["upsample_temp"]
        torch.manual_seed(case["seed"])
        sample = diffusion.ddim_sample_loop(model, shape, noise=noise, **loop_args)
        return {"sample": sample[: shape[0]]}
    raise AssertionError(f"no runner for case kind {kind!r}; README section 4 lists the kinds")


@pytest.mark.parametrize(
    ("directory", "name"),
    CASES,
    ids=[f"{d.relative_to(FIXTURES)}:{name}" for d, name in CASES],
)
def test_golden_case_matches_the_reference_within_its_tolerance(directory, name):
    model, diffusion, cases, tensors = golden(directory)
    case, stored = cases["cases"][name], tensors[name]
    assert diffusion.timestep_map == cases["timestep_map"]

    with torch.no_grad():
        actual = run_case(model, diffusion, case, stored)

    per_output = case.get("output_tolerances", {})
    failures = []
    for output in case["outputs"]:
        tolerance = per_output.get(output, {"atol": case["atol"], "rtol": case["rtol"]})
        got, expected = actual[output], stored[output]
        assert got.shape == expected.shape, output
        if not torch.allclose(got, expected, atol=tolerance["atol"], rtol=tolerance["rtol"]):
            worst = (got.double() - expected.double()).abs().max().item()
            failures.append(f"{output}: max |diff| {worst:.3g} > atol {tolerance['atol']}")
    assert not failures, "; ".join(failures)


@pytest.mark.requires(DRAW_CASES, f"a GLIDE golden case recording randn_draws under {FIXTURES}")
@pytest.mark.parametrize(
    ("directory", "name"),
    DRAW_CASES,
    ids=lambda v: str(v.relative_to(FIXTURES)) if isinstance(v, Path) else v,
)
def test_golden_loop_consumes_the_recorded_number_of_full_batch_draws(directory, name):
    model, diffusion, cases, tensors = golden(directory)
    case, stored = cases["cases"][name], tensors[name]
    with torch.no_grad():
        run_case(model, diffusion, case, stored)
        after_loop = torch.randn(1)
    torch.manual_seed(case["seed"])
    for _ in range(case["randn_draws"]):
        torch.randn(case["shape"])
    assert torch.equal(after_loop, torch.randn(1))

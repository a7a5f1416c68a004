"""dermsynth.glide.respace: the reference's kept timesteps; and diffusion.SpacedDiffusion, the
schedule on them that keeps alpha-bars.

Fixtures: the `timestep_map` recorded in every golden_*/<model>/cases.json and in
manifest_{base,upsample}.json (README sections 1 and 4), compared exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dermsynth.glide.diffusion import (
    GaussianDiffusion,
    SpacedDiffusion,
    create_gaussian_diffusion,
    get_named_beta_schedule,
)
from dermsynth.glide.respace import space_timesteps

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "glide"
GOLDEN_CASES = sorted(FIXTURES.glob("golden_*/*/cases.json")) if FIXTURES.is_dir() else []
MANIFESTS = [FIXTURES / f"manifest_{name}.json" for name in ("base", "upsample")]
# fails on CI, skips elsewhere (tests/prerequisites.py), where a fixture below is missing
requires_fixtures = pytest.mark.requires(
    bool(GOLDEN_CASES) and all(p.is_file() for p in MANIFESTS),
    f"GLIDE reference fixtures under {FIXTURES}: golden_*/<model>/cases.json, "
    + ", ".join(p.name for p in MANIFESTS),
)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@requires_fixtures
@pytest.mark.parametrize(
    "cases_json", GOLDEN_CASES, ids=[str(p.parent.relative_to(FIXTURES)) for p in GOLDEN_CASES]
)
def test_golden_timestep_map_is_the_reference_one_for_its_options(cases_json):
    golden = read_json(cases_json)
    diffusion = create_gaussian_diffusion(
        steps=golden["diffusion_steps"],
        noise_schedule=golden["noise_schedule"],
        timestep_respacing=golden["timestep_respacing"],
    )
    assert diffusion.timestep_map == golden["timestep_map"]
    assert diffusion.num_timesteps == golden["respaced_num_timesteps"]


@requires_fixtures
@pytest.mark.parametrize("manifest", MANIFESTS, ids=[p.stem for p in MANIFESTS])
def test_released_models_notebook_respacing_keeps_the_reference_timesteps(manifest):
    released = read_json(manifest)
    options = released["options"]
    diffusion = create_gaussian_diffusion(
        steps=options["diffusion_steps"],
        noise_schedule=options["noise_schedule"],
        timestep_respacing=options["timestep_respacing"],
    )
    assert diffusion.timestep_map == released["diffusion"]["timestep_map"]
    assert diffusion.num_timesteps == released["diffusion"]["num_timesteps"]


def test_fast27_takes_27_steps_and_replaces_the_noisiest_by_t_minus_3():
    steps = space_timesteps(1000, "fast27")
    assert len(steps) == 27
    assert 999 not in steps and 997 in steps
    assert steps - {997} == space_timesteps(1000, "10,10,3,2,2") - {999}


def test_ddim25_takes_25_steps_at_an_integer_stride_from_0():
    steps = sorted(space_timesteps(1000, "ddim25"))
    assert len(steps) == 25
    assert steps[0] == 0
    assert len(set(np.diff(steps))) == 1


def test_n_steps_spread_over_the_whole_schedule_first_and_last_included():
    steps = sorted(space_timesteps(1000, "10"))
    assert len(steps) == 10
    assert (steps[0], steps[-1]) == (0, 999)


def test_empty_respacing_keeps_every_step():
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="linear", timestep_respacing=""
    )
    assert diffusion.timestep_map == list(range(1000))
    plain = GaussianDiffusion(betas=get_named_beta_schedule("linear", 1000))
    np.testing.assert_allclose(diffusion.betas, plain.betas, rtol=1e-12)


@pytest.mark.parametrize("respacing", ["ddim999", "1001", "3,600"])
def test_respacing_that_cannot_be_taken_is_refused(respacing):
    with pytest.raises(ValueError):
        space_timesteps(1000, respacing)


@pytest.mark.parametrize(
    ("schedule", "respacing"),
    [("linear", "fast27"), ("squaredcos_cap_v2", "100"), ("squaredcos_cap_v2", "ddim25")],
)
def test_respaced_betas_reproduce_the_kept_alpha_bars(schedule, respacing):
    betas = get_named_beta_schedule(schedule, 1000)
    base = GaussianDiffusion(betas=betas)
    spaced = SpacedDiffusion(use_timesteps=space_timesteps(1000, respacing), betas=betas)
    kept = base.alphas_cumprod[spaced.timestep_map]
    # float64 round-off only; alpha-bar falls to ~1e-9 at the noisiest step
    np.testing.assert_allclose(np.cumprod(1.0 - spaced.betas), kept, rtol=1e-9, atol=0)
    np.testing.assert_allclose(spaced.alphas_cumprod, kept, rtol=1e-9, atol=0)
    assert spaced.betas.dtype == np.float64


class TimestepRecorder(torch.nn.Module):
    """Records the timesteps and keyword arguments it is called with; outputs zeros."""

    def forward(self, x, t, **kwargs):
        self.seen_t = t.clone()
        self.seen_kwargs = kwargs
        return torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:])


def test_model_sees_original_timesteps_and_every_model_kwarg():
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="linear", timestep_respacing="fast27"
    )
    recorder = TimestepRecorder()
    tokens = torch.arange(6).view(2, 3)
    low_res = torch.ones(2, 3, 2, 2)
    t = torch.tensor([26, 11])
    diffusion.p_mean_variance(
        recorder, torch.zeros(2, 3, 4, 4), t, model_kwargs=dict(tokens=tokens, low_res=low_res)
    )
    assert recorder.seen_t.tolist() == [diffusion.timestep_map[26], diffusion.timestep_map[11]]
    assert recorder.seen_t.tolist() == [997, 222]  # not rescaled to 0..1000
    assert recorder.seen_kwargs.keys() == {"tokens", "low_res"}
    assert recorder.seen_kwargs["tokens"] is tokens

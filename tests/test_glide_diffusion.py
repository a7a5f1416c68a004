"""dermsynth.glide.diffusion: schedules, the learned-variance reverse step, the samplers' random
draws and the hybrid training loss, checked with small stand-in models (no GLIDE network).

The reference outputs of the real network are checked in test_glide_golden_sampling.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermsynth.glide.diffusion import (
    GaussianDiffusion,
    create_gaussian_diffusion,
    get_named_beta_schedule,
)

SHAPE = (2, 3, 4, 4)


class FixedOutput(torch.nn.Module):
    """A model whose eps and variance channels are given tensors, whatever x and t are."""

    def __init__(self, eps: torch.Tensor, var_values: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("out", torch.cat([eps, var_values], dim=1))

    def forward(self, x, t, **kwargs):
        return self.out


class Wobbly(torch.nn.Module):
    """A tiny deterministic model whose output depends on x, t and a keyword argument."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.weight = torch.nn.Parameter(0.5 * torch.randn(6, 3, generator=generator))

    def forward(self, x, t, scale=1.0):
        y = scale * torch.einsum("oc,bchw->bohw", self.weight, x)
        phase = torch.sin(t.float() / 100.0).view(-1, 1, 1, 1)
        return torch.cat([y[:, :3] + phase, torch.tanh(y[:, 3:])], dim=1)


class SplitHeads(torch.nn.Module):
    """Separate parameters for the eps channels and the variance channels."""

    def __init__(self) -> None:
        super().__init__()
        self.eps_bias = torch.nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.var_bias = torch.nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, t):
        return torch.cat([0.5 * x + self.eps_bias, torch.tanh(x) * 0.5 + self.var_bias], dim=1)


def cosine10() -> GaussianDiffusion:
    return create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing="10"
    )


def column(values: np.ndarray, t: torch.Tensor) -> torch.Tensor:
    """values[t] in float64, shaped (B, 1, 1, 1)."""
    return torch.from_numpy(values[t.numpy()]).view(-1, 1, 1, 1)


# --- schedules ------------------------------------------------------------------------------


def test_linear_schedule_is_ho_et_al_at_1000_steps_and_keeps_its_shape_at_other_counts():
    betas = get_named_beta_schedule("linear", 1000)
    assert (betas[0], betas[-1]) == pytest.approx((1e-4, 0.02))
    half = get_named_beta_schedule("linear", 500)
    assert (half[0], half[-1]) == pytest.approx((2e-4, 0.04))
    assert betas.dtype == np.float64


def test_cosine_schedule_caps_betas_at_0_999_and_alpha_bar_keeps_falling():
    betas = get_named_beta_schedule("squaredcos_cap_v2", 1000)
    assert betas.max() == pytest.approx(0.999)
    assert (betas > 0).all()
    assert (np.diff(np.cumprod(1 - betas)) < 0).all()


def test_unknown_schedule_is_refused():
    with pytest.raises(ValueError, match="schedule"):
        get_named_beta_schedule("quadratic", 1000)


# --- one reverse step -----------------------------------------------------------------------


def test_the_true_noise_recovers_x_start_and_the_true_posterior():
    diffusion = cosine10()
    generator = torch.Generator().manual_seed(1)
    x_start = 1.8 * torch.rand(SHAPE, generator=generator) - 0.9
    noise = torch.randn(SHAPE, generator=generator)
    t = torch.tensor([2, 6])
    x_t = diffusion.q_sample(x_start, t, noise=noise)
    model = FixedOutput(noise, torch.zeros(SHAPE))
    out = diffusion.p_mean_variance(model, x_t, t, clip_denoised=False)
    true_mean, _, _ = diffusion.q_posterior_mean_variance(x_start, x_t, t)
    torch.testing.assert_close(out["pred_xstart"], x_start, atol=1e-4, rtol=0)
    torch.testing.assert_close(out["mean"], true_mean, atol=1e-4, rtol=0)


@pytest.mark.parametrize("t_values", [[0, 9], [4, 1]])
def test_variance_channels_interpolate_log_variance_from_posterior_to_beta(t_values):
    diffusion = cosine10()
    t = torch.tensor(t_values)
    betas = diffusion.betas
    alpha_bar = np.cumprod(1 - betas)
    alpha_bar_prev = np.append(1.0, alpha_bar[:-1])
    posterior = betas * (1 - alpha_bar_prev) / (1 - alpha_bar)
    posterior[0] = posterior[1]  # log(0) at t = 0 is clipped to t = 1's value
    x = torch.zeros(SHAPE)
    for v, frac in [(-1.0, 0.0), (1.0, 1.0), (0.0, 0.5)]:
        model = FixedOutput(torch.zeros(SHAPE), torch.full(SHAPE, v))
        out = diffusion.p_mean_variance(model, x, t)
        expected = frac * np.log(betas) + (1 - frac) * np.log(posterior)
        torch.testing.assert_close(
            out["log_variance"].double(), column(expected, t).expand(SHAPE), atol=1e-6, rtol=1e-6
        )
        torch.testing.assert_close(out["variance"], out["log_variance"].exp())


def test_mean_is_the_posterior_mean_of_the_eps_prediction_clipped_to_unit_range():
    diffusion = cosine10()
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(SHAPE, generator=generator)
    eps = 3.0 * torch.randn(SHAPE, generator=generator)
    t = torch.tensor([8, 3])
    out = diffusion.p_mean_variance(FixedOutput(eps, torch.zeros(SHAPE)), x, t, clip_denoised=True)

    ab = column(diffusion.alphas_cumprod, t)
    ab_prev = column(diffusion.alphas_cumprod_prev, t)
    beta = column(diffusion.betas, t)
    x64, eps64 = x.double(), eps.double()
    pred_xstart = ((x64 - (1 - ab).sqrt() * eps64) / ab.sqrt()).clamp(-1, 1)
    mean = (beta * ab_prev.sqrt() * pred_xstart + (1 - ab_prev) * (1 - beta).sqrt() * x64) / (
        1 - ab
    )
    assert out["pred_xstart"].abs().max() <= 1.0
    assert (pred_xstart.abs() == 1).any()  # the clamp is exercised
    torch.testing.assert_close(out["pred_xstart"].double(), pred_xstart, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["mean"].double(), mean, atol=1e-5, rtol=1e-5)


def test_denoised_fn_applies_to_pred_xstart_before_the_clip():
    diffusion = cosine10()
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([5, 5])
    model = FixedOutput(torch.zeros(SHAPE), torch.zeros(SHAPE))
    out = diffusion.p_mean_variance(model, x, t, denoised_fn=lambda p: p * 0 + 7.0)
    assert torch.equal(out["pred_xstart"], torch.ones(SHAPE))


# --- sampling loops: random draws -----------------------------------------------------------


def run_loop(diffusion, loop, seed, noise, **kwargs):
    """The loop's sample and the first number drawn after it, from `seed`."""
    torch.manual_seed(seed)
    sample = getattr(diffusion, loop)(
        Wobbly(), SHAPE, noise=noise, device="cpu", model_kwargs=dict(scale=1.3), **kwargs
    )
    return sample, torch.randn(1)


def replay_draws(seed, n_draws):
    """The draws a loop should make from `seed`, and the number drawn after them."""
    torch.manual_seed(seed)
    draws = [torch.randn(SHAPE) for _ in range(n_draws)]
    return draws, torch.randn(1)


@pytest.mark.parametrize("loop", ["p_sample_loop", "ddim_sample_loop"])
def test_loop_with_noise_draws_one_full_batch_per_step_and_nothing_else(loop):
    diffusion = cosine10()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    _, after_loop = run_loop(diffusion, loop, seed=7, noise=noise)
    _, after_replay = replay_draws(seed=7, n_draws=diffusion.num_timesteps)
    assert torch.equal(after_loop, after_replay)


def test_p_sample_loop_uses_the_kth_draw_at_the_kth_step_also_at_the_last():
    diffusion = cosine10()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(5))
    sample, _ = run_loop(diffusion, "p_sample_loop", seed=8, noise=noise)

    draws, _ = replay_draws(seed=8, n_draws=diffusion.num_timesteps)
    x = noise
    for k, i in enumerate(range(diffusion.num_timesteps - 1, -1, -1)):
        t = torch.tensor([i] * SHAPE[0])
        with torch.no_grad():
            out = diffusion.p_mean_variance(Wobbly(), x, t, model_kwargs=dict(scale=1.3))
        x = out["mean"] + (i > 0) * torch.exp(0.5 * out["log_variance"]) * draws[k]
    assert torch.equal(sample, x)


def test_seeded_p_sample_loop_repeats_exactly_and_another_seed_differs():
    diffusion = cosine10()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(6))
    first, _ = run_loop(diffusion, "p_sample_loop", seed=9, noise=noise)
    again, _ = run_loop(diffusion, "p_sample_loop", seed=9, noise=noise)
    other, _ = run_loop(diffusion, "p_sample_loop", seed=10, noise=noise)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


def test_ddim_with_eta_0_does_not_depend_on_the_seed():
    diffusion = cosine10()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(7))
    first, _ = run_loop(diffusion, "ddim_sample_loop", seed=11, noise=noise)
    other, _ = run_loop(diffusion, "ddim_sample_loop", seed=12, noise=noise)
    stochastic, _ = run_loop(diffusion, "ddim_sample_loop", seed=12, noise=noise, eta=1.0)
    assert torch.equal(first, other)
    assert not torch.allclose(first, stochastic)


@pytest.mark.parametrize("loop", ["p_sample_loop", "ddim_sample_loop"])
def test_loop_without_noise_draws_the_start_first_then_steps_as_with_noise(loop):
    diffusion = cosine10()
    without, after_without = run_loop(diffusion, loop, seed=13, noise=None)
    torch.manual_seed(13)
    start = torch.randn(SHAPE)
    with_start = getattr(diffusion, loop)(
        Wobbly(), SHAPE, noise=start, device="cpu", model_kwargs=dict(scale=1.3)
    )
    assert torch.equal(without, with_start)
    assert torch.equal(after_without, torch.randn(1))


@pytest.mark.parametrize(("step", "kwargs"), [("p_sample", {}), ("ddim_sample", {"eta": 1.0})])
def test_a_step_given_its_noise_draws_nothing_and_uses_that_noise(step, kwargs):
    diffusion = cosine10()
    generator = torch.Generator().manual_seed(9)
    x = torch.randn(SHAPE, generator=generator)
    noise = torch.randn(SHAPE, generator=generator)
    t = torch.tensor([5, 5])
    torch.manual_seed(15)
    given = getattr(diffusion, step)(Wobbly(), x, t, noise=noise, **kwargs)["sample"]
    after_given = torch.randn(1)
    torch.manual_seed(15)
    drawn = getattr(diffusion, step)(Wobbly(), x, t, **kwargs)["sample"]
    torch.manual_seed(15)
    assert torch.equal(after_given, torch.randn(1))
    torch.manual_seed(15)
    replayed = getattr(diffusion, step)(Wobbly(), x, t, noise=torch.randn(SHAPE), **kwargs)
    assert torch.equal(replayed["sample"], drawn)
    assert not torch.allclose(given, drawn)


@pytest.mark.parametrize("loop", ["p_sample_loop", "ddim_sample_loop"])
def test_progressive_loop_yields_every_step_ending_with_the_final_sample(loop):
    diffusion = cosine10()
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(8))
    final, _ = run_loop(diffusion, loop, seed=14, noise=noise)
    torch.manual_seed(14)
    steps = list(
        getattr(diffusion, f"{loop}_progressive")(
            Wobbly(), SHAPE, noise=noise, device="cpu", model_kwargs=dict(scale=1.3)
        )
    )
    assert len(steps) == diffusion.num_timesteps
    assert torch.equal(steps[-1]["sample"], final)


# --- training loss --------------------------------------------------------------------------


def training_batch(diffusion, seed=0):
    generator = torch.Generator().manual_seed(seed)
    # pixels on the 8-bit grid, as training images are
    x_start = torch.randint(0, 256, SHAPE, generator=generator).float() / 127.5 - 1
    noise = torch.randn(SHAPE, generator=generator)
    t = torch.tensor([0, diffusion.num_timesteps - 1])
    return x_start, noise, t


def test_training_losses_are_finite_per_example_and_loss_is_mse_plus_vb():
    diffusion = cosine10()
    x_start, noise, t = training_batch(diffusion)
    terms = diffusion.training_losses(SplitHeads(), x_start, t, noise=noise)
    assert {"loss", "mse", "vb"} <= terms.keys()
    for name in ("loss", "mse", "vb"):
        assert terms[name].shape == (SHAPE[0],)
        assert torch.isfinite(terms[name]).all()
    torch.testing.assert_close(terms["loss"], terms["mse"] + terms["vb"])
    assert (terms["vb"] > 0).all()


def test_vb_term_trains_only_the_variance_and_mse_only_the_mean():
    diffusion = cosine10()
    x_start, noise, t = training_batch(diffusion, seed=1)
    model = SplitHeads()
    terms = diffusion.training_losses(model, x_start, t, noise=noise)
    terms["vb"].sum().backward(retain_graph=True)
    assert model.eps_bias.grad is None or not model.eps_bias.grad.any()
    assert model.var_bias.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    terms["mse"].sum().backward()
    assert model.eps_bias.grad.abs().sum() > 0
    assert model.var_bias.grad is None or not model.var_bias.grad.any()


def test_exact_noise_and_posterior_variance_give_zero_mse_and_zero_kl():
    diffusion = cosine10()
    x_start, noise, _ = training_batch(diffusion, seed=2)
    t = torch.tensor([3, 7])  # t > 0: vb is the KL to the true posterior
    model = FixedOutput(noise, -torch.ones(SHAPE))  # v = -1: the posterior's variance
    terms = diffusion.training_losses(model, x_start, t, noise=noise)
    assert torch.equal(terms["mse"], torch.zeros(SHAPE[0]))
    torch.testing.assert_close(terms["vb"], torch.zeros(SHAPE[0]), atol=1e-6, rtol=0)


def test_training_losses_pass_model_kwargs_and_original_timesteps_to_the_model():
    diffusion = cosine10()
    seen = {}

    def model(x, t, **kwargs):
        seen.update(t=t.tolist(), **kwargs)
        return torch.zeros(x.shape[0], 2 * x.shape[1], *x.shape[2:])

    x_start, noise, t = training_batch(diffusion)
    diffusion.training_losses(model, x_start, t, model_kwargs=dict(tokens="caption"), noise=noise)
    assert seen == {"t": [0, 999], "tokens": "caption"}

"""GLIDE's Gaussian diffusion: noise schedules, the learned-variance reverse process, samplers,
and the same process respaced to fewer steps.

GLIDE (Nichol et al. 2021) predicts the noise eps and, in its last three output channels, where
the reverse-step variance lies between the posterior variance and beta_t (improved DDPM, Nichol
& Dhariwal 2021). Sampling follows the reference `glide_text2im.gaussian_diffusion` to the
order of random draws, so that a seeded run reproduces the reference's samples.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dermsynth.glide.losses import (
    discretized_gaussian_log_likelihood,
    mean_flat,
    normal_kl,
)
from dermsynth.glide.respace import space_timesteps

Model = Callable[..., Tensor]
# Ho et al.'s linear schedule (beta 1e-4 to 0.02) is defined over this many steps
LINEAR_REFERENCE_STEPS = 1000


def get_named_beta_schedule(schedule_name: str, num_diffusion_timesteps: int) -> np.ndarray:
    """The betas (float64) of a named schedule: "linear" (Ho et al.) or "squaredcos_cap_v2".

    "linear" is defined for 1000 steps and rescaled so other step counts keep its shape;
    "squaredcos_cap_v2" is the cosine schedule of improved DDPM, betas capped at 0.999.
    """
    if schedule_name == "linear":
        scale = LINEAR_REFERENCE_STEPS / num_diffusion_timesteps
        return np.linspace(scale * 0.0001, scale * 0.02, num_diffusion_timesteps, dtype=np.float64)
    if schedule_name == "squaredcos_cap_v2":
        return betas_for_alpha_bar(
            num_diffusion_timesteps,
            lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2,
        )
    raise ValueError(f"unknown beta schedule {schedule_name!r}")


def betas_for_alpha_bar(
    num_diffusion_timesteps: int, alpha_bar: Callable[[float], float], max_beta: float = 0.999
) -> np.ndarray:
    """Betas that discretise a continuous alpha-bar(t), t in [0, 1], into equal steps.

    The cap keeps beta below 1, where the cosine schedule would otherwise end.
    """
    betas = []
    for i in range(num_diffusion_timesteps):
        t1 = i / num_diffusion_timesteps
        t2 = (i + 1) / num_diffusion_timesteps
        betas.append(min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta))
    return np.array(betas, dtype=np.float64)


def extract(values: np.ndarray, timesteps: Tensor, broadcast_shape: Sequence[int]) -> Tensor:
    """`values[timesteps]` as float32, shaped to broadcast against `broadcast_shape`.

    The schedule is kept in float64 and only the gathered entries are cast, as the reference
    does; the gather runs on the CPU because not every accelerator has float64.
    """
    gathered = torch.from_numpy(values)[timesteps.cpu()].float().to(timesteps.device)
    view = gathered.view(-1, *([1] * (len(broadcast_shape) - 1)))
    return view.expand(*broadcast_shape)


class GaussianDiffusion:
    """The forward process q and GLIDE's reverse process p for one beta schedule.

    Timesteps `t` index this object's own schedule (0 = least noisy). All schedule arrays are
    float64 numpy arrays, as in the reference, so that respacing loses no precision.
    """

    def __init__(self, *, betas: np.ndarray | Sequence[float]) -> None:
        betas = np.array(betas, dtype=np.float64)
        if betas.ndim != 1:
            raise ValueError("betas must be 1-D")
        if not ((betas > 0).all() and (betas <= 1).all()):
            raise ValueError("betas must lie in (0, 1]")
        self.betas = betas
        self.num_timesteps = int(betas.shape[0])

        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas, axis=0)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.alphas_cumprod_next = np.append(self.alphas_cumprod[1:], 0.0)

        # q(x_t | x_0)
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.log_one_minus_alphas_cumprod = np.log(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)

        # q(x_{t-1} | x_t, x_0)
        self.posterior_variance = (
            betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        # the posterior variance is 0 at t = 0; its log takes the value of t = 1 there
        self.posterior_log_variance_clipped = np.log(
            np.append(self.posterior_variance[1], self.posterior_variance[1:])
        )
        self.posterior_mean_coef1 = (
            betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        self.posterior_mean_coef2 = (
            (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        )
        self.log_betas = np.log(betas)

    # --- the model's timesteps (respacing maps them; see SpacedDiffusion) ---------------------

    def _wrap_model(self, model: Model) -> Model:
        """The model as this schedule calls it; the plain schedule passes `t` unchanged."""
        return model

    # --- forward process ----------------------------------------------------------------------

    def q_mean_variance(self, x_start: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and log-variance of q(x_t | x_0)."""
        mean = extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
        variance = extract(1.0 - self.alphas_cumprod, t, x_start.shape)
        log_variance = extract(self.log_one_minus_alphas_cumprod, t, x_start.shape)
        return mean, variance, log_variance

    def q_sample(self, x_start: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """A draw of x_t ~ q(x_t | x_0); `noise` is the standard normal draw to use."""
        if noise is None:
            noise = torch.randn_like(x_start)
        if noise.shape != x_start.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} != x_start {tuple(x_start.shape)}")
        return (
            extract(self.sqrt_alphas_cumprod, t, x_start.shape) * x_start
            + extract(self.sqrt_one_minus_alphas_cumprod, t, x_start.shape) * noise
        )

    def q_posterior_mean_variance(
        self, x_start: Tensor, x_t: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of the posterior q(x_{t-1} | x_t, x_0)."""
        if x_start.shape != x_t.shape:
            raise ValueError(f"x_start {tuple(x_start.shape)} != x_t {tuple(x_t.shape)}")
        mean = (
            extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
            + extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        variance = extract(self.posterior_variance, t, x_t.shape)
        log_variance = extract(self.posterior_log_variance_clipped, t, x_t.shape)
        return mean, variance, log_variance

    def _predict_xstart_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        return (
            extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t
            - extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape) * eps
        )

    def _predict_eps_from_xstart(self, x_t: Tensor, t: Tensor, pred_xstart: Tensor) -> Tensor:
        return (
            extract(self.sqrt_recip_alphas_cumprod, t, x_t.shape) * x_t - pred_xstart
        ) / extract(self.sqrt_recipm1_alphas_cumprod, t, x_t.shape)

    # --- reverse process ----------------------------------------------------------------------

    def p_mean_variance(
        self,
        model: Model,
        x: Tensor,
        t: Tensor,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        model_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Tensor]:
        """p(x_{t-1} | x_t) from one model call: `mean`, `variance`, `log_variance`, and the
        model's estimate of x_0, `pred_xstart` (after `denoised_fn`, then clipped to [-1, 1]
        when `clip_denoised`)."""
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must have shape ({x.shape[0]},), got {tuple(t.shape)}")
        model_output = self._wrap_model(model)(x, t, **(model_kwargs or {}))
        return self._p_mean_variance_from_output(model_output, x, t, clip_denoised, denoised_fn)

    def _p_mean_variance_from_output(
        self,
        model_output: Tensor,
        x: Tensor,
        t: Tensor,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
    ) -> dict[str, Tensor]:
        channels = x.shape[1]
        expected = (x.shape[0], 2 * channels, *x.shape[2:])
        if tuple(model_output.shape) != expected:
            raise ValueError(
                f"model output {tuple(model_output.shape)} != {expected} (eps + variance)"
            )
        eps, var_values = torch.split(model_output, channels, dim=1)
        # var_values in [-1, 1] interpolates log-variance from the posterior's to beta_t's
        min_log = extract(self.posterior_log_variance_clipped, t, x.shape)
        max_log = extract(self.log_betas, t, x.shape)
        frac = (var_values + 1) / 2
        log_variance = frac * max_log + (1 - frac) * min_log

        pred_xstart = self._predict_xstart_from_eps(x_t=x, t=t, eps=eps)
        if denoised_fn is not None:
            pred_xstart = denoised_fn(pred_xstart)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        mean, _, _ = self.q_posterior_mean_variance(x_start=pred_xstart, x_t=x, t=t)
        return {
            "mean": mean,
            "variance": torch.exp(log_variance),
            "log_variance": log_variance,
            "pred_xstart": pred_xstart,
        }

    def condition_mean(
        self,
        cond_fn: Model,
        p_mean_var: dict[str, Tensor],
        x: Tensor,
        t: Tensor,
        model_kwargs: dict[str, Any] | None = None,
    ) -> Tensor:
        """The mean shifted by variance × grad log p(y | x) (Sohl-Dickstein et al. 2015)."""
        gradient = self._wrap_model(cond_fn)(x, t, **(model_kwargs or {}))
        return p_mean_var["mean"].float() + p_mean_var["variance"] * gradient.float()

    def condition_score(
        self,
        cond_fn: Model,
        p_mean_var: dict[str, Tensor],
        x: Tensor,
        t: Tensor,
        model_kwargs: dict[str, Any] | None = None,
    ) -> dict[str, Tensor]:
        """`p_mean_var` with the score shifted by grad log p(y | x) (Song et al. 2020)."""
        alpha_bar = extract(self.alphas_cumprod, t, x.shape)
        eps = self._predict_eps_from_xstart(x, t, p_mean_var["pred_xstart"])
        gradient = self._wrap_model(cond_fn)(x, t, **(model_kwargs or {}))
        eps = eps - (1 - alpha_bar).sqrt() * gradient
        out = dict(p_mean_var)
        out["pred_xstart"] = self._predict_xstart_from_eps(x, t, eps)
        out["mean"], _, _ = self.q_posterior_mean_variance(x_start=out["pred_xstart"], x_t=x, t=t)
        return out

    def p_sample(
        self,
        model: Model,
        x: Tensor,
        t: Tensor,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        noise: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One ancestral step x_t -> x_{t-1}: `sample` and `pred_xstart`.

        Draws exactly one `randn_like(x)`, also at t = 0 where it is multiplied by 0, so that
        seeded runs use the reference's random numbers. A given `noise` (e.g. drawn per image,
        so that a sample does not depend on its batch) is used instead and nothing is drawn.
        """
        out = self.p_mean_variance(
            model,
            x,
            t,
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            model_kwargs=model_kwargs,
        )
        if noise is None:
            noise = torch.randn_like(x)
        if cond_fn is not None:
            out["mean"] = self.condition_mean(cond_fn, out, x, t, model_kwargs=model_kwargs)
        nonzero = _nonzero_mask(t, x.ndim)
        sample = out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    def ddim_sample(
        self,
        model: Model,
        x: Tensor,
        t: Tensor,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        eta: float = 0.0,
        noise: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """One DDIM step (Song et al. 2021, eq. 12); eta = 0 is deterministic.

        eps is re-derived from the clipped `pred_xstart`, as the reference does. One
        `randn_like(x)` is drawn even when eta = 0, to keep the reference's random stream,
        unless `noise` is given (as in `p_sample`).
        """
        out = self.p_mean_variance(
            model,
            x,
            t,
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            model_kwargs=model_kwargs,
        )
        if cond_fn is not None:
            out = self.condition_score(cond_fn, out, x, t, model_kwargs=model_kwargs)
        eps = self._predict_eps_from_xstart(x, t, out["pred_xstart"])
        alpha_bar = extract(self.alphas_cumprod, t, x.shape)
        alpha_bar_prev = extract(self.alphas_cumprod_prev, t, x.shape)
        sigma = (
            eta
            * torch.sqrt((1 - alpha_bar_prev) / (1 - alpha_bar))
            * torch.sqrt(1 - alpha_bar / alpha_bar_prev)
        )
        if noise is None:
            noise = torch.randn_like(x)
        mean_pred = (
            out["pred_xstart"] * torch.sqrt(alpha_bar_prev)
            + torch.sqrt((1 - alpha_bar_prev - sigma**2).clamp(min=0)) * eps
        )
        sample = mean_pred + _nonzero_mask(t, x.ndim) * sigma * noise
        return {"sample": sample, "pred_xstart": out["pred_xstart"]}

    # --- sampling loops -----------------------------------------------------------------------

    def p_sample_loop(
        self,
        model: Model,
        shape: Sequence[int],
        noise: Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> Tensor:
        """Samples of `shape` by ancestral sampling from step `num_timesteps - 1` down to 0.

        Starts from `noise` if given (then nothing is drawn up front), else from one
        `torch.randn(shape)`; each step draws one `randn_like` of the whole batch.
        """
        steps = self.p_sample_loop_progressive(
            model,
            shape,
            noise=noise,
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            cond_fn=cond_fn,
            model_kwargs=model_kwargs,
            device=device,
            progress=progress,
        )
        return _final_sample(steps)

    def p_sample_loop_progressive(
        self,
        model: Model,
        shape: Sequence[int],
        noise: Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
    ) -> Iterator[dict[str, Tensor]]:
        """`p_sample_loop` yielding every step's `p_sample` output, noisiest first."""
        step_kwargs = dict(
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            cond_fn=cond_fn,
            model_kwargs=model_kwargs,
        )
        yield from self._sample_steps(
            self.p_sample, model, shape, noise, device, progress, step_kwargs
        )

    def ddim_sample_loop(
        self,
        model: Model,
        shape: Sequence[int],
        noise: Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        eta: float = 0.0,
    ) -> Tensor:
        """Samples of `shape` by DDIM; same arguments and random draws as `p_sample_loop`."""
        steps = self.ddim_sample_loop_progressive(
            model,
            shape,
            noise=noise,
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            cond_fn=cond_fn,
            model_kwargs=model_kwargs,
            device=device,
            progress=progress,
            eta=eta,
        )
        return _final_sample(steps)

    def ddim_sample_loop_progressive(
        self,
        model: Model,
        shape: Sequence[int],
        noise: Tensor | None = None,
        clip_denoised: bool = True,
        denoised_fn: Callable[[Tensor], Tensor] | None = None,
        cond_fn: Model | None = None,
        model_kwargs: dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        eta: float = 0.0,
    ) -> Iterator[dict[str, Tensor]]:
        """`ddim_sample_loop` yielding every step's `ddim_sample` output, noisiest first."""
        step_kwargs = dict(
            clip_denoised=clip_denoised,
            denoised_fn=denoised_fn,
            cond_fn=cond_fn,
            model_kwargs=model_kwargs,
            eta=eta,
        )
        yield from self._sample_steps(
            self.ddim_sample, model, shape, noise, device, progress, step_kwargs
        )

    def _sample_steps(
        self,
        step: Callable[..., dict[str, Tensor]],
        model: Model,
        shape: Sequence[int],
        noise: Tensor | None,
        device: torch.device | str | None,
        progress: bool,
        step_kwargs: dict[str, Any],
    ) -> Iterator[dict[str, Tensor]]:
        if not isinstance(shape, (tuple, list, torch.Size)):
            raise TypeError(f"shape must be a tuple or list, got {type(shape).__name__}")
        device = _sampling_device(model, noise, device)
        img = noise if noise is not None else torch.randn(*shape, device=device)
        indices: Sequence[int] = range(self.num_timesteps - 1, -1, -1)
        if progress:
            from tqdm.auto import tqdm

            indices = tqdm(indices)
        for i in indices:
            t = torch.tensor([i] * shape[0], device=device)
            with torch.no_grad():
                out = step(model, img, t, **step_kwargs)
            yield out
            img = out["sample"]

    # --- training -----------------------------------------------------------------------------

    def training_losses(
        self,
        model: Model,
        x_start: Tensor,
        t: Tensor,
        model_kwargs: dict[str, Any] | None = None,
        noise: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Improved DDPM's hybrid loss per example: `loss` = `mse` + `vb`.

        `mse` fits eps; `vb` is the variational-bound term for step t, computed with the mean
        detached so that it trains only the variance (Nichol & Dhariwal 2021, sec. 3.1), and
        scaled by num_timesteps / 1000 (their RESCALED_MSE, the default GLIDE was trained with).
        """
        if noise is None:
            noise = torch.randn_like(x_start)
        x_t = self.q_sample(x_start, t, noise=noise)
        model_output = self._wrap_model(model)(x_t, t, **(model_kwargs or {}))
        channels = x_t.shape[1]
        eps, var_values = torch.split(model_output, channels, dim=1)
        frozen = torch.cat([eps.detach(), var_values], dim=1)
        vb = self._vb_terms_bpd(frozen, x_start, x_t, t)
        vb = vb * (self.num_timesteps / 1000.0)
        mse = mean_flat((noise - eps) ** 2)
        return {"loss": mse + vb, "mse": mse, "vb": vb}

    def _vb_terms_bpd(
        self, model_output: Tensor, x_start: Tensor, x_t: Tensor, t: Tensor
    ) -> Tensor:
        """The bound's term for step t in bits per dimension: KL for t > 0, decoder NLL at 0."""
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x_start, x_t, t)
        out = self._p_mean_variance_from_output(model_output, x_t, t, clip_denoised=False)
        kl = normal_kl(true_mean, true_log_variance, out["mean"], out["log_variance"])
        kl = mean_flat(kl) / math.log(2.0)
        nll = -discretized_gaussian_log_likelihood(
            x_start, means=out["mean"], log_scales=0.5 * out["log_variance"]
        )
        nll = mean_flat(nll) / math.log(2.0)
        return torch.where(t == 0, nll, kl)


def _final_sample(steps: Iterator[dict[str, Tensor]]) -> Tensor:
    """The last step's sample; earlier steps are dropped as they come, not kept in memory."""
    return deque(steps, maxlen=1)[0]["sample"]


def _nonzero_mask(t: Tensor, ndim: int) -> Tensor:
    """1 where t > 0 and 0 at t = 0, where the last step adds no noise."""
    return (t != 0).float().view(-1, *([1] * (ndim - 1)))


def _sampling_device(
    model: Model, noise: Tensor | None, device: torch.device | str | None
) -> torch.device | str:
    """`device` if given, else the model's parameters' (as the reference), else the noise's."""
    if device is not None:
        return device
    parameters = getattr(model, "parameters", None)
    if parameters is not None:
        first = next(iter(parameters()), None)
        if first is not None:
            return first.device
    return noise.device if noise is not None else torch.device("cpu")


class SpacedDiffusion(GaussianDiffusion):
    """The diffusion restricted to `use_timesteps` of the process given by `betas` (Nichol &
    Dhariwal 2021, sec. 4), e.g. those `respace.space_timesteps` keeps.

    Its betas are recomputed so that its alpha-bars are exactly the kept ones.
    `timestep_map[i]` is the original timestep of respaced step i; every model (and `cond_fn`)
    call receives original timesteps, which GLIDE does not rescale to 0..1000.
    """

    def __init__(self, use_timesteps: Iterable[int], **kwargs: Any) -> None:
        self.use_timesteps = set(use_timesteps)
        self.original_num_steps = len(kwargs["betas"])
        base = GaussianDiffusion(**kwargs)
        self.timestep_map: list[int] = []
        new_betas = []
        last_alpha_cumprod = 1.0
        for i, alpha_cumprod in enumerate(base.alphas_cumprod):
            if i in self.use_timesteps:
                # the beta that takes the last kept alpha-bar to this one in a single step
                new_betas.append(1 - alpha_cumprod / last_alpha_cumprod)
                last_alpha_cumprod = alpha_cumprod
                self.timestep_map.append(i)
        super().__init__(**{**kwargs, "betas": np.array(new_betas)})

    def _wrap_model(self, model: Model) -> Model:
        if isinstance(model, OriginalTimestepModel):
            return model
        return OriginalTimestepModel(model, self.timestep_map)


class OriginalTimestepModel:
    """Calls `model` with respaced timesteps replaced by the original ones they stand for."""

    def __init__(self, model: Model, timestep_map: list[int]) -> None:
        self.model = model
        self.timestep_map = torch.tensor(timestep_map, dtype=torch.long)

    def __call__(self, x: Tensor, ts: Tensor, **model_kwargs: Any) -> Tensor:
        original = self.timestep_map.to(device=ts.device)[ts.long()].to(ts.dtype)
        return self.model(x, original, **model_kwargs)


def create_gaussian_diffusion(
    *, steps: int, noise_schedule: str, timestep_respacing: str
) -> SpacedDiffusion:
    """GLIDE's diffusion for `create_model_and_diffusion`: a schedule of `steps` betas, sampled
    on the timesteps `timestep_respacing` keeps ("" keeps all)."""
    betas = get_named_beta_schedule(noise_schedule, steps)
    section_counts = timestep_respacing or [steps]
    return SpacedDiffusion(use_timesteps=space_timesteps(steps, section_counts), betas=betas)


def diffusion_for(options: dict, timestep_respacing: str) -> SpacedDiffusion:
    """The diffusion of a model's option dict, respaced to `timestep_respacing` ("" = all
    steps): training uses every step, each sampler its own respacing."""
    return create_gaussian_diffusion(
        steps=options["diffusion_steps"],
        noise_schedule=options["noise_schedule"],
        timestep_respacing=timestep_respacing,
    )

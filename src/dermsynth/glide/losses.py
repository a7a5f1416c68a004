"""Likelihood terms of the variational bound (Ho et al. 2020; Nichol & Dhariwal 2021).

GLIDE was trained with improved-DDPM's hybrid loss, whose `vb` term needs a Gaussian KL for
t > 0 and a discretised Gaussian likelihood of 8-bit pixels at t = 0.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PIXEL_HALF_BIN = 1.0 / 255.0  # half a bin of 8-bit pixels scaled to [-1, 1]
LOG_FLOOR = 1e-12


def mean_flat(tensor: Tensor) -> Tensor:
    """The mean over every dimension but the batch."""
    return tensor.mean(dim=list(range(1, tensor.ndim)))


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """The standard normal CDF by the tanh approximation (what the released models used)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: Tensor, *, means: Tensor, log_scales: Tensor) -> Tensor:
    """Log-probability (nats) of the 8-bit bin of each pixel of `x` in [-1, 1].

    The outermost bins reach to ±infinity so that the 256 bins carry all the probability.
    """
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + PIXEL_HALF_BIN))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - PIXEL_HALF_BIN))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=LOG_FLOOR))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=LOG_FLOOR))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=LOG_FLOOR))
    return torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta),
    )

"""Distances between the feature distributions of a synthetic and a real image set.

FID (Heusel et al. 2017), KID (Binkowski et al. 2018, the unbiased MMD estimator, so that it is
meaningful at small n), IS (Salimans et al. 2016, torch-fidelity's implementation, on class
logits), IS on average-pooled features (`pooled_inception_score`, our reading of paper 1's
section 2.2) and precision/recall/density/coverage (Naeem et al. 2020). Tests pin FID, KID, both
IS and precision/recall to torch-fidelity's own functions.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_isc import isc_features_to_metric


def _as_float64(x: np.ndarray | torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    tensor = torch.as_tensor(x)
    return tensor.to(device=device or tensor.device, dtype=torch.float64)


def frechet_distance(
    synthetic: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor
) -> float:
    """FID between two feature sets: |mu1 - mu2|^2 + tr S1 + tr S2 - 2 tr sqrt(S1 S2).

    tr sqrt(S1 S2) is computed exactly without a d x d matrix square root: with centred features
    A (n1 x d), B (n2 x d), the non-zero eigenvalues of S1 S2 are the squared singular values of
    A B^T / sqrt((n1-1)(n2-1)), an n1 x n2 matrix; with more images than dimensions, the same
    trace comes from the eigenvalues of the symmetric S1^1/2 S2 S1^1/2.
    """
    a, b = _as_float64(synthetic), _as_float64(real)
    n1, n2, dim = a.shape[0], b.shape[0], a.shape[1]
    if n1 < 2 or n2 < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    a, b = a - mu1, b - mu2
    c1, c2 = n1 - 1, n2 - 1
    trace1 = (a * a).sum() / c1
    trace2 = (b * b).sum() / c2
    # both routes are exact: take the cheaper one
    gram_cost = 4 * n1 * n2 * min(n1, n2)
    covariance_cost = 2 * (n1 + n2) * dim**2 + 20 * dim**3
    if gram_cost <= covariance_cost:
        cross = torch.linalg.svdvals(a @ b.T).sum() / np.sqrt(c1 * c2)
    else:
        s1 = a.T @ a / c1
        s2 = b.T @ b / c2
        vals, vecs = torch.linalg.eigh(s1)
        root1 = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
        cross = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp_min(0).sqrt().sum()
    distance = ((mu1 - mu2) ** 2).sum() + trace1 + trace2 - 2 * cross
    return float(distance)


class KID:
    """KID: the unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3, on all images
    (no subsets, so that it is defined for any n >= 2 and for sets of unequal size).

    The kernel matrices are computed once; a bootstrap resample is a weighting of points by
    how often each was drawn, and within a set only pairs of different images count, as the
    unbiased estimator wants: a duplicate paired with itself would add the kernel's self-
    similarity back and centre the replicates on the biased MMD^2, not on the estimate.
    """

    def __init__(
        self, synthetic: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor
    ) -> None:
        x, y = _as_float64(synthetic), _as_float64(real)
        dim = x.shape[1]
        self.k_xx = (x @ x.T / dim + 1) ** 3
        self.k_yy = (y @ y.T / dim + 1) ** 3
        self.k_xy = (x @ y.T / dim + 1) ** 3

    def __call__(
        self, synthetic_counts: np.ndarray | None = None, real_counts: np.ndarray | None = None
    ) -> float:
        w = _counts(synthetic_counts, self.k_xx.shape[0])
        v = _counts(real_counts, self.k_yy.shape[0])
        m, n = w.sum(), v.sum()
        pairs_x, pairs_y = m * m - w @ w, n * n - v @ v  # m(m-1) when each image is drawn once
        if pairs_x == 0 or pairs_y == 0:  # fewer than two different images in a set
            return float("nan")
        within_x = (w @ self.k_xx @ w - (w * w) @ self.k_xx.diagonal()) / pairs_x
        within_y = (v @ self.k_yy @ v - (v * v) @ self.k_yy.diagonal()) / pairs_y
        return float(within_x + within_y - 2 * (w @ self.k_xy @ v) / (m * n))


def _counts(counts: np.ndarray | None, size: int) -> torch.Tensor:
    if counts is None:
        return torch.ones(size, dtype=torch.float64)
    return torch.as_tensor(counts, dtype=torch.float64)


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10) -> float:
    """IS from Inception logits (torch-fidelity's computation), splits clipped to the set size."""
    logits = torch.as_tensor(logits, dtype=torch.float32)
    if logits.shape[0] < 1:
        return float("nan")
    splits = max(1, min(splits, logits.shape[0]))
    result = isc_features_to_metric(logits, splits=splits, shuffle=False)
    return float(result["inception_score_mean"])


def pooled_inception_score(pool: np.ndarray | torch.Tensor) -> float:
    """IS of one set of images whose class distributions are softmaxes over pooled features.

    Paper 1 (section 2.2) computes IS with an InceptionV3 "initialized with average pooling and
    without the top layer", a network with no class layer. Our reading: each image's 2048
    average-pooled activations stand where the class logits would be, p(y|x) is their softmax,
    and IS = exp(mean_x KL(p(y|x) || p(y))) with p(y) the mean of p(y|x) over the set, in one
    split (the paper names none). torch-fidelity's IS on the same features with one unshuffled
    split is the same number.
    """
    features = _as_float64(pool)
    if features.shape[0] < 1:
        return float("nan")
    log_p = features.log_softmax(dim=1)
    p = log_p.exp()
    log_marginal = p.mean(dim=0).log()
    kl = (p * (log_p - log_marginal)).sum(dim=1)
    return float(kl.mean().exp())


def knn_radii(features: np.ndarray | torch.Tensor, k: int) -> torch.Tensor:
    """The distance from each point to its k-th nearest other point of the same set."""
    features = _as_float64(features)
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


class PRDC:
    """Precision, recall, density and coverage of a synthetic set against a real one.

    Distances and each point's k-NN radius within its own set are computed once on the full
    sets; a bootstrap resample is then a weighting of points (how often each was drawn), so
    that duplicated points do not shrink the radii to 0.
    """

    def __init__(
        self, synthetic: np.ndarray | torch.Tensor, real: np.ndarray | torch.Tensor, k: int
    ) -> None:
        fake, true = _as_float64(synthetic), _as_float64(real)
        self.k = k
        self.defined = fake.shape[0] > k and true.shape[0] > k
        if not self.defined:
            return
        self.distances = torch.cdist(fake, true)  # (n_synthetic, n_real)
        self.inside_real = self.distances <= knn_radii(true, k)[None, :]
        self.inside_fake = self.distances <= knn_radii(fake, k)[:, None]

    def __call__(
        self, synthetic_counts: np.ndarray | None = None, real_counts: np.ndarray | None = None
    ) -> dict[str, float]:
        names = ("precision", "recall", "density", "coverage")
        if not self.defined:
            return dict.fromkeys(names, float("nan"))
        n_fake, n_real = self.distances.shape
        w_fake, w_real = _counts(synthetic_counts, n_fake), _counts(real_counts, n_real)
        inside = self.inside_real.double()
        real_present, fake_present = (w_real > 0).double(), (w_fake > 0).double()
        precision = (w_fake * ((inside @ real_present) > 0)).sum() / w_fake.sum()
        density = (w_fake * (inside @ w_real)).sum() / (self.k * w_fake.sum())
        recalled = (fake_present @ self.inside_fake.double()) > 0
        recall = (w_real * recalled).sum() / w_real.sum()
        covered = (fake_present @ inside) > 0
        coverage = (w_real * covered).sum() / w_real.sum()
        values = (precision, recall, density, coverage)
        return {name: float(value) for name, value in zip(names, values, strict=True)}

"""Two-dimensional toy data: two moons and a Gaussian mixture on a hexagon, with exact densities.

Samplers return ``x`` as float32 ``(n, 2)`` and labels ``y`` as int64 ``(n,)``. The density and
posterior functions accept a tensor or numpy array ``(n, 2)`` and return float64 tensors on the
input's device (numpy input: CPU): log-densities in nats, shape ``(n,)``; posteriors
``p(y | x)``, shape ``(n, K)``, rows summing to 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from sklearn.datasets import make_moons
from torch import Tensor

from innlab._validation import (
    check_choice,
    check_labels,
    check_matrix,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    resolve_seed,
)

__all__ = [
    "TWO_LABEL_GROUP",
    "hexagon_centers",
    "hexagon_gmm",
    "hexagon_gmm_log_prob",
    "hexagon_gmm_posterior",
    "two_moons",
    "two_moons_iid",
    "two_moons_log_prob",
    "two_moons_posterior",
]

_CORNERS = 6
TWO_LABEL_GROUP = (0, 3)
"""Default corners with label 0 for ``labels="two"``: the opposite corners at 0 and 180 degrees."""

HexagonLabels = Literal["component", "two"]

_GAUSS_LEGENDRE_ORDER = 8  # nodes per panel of the moons' angle quadrature
_ENDPOINT_REFINEMENT = 12  # geometrically shrinking panels at each end of a moon
_CHUNK = 4096  # points per block when evaluating densities


def _check_seed(seed: Any) -> int:
    """innlab's seed rule, within what scikit-learn and numpy accept (``random_state < 2**32``)."""
    return resolve_seed(seed, "seed", limit=2**32 - 1)


def _points(x: Any) -> Tensor:
    return check_matrix(x, "x", columns=2, dtype=torch.float64)


def _std(radius: float, std: float | None) -> float:
    return radius / 10 if std is None else check_positive_float(std, "std")


# --------------------------------------------------------------------------- two moons


def two_moons(n: int, noise: float = 0.1, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Sample the two moons of :func:`sklearn.datasets.make_moons` (shuffled).

    Args:
        n: number of points; the upper moon (label 0) gets ``n // 2`` of them.
        noise: standard deviation of the isotropic Gaussian noise (>= 0).
        seed: ``random_state`` for scikit-learn; ``None`` draws one from torch's global generator.

    Returns:
        ``x`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``, the moon index.
    """
    n = check_positive_int(n, "n")
    noise = check_positive_float(noise, "noise", allow_zero=True)
    x, y = make_moons(n_samples=n, shuffle=True, noise=noise, random_state=_check_seed(seed))
    return torch.from_numpy(x).float(), torch.from_numpy(y).long()


def two_moons_iid(n: int, noise: float = 0.1, seed: int | None = None) -> tuple[Tensor, Tensor]:
    """Independent draws from the density of :func:`two_moons`: a uniform angle on ``[0, pi]``,
    a fair choice of moon and Gaussian noise per point.

    ``make_moons`` spaces its angles evenly, so its points are more regular than independent
    draws; a perfect model generates points like these.

    Args:
        n: number of points.
        noise: standard deviation of the isotropic Gaussian noise (>= 0).
        seed: seed of the :class:`numpy.random.Generator` (``None``: drawn from torch's).

    Returns:
        ``x`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``, the moon index.
    """
    n = check_positive_int(n, "n")
    noise = check_positive_float(noise, "noise", allow_zero=True)
    rng = np.random.default_rng(_check_seed(seed))
    t = rng.uniform(0.0, np.pi, n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(t), 1.0 - np.cos(t))
    y = np.where(upper, np.sin(t), 0.5 - np.sin(t))
    points = np.stack([x, y], axis=1) + noise * rng.standard_normal((n, 2))
    return torch.from_numpy(points).float(), torch.from_numpy(~upper).long()


def _angle_quadrature(noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes ``t`` and log-weights for integrals over ``[0, pi]`` of the moons' noise kernel.

    Composite Gauss-Legendre quadrature on panels no wider than ``noise`` radians (the kernel's
    angular width is ``noise / sqrt(rho)`` at distance ``rho`` from the arc's centre), refined
    geometrically towards both ends, where the kernel of a point beyond the end of an arc decays
    fastest.
    """
    panels = max(4, math.ceil(math.pi / noise))
    h = math.pi / panels
    graded = h * 0.5 ** np.arange(_ENDPOINT_REFINEMENT, 0, -1)  # h / 2^G, ..., h / 2
    edges = np.concatenate(
        [[0.0], graded, np.linspace(h, math.pi - h, panels - 1), math.pi - graded[::-1], [math.pi]]
    )
    nodes, weights = np.polynomial.legendre.leggauss(_GAUSS_LEGENDRE_ORDER)
    half = np.diff(edges)[:, None] / 2
    t = ((edges[:-1, None] + edges[1:, None]) / 2 + half * nodes).ravel()
    return t, np.log((half * weights).ravel())


def _moon_log_kernels(x: Tensor, noise: float) -> Tensor:
    """``log p(x | moon m)`` for both moons, shape ``(n, 2)``.

    Moon 0 is ``(cos t, sin t)`` and moon 1 is ``(1 - cos t, 1/2 - sin t)`` with ``t`` uniform
    on ``[0, pi]``, each blurred by ``N(0, noise^2 I)``.
    """
    t, log_w = _angle_quadrature(noise)
    curves = torch.as_tensor(
        np.concatenate(
            [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)]
        ),
        device=x.device,
    )  # (2m, 2): the nodes of both moons
    # -|x - c|^2 / (2 noise^2) = (2 x.c - |c|^2 - |x|^2) / (2 noise^2); |x|^2 moves outside
    bias = torch.as_tensor(np.tile(log_w, 2), device=x.device) - (curves**2).sum(1) / (2 * noise**2)
    weights = curves.T / noise**2
    const = -math.log(math.pi) - math.log(2 * math.pi * noise**2)  # uniform angle, 2-D Gaussian
    out = []
    for block in x.split(_CHUNK):
        exponent = torch.addmm(bias, block, weights).unflatten(1, (2, -1))  # (b, 2, m)
        sq_norm = (block**2).sum(1, keepdim=True) / (2 * noise**2)
        out.append(torch.logsumexp(exponent, dim=2) - sq_norm + const)
    return torch.cat(out)


def two_moons_log_prob(x: Any, noise: float = 0.1) -> Tensor:
    """Exact log-density of :func:`two_moons` in nats, float64 ``(n,)``.

    The moons carry weight 1/2 each and their angle is uniform on ``[0, pi]`` (the limit of
    ``make_moons``' evenly spaced angles). The angle integral is computed numerically; for
    ``noise >= 0.05`` and points within 10 units of the moons the error is below 1e-6 nats.

    Args:
        x: points ``(n, 2)``, finite.
        noise: the sampler's noise standard deviation (> 0).
    """
    noise = check_positive_float(noise, "noise")
    return torch.logsumexp(_moon_log_kernels(_points(x), noise), dim=1) - math.log(2)


def two_moons_conditional_log_prob(x: Any, y: Any, noise: float = 0.1) -> Tensor:
    """Exact ``log p(x | moon y)`` of :func:`two_moons` in nats, float64 ``(n,)``: the noise
    kernel integrated along moon ``y`` alone (accuracy as in :func:`two_moons_log_prob`).

    Args:
        x: points ``(n, 2)``, finite.
        y: moon labels ``(n,)`` in ``{0, 1}`` (0: upper moon).
        noise: the sampler's noise standard deviation (> 0).
    """
    noise = check_positive_float(noise, "noise")
    x = _points(x)
    y = check_labels(y, "y", num_classes=2, rows=x.shape[0]).to(x.device)
    return _moon_log_kernels(x, noise).gather(1, y[:, None])[:, 0]


def two_moons_posterior(x: Any, noise: float = 0.1) -> Tensor:
    """True class posterior ``p(moon | x)`` of :func:`two_moons`, float64 ``(n, 2)``."""
    noise = check_positive_float(noise, "noise")
    return torch.softmax(_moon_log_kernels(_points(x), noise), dim=1)


# --------------------------------------------------------------------------- hexagon mixture


def hexagon_centers(radius: float = 1.0) -> Tensor:
    """Corners of a regular hexagon, float64 ``(6, 2)``: corner ``k`` at angle ``k * 60`` deg."""
    radius = check_positive_float(radius, "radius")
    angles = torch.arange(_CORNERS, dtype=torch.float64) * (2 * math.pi / _CORNERS)
    return radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def check_two_label_group(two_label_group: Any) -> tuple[int, ...]:
    """``two_label_group`` as a tuple of 1 to 5 distinct corner indices in 0..5, else raise."""
    if isinstance(two_label_group, (str, bytes)) or not isinstance(two_label_group, Sequence):
        raise TypeError(
            "two_label_group must be a sequence of corner indices, "
            f"got {type(two_label_group).__name__}"
        )
    group = [
        check_nonnegative_int(k, f"two_label_group[{i}]") for i, k in enumerate(two_label_group)
    ]
    if not group or len(set(group)) != len(group) or len(group) >= _CORNERS:
        raise ValueError(
            "two_label_group must hold 1 to 5 distinct corner indices, "
            f"got {tuple(two_label_group)!r}"
        )
    if max(group) >= _CORNERS:
        raise ValueError(f"two_label_group entries must be in 0..5, got {tuple(group)!r}")
    return tuple(group)


def _label_map(labels: Any, two_label_group: Any) -> Tensor:
    """Label of each corner, int64 ``(6,)``."""
    check_choice(labels, "labels", ("component", "two"))
    if labels == "component":
        return torch.arange(_CORNERS)
    mapping = torch.ones(_CORNERS, dtype=torch.int64)
    mapping[list(check_two_label_group(two_label_group))] = 0
    return mapping


def hexagon_gmm(
    n: int,
    radius: float = 1.0,
    std: float | None = None,
    seed: int | None = None,
    labels: HexagonLabels = "component",
    two_label_group: Sequence[int] = TWO_LABEL_GROUP,
) -> tuple[Tensor, Tensor]:
    """Sample an equal-weight mixture of six isotropic Gaussians on the corners of a hexagon.

    Args:
        n: number of points; each picks its corner independently with probability 1/6.
        radius: distance of the corners from the origin (see :func:`hexagon_centers`).
        std: standard deviation of each component; ``None`` means ``radius / 10``.
        seed: seed of the :class:`numpy.random.Generator` (``None``: drawn from torch's).
        labels: ``"component"`` gives the corner index 0..5; ``"two"`` gives label 0 to the
            corners in ``two_label_group`` and label 1 to the others.
        two_label_group: corners with label 0 when ``labels="two"``; the default ``(0, 3)`` is
            the pair of opposite corners on the x-axis, so label 0 has two peaks and label 1 four.

    Returns:
        ``x`` float32 ``(n, 2)`` and ``y`` int64 ``(n,)``.
    """
    n = check_positive_int(n, "n")
    centers = hexagon_centers(radius)
    std = _std(float(radius), std)
    mapping = _label_map(labels, two_label_group)
    rng = np.random.default_rng(_check_seed(seed))
    component = rng.integers(_CORNERS, size=n)
    x = centers.numpy()[component] + std * rng.standard_normal((n, 2))
    return torch.from_numpy(x).float(), mapping[torch.from_numpy(component)]


def _component_log_probs(x: Any, radius: float, std: float | None) -> Tensor:
    """``log(1/6) + log N(x; c_k, std^2 I)`` for every corner ``k``, shape ``(n, 6)``."""
    centers = hexagon_centers(radius)
    std = _std(float(radius), std)
    x = _points(x)
    sq = (x[:, None, :] - centers.to(x.device)).pow(2).sum(2)
    return -sq / (2 * std**2) - math.log(2 * math.pi * std**2) - math.log(_CORNERS)


def hexagon_gmm_log_prob(x: Any, radius: float = 1.0, std: float | None = None) -> Tensor:
    """Exact log-density of :func:`hexagon_gmm` in nats, float64 ``(n,)``."""
    return torch.logsumexp(_component_log_probs(x, radius, std), dim=1)


def hexagon_gmm_conditional_log_prob(
    x: Any,
    y: Any,
    radius: float = 1.0,
    std: float | None = None,
    labels: HexagonLabels = "component",
    two_label_group: Sequence[int] = TWO_LABEL_GROUP,
) -> Tensor:
    """Exact ``log p(x | y)`` of :func:`hexagon_gmm` in nats, float64 ``(n,)``.

    ``labels="component"``: the Gaussian ``N(c_y, std^2 I)`` of corner ``y``; ``"two"``: the
    equal-weight mixture of the corners with label ``y``. Other arguments as in
    :func:`hexagon_gmm`; ``y`` holds labels ``(n,)`` in ``0..K-1``.
    """
    mapping = _label_map(labels, two_label_group)
    log_joint = _component_log_probs(x, radius, std)  # log(1/6) + log N(x; c_k, std^2 I)
    rows, device = log_joint.shape[0], log_joint.device
    y = check_labels(y, "y", num_classes=int(mapping.max()) + 1, rows=rows).to(device)
    members = mapping.to(device)[None, :] == y[:, None]  # (n, 6): corners carrying label y
    corners = members.sum(1).to(log_joint)
    in_label = torch.logsumexp(log_joint.masked_fill(~members, -math.inf), dim=1)
    return in_label + math.log(_CORNERS) - corners.log()


def hexagon_gmm_posterior(
    x: Any,
    radius: float = 1.0,
    std: float | None = None,
    labels: HexagonLabels = "component",
    two_label_group: Sequence[int] = TWO_LABEL_GROUP,
) -> Tensor:
    """True class posterior ``p(y | x)`` of :func:`hexagon_gmm`, float64 ``(n, K)``.

    ``K`` is 6 for ``labels="component"`` and 2 for ``labels="two"``; the arguments mean the same
    as in :func:`hexagon_gmm`.
    """
    mapping = _label_map(labels, two_label_group)
    posterior = torch.softmax(_component_log_probs(x, radius, std), dim=1)
    return posterior @ torch.nn.functional.one_hot(mapping).to(posterior)  # sum within labels

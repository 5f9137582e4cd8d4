"""Toy data: samplers, exact densities and posteriors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.integrate import quad

from innlab.data import (
    TWO_LABEL_GROUP,
    hexagon_centers,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    toy_dataset,
    two_moons,
    two_moons_iid,
    two_moons_log_prob,
    two_moons_posterior,
)
from innlab.data.toy import hexagon_gmm_conditional_log_prob, two_moons_conditional_log_prob


def _grid_integral(log_prob, low: tuple[float, float], high: tuple[float, float], h: float):
    """Midpoint rule over a box: spectrally accurate for smooth densities vanishing at its edge."""
    xs = torch.arange(low[0] + h / 2, high[0], h, dtype=torch.float64)
    ys = torch.arange(low[1] + h / 2, high[1], h, dtype=torch.float64)
    grid = torch.cartesian_prod(xs, ys)
    return float(log_prob(grid).exp().sum()) * h * h


# ------------------------------------------------------------------ samplers


def test_two_moons_shapes_labels_and_seed():
    x, y = two_moons(101, seed=3)
    assert x.shape == (101, 2) and x.dtype == torch.float32
    assert y.shape == (101,) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [50, 51]  # make_moons: n // 2 on the upper moon
    assert torch.equal(two_moons(101, seed=3)[0], x)
    assert not torch.equal(two_moons(101, seed=4)[0], x)


def test_two_moons_iid_shapes_labels_and_seed():
    x, y = two_moons_iid(1001, seed=3)
    assert x.shape == (1001, 2) and x.dtype == torch.float32
    assert y.shape == (1001,) and y.dtype == torch.int64 and set(y.tolist()) == {0, 1}
    assert torch.equal(two_moons_iid(1001, seed=3)[0], x)
    assert not torch.equal(two_moons_iid(1001, seed=4)[0], x)
    clean, moon = two_moons_iid(200, noise=0.0, seed=0)
    lower = clean[moon == 1].double() - torch.tensor([1.0, 0.5], dtype=torch.float64)
    assert torch.allclose(clean[moon == 0].double().norm(dim=1), torch.ones(1).double())
    assert torch.allclose(lower.norm(dim=1), torch.ones(1).double())


def test_two_moons_without_noise_lies_on_the_curves():
    x, y = two_moons(200, noise=0.0, seed=0)
    x = x.double()
    upper = x[y == 0]
    lower = x[y == 1] - torch.tensor([1.0, 0.5], dtype=torch.float64)
    assert torch.allclose(upper.norm(dim=1), torch.ones(len(upper), dtype=torch.float64), atol=1e-6)
    assert torch.allclose(lower.norm(dim=1), torch.ones(len(lower), dtype=torch.float64), atol=1e-6)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 1e-6).all()


def test_hexagon_centers():
    centers = hexagon_centers(2.0)
    assert centers.shape == (6, 2) and centers.dtype == torch.float64
    assert torch.allclose(centers.norm(dim=1), torch.full((6,), 2.0, dtype=torch.float64))
    angles = torch.atan2(centers[:, 1], centers[:, 0]).remainder(2 * math.pi)
    assert torch.allclose(angles, torch.arange(6, dtype=torch.float64) * math.pi / 3)


@pytest.mark.parametrize(("radius", "std", "expected_std"), [(1.0, None, 0.1), (2.5, 0.3, 0.3)])
def test_hexagon_gmm_matches_its_parameters(radius, std, expected_std):
    n = 60_000
    x, y = hexagon_gmm(n, radius=radius, std=std, seed=0)
    assert x.shape == (n, 2) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=6).double()
    assert (counts - n / 6).abs().max() < 5 * math.sqrt(n / 6)  # 5 sigma of a binomial count
    centers = hexagon_centers(radius)
    for k in range(6):
        points = x[y == k].double()
        assert torch.allclose(points.mean(0), centers[k], atol=5 * expected_std / 60)
        assert torch.allclose(points.std(0), torch.full((2,), expected_std).double(), rtol=0.03)


def test_hexagon_gmm_two_labels():
    x_comp, component = hexagon_gmm(3000, seed=1)
    x_two, label = hexagon_gmm(3000, seed=1, labels="two")
    assert torch.equal(x_comp, x_two)
    assert TWO_LABEL_GROUP == (0, 3)
    assert torch.equal(label, (~torch.isin(component, torch.tensor([0, 3]))).long())
    _, label = hexagon_gmm(3000, seed=1, labels="two", two_label_group=[1, 2])
    assert torch.equal(label, (~torch.isin(component, torch.tensor([1, 2]))).long())


# ------------------------------------------------------------------ densities


@pytest.mark.parametrize(("radius", "std"), [(1.0, None), (2.5, 0.4)])
def test_hexagon_density_integrates_to_one(radius, std):
    s = radius / 10 if std is None else std
    edge = radius + 8 * s
    total = _grid_integral(
        lambda g: hexagon_gmm_log_prob(g, radius, std), (-edge, -edge), (edge, edge), s / 4
    )
    assert total == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("noise", [0.1, 0.25])
def test_two_moons_density_integrates_to_one(noise):
    pad = 8 * noise
    total = _grid_integral(
        lambda g: two_moons_log_prob(g, noise),
        (-1 - pad, -0.5 - pad),
        (2 + pad, 1 + pad),
        noise / 3,
    )
    assert total == pytest.approx(1.0, abs=1e-3)


def test_hexagon_density_is_the_mixture_formula():
    x = torch.tensor([[1.0, 0.0], [0.3, -0.2]], dtype=torch.float64)
    centers, s = hexagon_centers(1.0), 0.1
    gauss = torch.exp(-((x[:, None] - centers) ** 2).sum(2) / (2 * s**2)) / (2 * math.pi * s**2)
    assert torch.allclose(hexagon_gmm_log_prob(x).exp(), gauss.mean(1), rtol=1e-12)


# ------------------------------------------------------------------ conditional densities


@pytest.mark.parametrize(
    ("labels", "group", "radius", "std"),
    [
        ("component", TWO_LABEL_GROUP, 1.0, None),
        ("two", (0, 3), 1.0, None),
        ("two", (1, 2, 4), 2.0, 0.3),
    ],
)
def test_hexagon_conditional_density_integrates_to_one_per_label(labels, group, radius, std):
    s = radius / 10 if std is None else std
    edge = radius + 8 * s
    for label in range(6 if labels == "component" else 2):
        total = _grid_integral(
            lambda g, j=label: hexagon_gmm_conditional_log_prob(
                g, torch.full((len(g),), j), radius, std, labels, group
            ),
            (-edge, -edge),
            (edge, edge),
            s / 4,
        )
        assert total == pytest.approx(1.0, abs=1e-3), label


def test_hexagon_conditional_density_is_its_corners_gaussians():
    x = torch.tensor([[1.0, 0.0], [0.3, -0.2], [-0.9, 0.1]], dtype=torch.float64)
    centers, s = hexagon_centers(1.0), 0.1
    gauss = torch.exp(-((x[:, None] - centers) ** 2).sum(2) / (2 * s**2)) / (2 * math.pi * s**2)
    corners = torch.tensor([5, 0, 3])
    component = hexagon_gmm_conditional_log_prob(x, corners)
    torch.testing.assert_close(component.exp(), gauss[torch.arange(3), corners], rtol=1e-12, atol=0)
    two = hexagon_gmm_conditional_log_prob(x, torch.tensor([0, 1, 0]), labels="two")
    expected = torch.stack(
        [gauss[0, [0, 3]].mean(), gauss[1, [1, 2, 4, 5]].mean(), gauss[2, [0, 3]].mean()]
    )
    torch.testing.assert_close(two.exp(), expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("noise", [0.1, 0.25])
def test_two_moons_conditional_density_integrates_to_one_per_moon(noise):
    pad = 8 * noise
    for moon in (0, 1):
        total = _grid_integral(
            lambda g, m=moon: two_moons_conditional_log_prob(g, torch.full((len(g),), m), noise),
            (-1 - pad, -0.5 - pad),
            (2 + pad, 1 + pad),
            noise / 3,
        )
        assert total == pytest.approx(1.0, abs=1e-3), moon


@pytest.mark.parametrize(
    ("name", "options"),
    [("moons", {"noise": 0.2}), ("hexagon", {}), ("hexagon", {"labels": "two", "std": 0.2})],
)
def test_conditional_densities_mix_to_the_marginal_and_match_bayes(name, options):
    data = toy_dataset(name, **options)
    x, y = data.sample(400, seed=5)

    def conditional(labels: torch.Tensor) -> torch.Tensor:
        if name == "moons":
            return two_moons_conditional_log_prob(x, labels, data.noise)
        return hexagon_gmm_conditional_log_prob(
            x, labels, data.radius, data.std, data.labels, data.two_label_group
        )

    joint = torch.stack([conditional(torch.full((400,), j)) for j in range(data.num_classes)], 1)
    mixed = torch.logsumexp(joint + data.class_prior().log(), 1)
    torch.testing.assert_close(mixed, data.log_prob(x), rtol=0, atol=1e-12)
    torch.testing.assert_close(conditional(y), data.conditional_log_prob(x, y), rtol=0, atol=1e-12)


def test_conditional_densities_check_their_labels():
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"y must be < 2 \(num_classes\), got maximum 2"):
        two_moons_conditional_log_prob(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"y must be < 6 \(num_classes\), got maximum 6"):
        hexagon_gmm_conditional_log_prob(x, torch.tensor([0, 6, 2]))
    with pytest.raises(ValueError, match=r"y must be < 2 \(num_classes\)"):
        hexagon_gmm_conditional_log_prob(x, torch.tensor([0, 2, 1]), labels="two")
    with pytest.raises(ValueError, match="y must have 3 entries, got 2"):
        hexagon_gmm_conditional_log_prob(x, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="y must hold integer labels"):
        two_moons_conditional_log_prob(x, torch.zeros(3))


def _moons_reference(point: np.ndarray, noise: float) -> float:
    """log p(x) by adaptive quadrature over the angle (scipy.integrate.quad)."""

    def kernel(t: float, moon: int) -> float:
        c = (np.cos(t), np.sin(t)) if moon == 0 else (1 - np.cos(t), 0.5 - np.sin(t))
        sq = (point[0] - c[0]) ** 2 + (point[1] - c[1]) ** 2
        return np.exp(-sq / (2 * noise**2)) / (2 * np.pi * noise**2)

    total = sum(
        quad(kernel, 0, np.pi, args=(m,), epsabs=0, epsrel=1e-12, limit=500)[0] for m in (0, 1)
    )
    return math.log(total / (2 * np.pi))


@pytest.mark.parametrize("noise", [0.05, 0.1, 0.3])
def test_two_moons_density_matches_adaptive_quadrature(noise):
    points = np.array([[0, 1], [1, -0.5], [0.5, 0.25], [-1.1, 0.05], [2.1, 0.4], [0, 0.6]])
    ours = two_moons_log_prob(points.astype(float), noise).numpy()
    reference = [_moons_reference(p, noise) for p in points]
    np.testing.assert_allclose(ours, reference, atol=1e-7)


def test_two_moons_density_agrees_with_a_kde():
    noise, bandwidth, n = 0.1, 0.08, 50_000
    sample = two_moons(n, noise=noise, seed=0)[0].double()
    # a Gaussian KDE estimates the density convolved with its kernel: moons with wider noise
    blurred = math.sqrt(noise**2 + bandwidth**2)
    t = torch.linspace(0.2, math.pi - 0.2, 6, dtype=torch.float64)
    points = torch.cat(
        [torch.stack([t.cos(), t.sin()], 1), torch.stack([1 - t.cos(), 0.5 - t.sin()], 1)]
    )
    sq = torch.cdist(points, sample) ** 2
    kde = torch.exp(-sq / (2 * bandwidth**2)).mean(1) / (2 * math.pi * bandwidth**2)
    truth = two_moons_log_prob(points, blurred).exp()
    assert torch.allclose(kde, truth, rtol=0.05)


def test_density_inputs_and_dtypes():
    x32 = torch.tensor([[0.0, 1.0], [1.0, -0.5]])
    for fn in (two_moons_log_prob, hexagon_gmm_log_prob):
        out = fn(x32)
        assert out.shape == (2,) and out.dtype == torch.float64
        assert torch.allclose(fn(x32.numpy()), out)
    assert two_moons_posterior(x32).shape == (2, 2)
    assert hexagon_gmm_posterior(x32).shape == (2, 6)
    assert hexagon_gmm_posterior(x32, labels="two").shape == (2, 2)


# ------------------------------------------------------------------ posteriors


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (5, 2), elements=st.floats(-30, 30)))
def test_posteriors_are_distributions(points):
    for post in (
        two_moons_posterior(points),
        hexagon_gmm_posterior(points),
        hexagon_gmm_posterior(points, labels="two", two_label_group=(1, 2, 4)),
    ):
        assert torch.isfinite(post).all() and (post >= 0).all()
        assert torch.allclose(post.sum(1), torch.ones(5, dtype=torch.float64))
    assert torch.isfinite(two_moons_log_prob(points)).all()
    assert torch.isfinite(hexagon_gmm_log_prob(points)).all()


def test_posteriors_at_known_points():
    tops = torch.tensor([[0.0, 1.0], [1.0, -0.5]], dtype=torch.float64)  # apex of each moon
    assert torch.allclose(two_moons_posterior(tops), torch.eye(2, dtype=torch.float64), atol=1e-6)
    centers = hexagon_centers(1.0)
    assert torch.allclose(hexagon_gmm_posterior(centers), torch.eye(6, dtype=torch.float64))
    two = hexagon_gmm_posterior(centers, labels="two")
    assert torch.allclose(two[:, 0], torch.tensor([1.0, 0, 0, 1, 0, 0], dtype=torch.float64))
    x = torch.randn(50, 2, dtype=torch.float64)
    comp = hexagon_gmm_posterior(x)
    assert torch.allclose(hexagon_gmm_posterior(x, labels="two")[:, 0], comp[:, [0, 3]].sum(1))


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("sampler", [two_moons, two_moons_iid, hexagon_gmm])
@pytest.mark.parametrize(("n", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError)])
def test_bad_n(sampler, n, error):
    with pytest.raises(error, match="n must be an int"):
        sampler(n)


def test_bad_arguments():
    with pytest.raises(ValueError, match="labels must be one of"):
        hexagon_gmm(10, labels="three")
    with pytest.raises(TypeError, match="n must be"):
        two_moons("10")
    with pytest.raises(ValueError, match="seed"):
        two_moons(10, seed=-1)
    with pytest.raises(ValueError, match="seed"):
        two_moons_iid(10, seed=-1)
    with pytest.raises(ValueError, match="noise"):
        two_moons_iid(10, noise=-0.1)
    with pytest.raises(ValueError, match="std"):
        hexagon_gmm(10, std=0.0)
    with pytest.raises(ValueError, match="radius"):
        hexagon_gmm(10, radius=-1.0)
    with pytest.raises(ValueError, match="noise"):
        two_moons_log_prob(torch.zeros(1, 2), noise=0.0)
    for group in [(), (0, 0), (0, 1, 2, 3, 4, 5), (6,)]:
        with pytest.raises(ValueError, match="two_label_group"):
            hexagon_gmm(10, labels="two", two_label_group=group)
    for group in ["03", 3, (0.0,)]:
        with pytest.raises(TypeError, match="two_label_group"):
            hexagon_gmm(10, labels="two", two_label_group=group)


@pytest.mark.parametrize("fn", [two_moons_log_prob, hexagon_gmm_log_prob, two_moons_posterior])
def test_bad_points(fn):
    with pytest.raises(ValueError, match="2 column"):
        fn(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="finite"):
        fn(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="floating"):
        fn(np.zeros((4, 2), dtype=np.int64))

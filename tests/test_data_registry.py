"""The toy data registry: lookup, option checks, and the same numbers as the functions it wraps."""

from __future__ import annotations

import math

import pytest
import torch

from innlab.data import (
    TOY_DATASETS,
    HexagonMixture,
    ToyDistribution,
    TwoMoons,
    hexagon_gmm,
    hexagon_gmm_log_prob,
    hexagon_gmm_posterior,
    toy_dataset,
    two_moons,
    two_moons_iid,
    two_moons_log_prob,
    two_moons_posterior,
)
from innlab.sweeps.datasets import ToyDataset

DATASETS = [
    toy_dataset("moons"),
    toy_dataset("moons", noise=0.2),
    toy_dataset("hexagon"),
    toy_dataset("hexagon", radius=2.0, std=0.3, labels="two", two_label_group=[1, 2, 4]),
]
IDS = ["moons", "moons-0.2", "hexagon", "hexagon-two"]


def _grid(data: ToyDistribution, h: float = 0.02) -> tuple[torch.Tensor, float]:
    """Midpoints of a grid over the plot limits widened by 1 unit, and the cell area."""
    (x0, x1), (y0, y1) = data.limits
    xs = torch.arange(x0 - 1 + h / 2, x1 + 1, h, dtype=torch.float64)
    ys = torch.arange(y0 - 1 + h / 2, y1 + 1, h, dtype=torch.float64)
    return torch.cartesian_prod(xs, ys), h * h


def test_registry_names_and_defaults() -> None:
    assert set(TOY_DATASETS) == {"moons", "hexagon"}
    assert toy_dataset("moons") == TwoMoons(noise=0.1)
    hexagon = toy_dataset("hexagon")
    assert hexagon == HexagonMixture(1.0, None, "component", (0, 3))
    assert (hexagon.num_classes, hexagon.component_std, hexagon.labels) == (6, 0.1, "component")
    assert (TwoMoons().num_classes, TwoMoons().labels, TwoMoons().name) == (2, "moon", "moons")


def test_unknown_name_and_option() -> None:
    with pytest.raises(ValueError, match="name must be one of 'moons', 'hexagon', got 'spiral'"):
        toy_dataset("spiral")
    with pytest.raises(ValueError, match="unknown option 'radius' for toy data set 'moons'"):
        toy_dataset("moons", radius=1.0)
    message = "expected one of: radius, std, labels, two_label_group"
    with pytest.raises(ValueError, match=message):
        toy_dataset("hexagon", noise=0.1)


@pytest.mark.parametrize(
    ("name", "options", "error", "match"),
    [
        ("moons", {"noise": 0.0}, ValueError, "noise must be a finite number > 0"),
        ("moons", {"noise": "0.1"}, TypeError, "noise"),
        ("hexagon", {"radius": -1.0}, ValueError, "radius must be"),
        ("hexagon", {"std": float("nan")}, ValueError, "std must be"),
        ("hexagon", {"labels": "three"}, ValueError, "labels must be one of"),
        ("hexagon", {"two_label_group": (0, 0)}, ValueError, "two_label_group"),
        ("hexagon", {"two_label_group": (6,)}, ValueError, "two_label_group"),
        ("hexagon", {"two_label_group": "03"}, TypeError, "two_label_group"),
    ],
)
def test_bad_options(name: str, options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        toy_dataset(name, **options)


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_same_numbers_as_the_functions(data: ToyDistribution) -> None:
    x = torch.randn(200, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    if isinstance(data, TwoMoons):
        sample, log_prob = two_moons(50, data.noise, seed=3), two_moons_log_prob(x, data.noise)
        posterior = two_moons_posterior(x, data.noise)
    else:
        args = (data.radius, data.std)
        sample = hexagon_gmm(50, *args, 3, data.labels, data.two_label_group)
        log_prob = hexagon_gmm_log_prob(x, *args)
        posterior = hexagon_gmm_posterior(x, *args, data.labels, data.two_label_group)
    for ours, theirs in zip(data.sample(50, seed=3), sample, strict=True):
        assert torch.equal(ours, theirs)
    assert torch.equal(data.log_prob(x), log_prob)
    assert torch.equal(data.posterior(x), posterior)
    assert posterior.shape == (200, data.num_classes)


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_densities_integrate_to_one(data: ToyDistribution) -> None:
    grid, area = _grid(data)
    assert float(data.log_prob(grid).exp().sum()) * area == pytest.approx(1.0, abs=2e-3)
    prior = data.class_prior()
    assert prior.shape == (data.num_classes,) and float(prior.sum()) == pytest.approx(1.0)
    for label in range(data.num_classes):
        y = torch.full((grid.shape[0],), label)
        mass = float(data.conditional_log_prob(grid, y).exp().sum()) * area
        assert mass == pytest.approx(1.0, abs=5e-3), label


@pytest.mark.parametrize("data", DATASETS, ids=IDS)
def test_samples_lie_within_the_plot_limits_and_match_the_prior(data: ToyDistribution) -> None:
    x, y = data.sample(20_000, seed=0)
    (x0, x1), (y0, y1) = data.limits
    inside = (x[:, 0] > x0) & (x[:, 0] < x1) & (x[:, 1] > y0) & (x[:, 1] < y1)
    assert float(inside.double().mean()) > 0.99
    shares = torch.bincount(y, minlength=data.num_classes).double() / y.shape[0]
    assert torch.allclose(shares, data.class_prior(), atol=0.02)
    iid = data.sample_iid(20_000, seed=1)
    assert iid.shape == (20_000, 2) and iid.dtype == torch.float32
    nll = float(-data.log_prob(x).mean())
    assert float(-data.log_prob(iid).mean()) == pytest.approx(nll, abs=0.05)


def test_iid_moons_are_independent_draws_of_the_density() -> None:
    x, y = two_moons_iid(50_000, noise=0.1, seed=0)
    assert torch.equal(TwoMoons().sample_iid(50_000, seed=0), x)
    assert abs(float(y.double().mean()) - 0.5) < 0.01  # a fair choice of moon
    # the labels are the moons: the true posterior agrees with nearly every one
    agreement = (two_moons_posterior(x).argmax(1) == y).double().mean()
    assert float(agreement) > 0.97
    shifted = float(-two_moons_log_prob(x + 0.3).mean())
    assert shifted > float(-two_moons_log_prob(x).mean()) + 0.5


def test_conditional_log_prob_checks_labels() -> None:
    data = toy_dataset("hexagon", labels="two")
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="y must be < 2"):
        data.conditional_log_prob(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="y must have 3 entries"):
        data.conditional_log_prob(x, torch.tensor([0, 1]))


def test_two_label_prior_is_the_group_share() -> None:
    data = toy_dataset("hexagon", labels="two", two_label_group=[1, 2, 4])
    assert data.class_prior().tolist() == pytest.approx([0.5, 0.5])
    assert toy_dataset("hexagon", labels="two").class_prior().tolist() == pytest.approx(
        [1 / 3, 2 / 3]
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"name": "moons", "noise": 0.1, "test_size": 100, "seed": 0},
        {
            "name": "hexagon",
            "radius": 1.0,
            "std": 0.1,
            "labels": "two",
            "two_label_group": [0, 3],
            "test_size": 100,
            "seed": 0,
        },
    ],
)
def test_sweep_dataset_wraps_the_registry(settings: dict) -> None:
    dataset = ToyDataset(settings)
    options = {k: v for k, v in settings.items() if k not in ("name", "test_size", "seed")}
    data = toy_dataset(settings["name"], **options)
    assert dataset.data == data and dataset.name == settings["name"]
    assert dataset.num_classes == data.num_classes
    x, y = dataset.sample(300, seed=4)
    assert torch.equal(x, data.sample(300, seed=4)[0])
    assert torch.equal(dataset.log_prob(x), data.log_prob(x))
    assert torch.equal(dataset.posterior(x), data.posterior(x))
    assert torch.equal(dataset.class_prior(), data.class_prior())
    expected = data.log_prob(x) + data.posterior(x)[torch.arange(300), y].log()
    expected = expected - data.class_prior()[y].log()
    assert torch.equal(dataset.conditional_log_prob(x, y), expected)
    scores = dataset.mode_scores(x)
    assert 0 < scores["mode_balance"] <= 1
    if settings["name"] == "hexagon":
        assert 0 <= scores["outlier_share"] < 0.05
    else:
        assert math.isclose(scores["mode_balance"], 1.0, abs_tol=0.1)

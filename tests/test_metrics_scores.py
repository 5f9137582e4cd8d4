"""Oracle accuracy, GMM mode coverage and random-forest scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from innlab.metrics import classifier_scores, fit_digit_classifier, mode_coverage, oracle_accuracy

CENTRES = torch.tensor([[-5.0, 0.0], [5.0, 0.0], [0.0, 5.0]], dtype=torch.float64)


def cluster_samples(per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.arange(len(CENTRES)).repeat_interleave(per_class)
    noise = torch.randn(len(labels), 2, generator=torch.Generator().manual_seed(seed))
    return CENTRES[labels] + 0.5 * noise.double(), labels


def posterior(x: torch.Tensor) -> torch.Tensor:
    """True posterior of three equally likely isotropic Gaussians with std 0.5."""
    return torch.softmax(-torch.cdist(x, CENTRES).square() / (2 * 0.25), dim=1)


def test_oracle_accuracy_perfect_on_separated_data():
    x, labels = cluster_samples(100)
    assert oracle_accuracy(x, labels, posterior) == 1.0
    assert oracle_accuracy(x, (labels + 1) % 3, posterior) == 0.0


def test_oracle_accuracy_accepts_conditional_sample_shape():
    x, _ = cluster_samples(50)
    per_condition = x.reshape(3, 50, 2)  # as returned by RealNVP.sample(50, conditions)
    assert oracle_accuracy(per_condition, np.array([0, 1, 2]), posterior) == 1.0
    assert oracle_accuracy(per_condition, torch.tensor([1, 1, 2]), posterior) == pytest.approx(
        2 / 3
    )


def test_oracle_accuracy_errors():
    x, labels = cluster_samples(5)
    with pytest.raises(ValueError, match="posterior_fn must return"):
        oracle_accuracy(x, labels, lambda pts: torch.ones(len(pts), 2))
    with pytest.raises(ValueError, match="requested_labels must have 15"):
        oracle_accuracy(x, labels[:3], posterior)
    with pytest.raises(TypeError, match="requested_labels must hold integer"):
        oracle_accuracy(x, labels.double(), posterior)
    with pytest.raises(TypeError, match="posterior_fn"):
        oracle_accuracy(x, labels, "posterior")


def test_mode_coverage_of_the_true_mixture():
    angles = torch.arange(6) * math.pi / 3
    centres = torch.stack([angles.cos(), angles.sin()], dim=1).double()
    which = torch.randint(0, 6, (6000,), generator=torch.Generator().manual_seed(0))
    noise = torch.randn(6000, 2, generator=torch.Generator().manual_seed(1)).double()
    result = mode_coverage(centres[which] + 0.1 * noise, centres, 0.1)
    assert result["shares"] == pytest.approx([1 / 6] * 6, abs=0.02)
    assert sum(result["shares"]) == pytest.approx(1.0)
    assert result["outlier_share"] == pytest.approx(math.exp(-4.5), abs=0.005)  # P(r > 3 std)


def test_mode_coverage_of_a_collapsed_model():
    on_centre_2 = torch.tensor([[0.0, 5.0]]).repeat(30, 1)
    far_right = torch.tensor([[50.0, 0.0]]).repeat(10, 1)  # nearest to centre 1, but far
    result = mode_coverage(torch.cat([on_centre_2, far_right]), CENTRES, 0.5)
    assert result["shares"] == pytest.approx([0.0, 0.25, 0.75])
    assert result["outlier_share"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="samples must have the same number of columns"):
        mode_coverage(torch.zeros(3, 3), CENTRES, 0.5)
    with pytest.raises(ValueError, match="std"):
        mode_coverage(on_centre_2, CENTRES, 0.0)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[:1300], order[1300:]
    clf = fit_digit_classifier(x[train], y[train], seed=0, n_estimators=100)
    return clf, x[test], y[test]


def test_random_forest_scores_real_digits(digits):
    clf, x_test, y_test = digits
    scores = classifier_scores(clf, x_test, y_test)
    assert scores["accuracy"] > 0.9
    assert 0.5 < scores["mean_confidence"] <= 1.0
    assert scores["mean_requested_prob"] <= scores["mean_confidence"]
    wrong = classifier_scores(clf, x_test, (y_test + 1) % 10)
    assert wrong["accuracy"] < 0.1 and wrong["mean_requested_prob"] < 0.2


def test_classifier_scores_errors(digits):
    clf, x_test, y_test = digits
    with pytest.raises(ValueError, match="among the classifier's classes"):
        classifier_scores(clf, x_test[:2], np.array([3, 11]))
    with pytest.raises(TypeError, match="predict_proba"):
        classifier_scores(object(), x_test, y_test)
    with pytest.raises(ValueError, match="images must have"):
        classifier_scores(clf, x_test[:, :10], y_test)
    with pytest.raises(TypeError, match="seed"):
        fit_digit_classifier(x_test, y_test, seed=0.5)

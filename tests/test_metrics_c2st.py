"""Classifier two-sample test: known answers, the permutation null, determinism, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from innlab.metrics import C2STResult, c2st

SEED = r"seed must be an int seed in \[0, 2\*\*63 - 1\] or None, got "


def gaussian(n: int, d: int, seed: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_identical_distributions_give_chance_accuracy():
    result = c2st(gaussian(400, 2, 0), gaussian(400, 2, 1))
    assert abs(result.accuracy - 0.5) < 0.06
    assert abs(result.null_mean - 0.5) < 0.03 and 0 < result.null_std < 0.05
    assert result.p_value > 0.05


def test_the_test_holds_its_level():
    results = [
        c2st(gaussian(60, 3, 2 * s), gaussian(60, 3, 2 * s + 1), classifier="knn", folds=2, null=19)
        for s in range(20)
    ]
    assert sum(r.p_value <= 0.05 for r in results) <= 4  # expected 1 of 20; P(>= 5) < 0.3%


def test_well_separated_distributions_are_told_apart():
    result = c2st(gaussian(300, 2, 0, shift=5.0), gaussian(300, 2, 1), null=10)
    assert result.accuracy > 0.98
    assert result.p_value == pytest.approx(1 / 11)
    assert abs(result.null_mean - 0.5) < 0.05 and result.null_q95 < 0.6


@pytest.mark.parametrize("classifier", ["hgb", "knn", "logistic"])
def test_a_moderate_shift_is_detected(classifier):
    x, y = gaussian(500, 2, 0), gaussian(500, 2, 1)
    x[:, 0] += 0.5  # best possible accuracy: Phi(0.25) = 0.599
    result = c2st(x, y, classifier=classifier)
    assert 0.54 < result.accuracy < 0.66
    assert result.p_value == pytest.approx(1 / 21)


def test_a_change_of_scale_is_detected_by_the_default_classifier():
    result = c2st(gaussian(500, 8, 0) * 1.5, gaussian(500, 8, 1), null=10)
    assert result.p_value == pytest.approx(1 / 11) and result.accuracy > 0.6


def test_same_seed_same_result_and_tensors_match_arrays():
    x, y = gaussian(150, 3, 0, shift=0.3), gaussian(200, 3, 1)
    first = c2st(x, y, folds=3, null=3, seed=7)
    assert c2st(x, y, folds=3, null=3, seed=7) == first
    assert c2st(torch.from_numpy(x).float(), torch.from_numpy(y), folds=3, null=3, seed=7) == c2st(
        x.astype(np.float32), y, folds=3, null=3, seed=7
    )
    assert c2st(x, y, folds=3, null=3, seed=8).null_values != first.null_values


def test_the_larger_sample_is_cut_to_the_smaller():
    result = c2st(gaussian(40, 2, 0), gaussian(90, 2, 1), classifier="logistic", null=3)
    assert result.n == 40 and result.folds == 5 and result.draws == 3
    assert result.accuracy * 80 == pytest.approx(round(result.accuracy * 80))
    fresh = c2st(gaussian(40, 2, 0), gaussian(90, 2, 1), classifier="logistic", null=3, seed=None)
    assert fresh.n == 40 and 0.0 <= fresh.accuracy <= 1.0


def test_an_estimator_is_cloned_and_seeded():
    x, y = gaussian(100, 2, 0, shift=1.0), gaussian(100, 2, 1)
    forest = RandomForestClassifier(n_estimators=5)
    first = c2st(x, y, classifier=forest, null=3, folds=3)
    assert first == c2st(x, y, classifier=forest, null=3, folds=3)
    assert first.classifier == "RandomForestClassifier" and first.accuracy > 0.6
    assert forest.random_state is None and not hasattr(forest, "estimators_")


def test_null_zero_gives_the_same_accuracy_alone():
    x, y = gaussian(200, 2, 0, shift=0.4), gaussian(200, 2, 1)
    alone = c2st(x, y, classifier="knn", null=0, seed=3)
    assert alone.accuracy == c2st(x, y, classifier="knn", null=2, seed=3).accuracy
    assert alone.draws == 0 and alone.null_values == () and alone.n == 200
    summaries = (alone.null_mean, alone.null_std, alone.null_q95, alone.p_value)
    assert all(np.isnan(v) for v in summaries)


def test_to_dict_is_json_serialisable():
    result = c2st(gaussian(30, 2, 0), gaussian(30, 2, 1), classifier="logistic", null=2, folds=2)
    record = json.loads(json.dumps(result.to_dict()))
    assert C2STResult(**{**record, "null_values": tuple(record["null_values"])}) == result


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(4, 30),
    m=st.integers(4, 30),
    d=st.integers(1, 4),
    folds=st.integers(2, 4),
    null=st.integers(2, 6),
    shift=st.floats(0.0, 3.0),
    seed=st.integers(0, 2**16),
)
def test_the_summary_follows_from_the_null_values(n, m, d, folds, null, shift, seed):
    result = c2st(
        gaussian(n, d, seed, shift),
        gaussian(m, d, seed + 1),
        classifier="knn",
        folds=folds,
        null=null,
        seed=seed,
    )
    values = np.array(result.null_values)
    assert result.n == min(n, m) and result.draws == null == values.size
    assert 0.0 <= result.accuracy <= 1.0 and ((values >= 0) & (values <= 1)).all()
    assert result.p_value == (1 + (values >= result.accuracy).sum()) / (1 + null)
    assert result.null_mean == pytest.approx(values.mean())
    assert result.null_std == pytest.approx(values.std(ddof=1))
    assert result.null_q95 == pytest.approx(np.quantile(values, 0.95))


GOOD = np.zeros((10, 2))
BAD_INPUTS = [
    ({"x": [[0.0, 1.0]] * 10}, TypeError, "x must be a torch.Tensor or numpy array, got list"),
    ({"x": np.zeros(10)}, ValueError, r"x must be 2-D with shape \(n, d\), got 1-D shape \(10,\)"),
    ({"x": np.zeros((10, 2), dtype=int)}, TypeError, "x must hold floating-point values"),
    (
        {"y": np.zeros((10, 3))},
        ValueError,
        r"y must have the same number of columns as x \(2\), got shape \(10, 3\)",
    ),
    ({"y": np.zeros((4, 2))}, ValueError, r"y must have at least folds=5 rows, got shape \(4, 2\)"),
    ({"x": np.zeros((0, 2))}, ValueError, r"x must not be empty, got shape \(0, 2\)"),
    ({"y": np.full((10, 2), np.nan)}, ValueError, r"y must be finite, got 20 NaN or infinite"),
    ({"folds": 1}, ValueError, "folds must be an int >= 2, got 1"),
    ({"folds": 2.0}, TypeError, "folds must be an int >= 2, got float 2.0"),
    ({"null": 1}, ValueError, r"null must be 0 \(accuracy only\) or >= 2 .*, got 1"),
    ({"null": -1}, ValueError, "null must be an int >= 0, got -1"),
    ({"null": "20"}, TypeError, "null must be an int >= 0, got str '20'"),
    ({"seed": -1}, ValueError, SEED + "-1"),
    ({"seed": 1.5}, TypeError, SEED + "float 1.5"),
    ({"seed": True}, TypeError, SEED + "bool True"),
    (
        {"classifier": "svm"},
        ValueError,
        "classifier must be one of 'hgb', 'knn', 'logistic', got 'svm'",
    ),
    ({"classifier": 3}, TypeError, "classifier must be one of .* or a scikit-learn classifier"),
    ({"classifier": LinearRegression()}, TypeError, "got LinearRegression"),
    ({"classifier": LogisticRegression}, TypeError, "classifier instance, got type"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD_INPUTS)
def test_bad_inputs_are_rejected(change, error, message):
    arguments = {"x": GOOD, "y": GOOD, **change}
    with pytest.raises(error, match=message):
        c2st(arguments.pop("x"), arguments.pop("y"), **arguments)

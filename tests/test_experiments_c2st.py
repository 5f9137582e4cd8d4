"""C2ST and conditional NLL gap in the experiments: toy models, digit samples and the
hyperparameter study, on the smoke budget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import Tensor

from innlab.data import toy_dataset
from innlab.data.toy import hexagon_gmm_conditional_log_prob, two_moons_conditional_log_prob
from innlab.experiments import ConditionalToyResult, ToyResult
from innlab.experiments.hparams import TABLE_HEADER, _spearman, hyperparameter_study
from innlab.experiments.images import (
    ImageSet,
    _sample_quality,
    conditional_images,
    load_images,
    unconditional_images,
)
from innlab.experiments.presets import get_preset
from innlab.experiments.recording import Results
from innlab.experiments.store import ModelStore
from innlab.experiments.toy import _conditional_nlls, conditional_toy, unconditional_toy

SMOKE = get_preset("smoke")
C2ST_KEYS = ["c2st_accuracy", "c2st_null_mean", "c2st_null_std", "c2st_null_q95", "c2st_p_value"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    return ModelStore(tmp_path_factory.mktemp("models"), progress=False)


@pytest.fixture(scope="module")
def moons(store: ModelStore) -> ToyResult:
    return unconditional_toy("moons", SMOKE, store)


def _is_share(value: float) -> bool:
    return 0.0 <= value <= 1.0


def test_plain_toy_c2st_is_a_share_and_lands_in_the_results_file(
    moons: ToyResult, tmp_path: Path
) -> None:
    assert _is_share(moons.c2st_accuracy) and _is_share(moons.c2st_null_q95)
    assert abs(moons.c2st_null_mean - 0.5) < 0.1 and moons.c2st_null_std >= 0
    draws = SMOKE.c2st_permutations
    assert 1 / (1 + draws) <= moons.c2st_p_value <= 1
    shown = Results(tmp_path / "r.json").add("moons", moons)
    written = json.loads((tmp_path / "r.json").read_text())["moons"]
    assert [k for k in written if k.startswith("c2st")] == C2ST_KEYS
    assert written["c2st_accuracy"] == shown.c2st_accuracy == round(moons.c2st_accuracy, 4)


def test_conditional_moons_scores_and_exact_conditional_nll(
    moons: ToyResult, store: ModelStore
) -> None:
    result = conditional_toy("moons", None, SMOKE, store, moons)
    assert len(result.label_c2st) == 2 and all(_is_share(a) for a in result.label_c2st)
    assert _is_share(result.merged_c2st) and _is_share(result.merged_c2st_null_q95)
    assert 1 / (1 + SMOKE.c2st_permutations) <= result.merged_c2st_p_value <= 1
    assert result.plain_c2st == moons.c2st_accuracy
    x, y = toy_dataset("moons").sample(SMOKE.toy_n_test, 1)  # the test set (TEST_SEED)
    exact = float(-two_moons_conditional_log_prob(x, y).mean())
    assert result.true_conditional_nll == pytest.approx(exact, abs=1e-12)
    assert result.conditional_nll_gap == result.conditional_nll - result.true_conditional_nll
    out = result.to_dict()
    assert isinstance(out["label_c2st"], list)
    assert {"true_conditional_nll", "conditional_nll_gap", "merged_c2st", "plain_c2st"} <= set(out)


def test_conditional_hexagon_two_labels(moons: ToyResult, store: ModelStore) -> None:
    result: ConditionalToyResult = conditional_toy("hexagon", "two", SMOKE, store, moons)
    assert len(result.label_c2st) == 2 and all(_is_share(a) for a in result.label_c2st)
    data = toy_dataset("hexagon", labels="two")
    x, y = data.sample(SMOKE.toy_n_test, 1)
    exact = float(-hexagon_gmm_conditional_log_prob(x, y, labels="two").mean())
    assert result.true_conditional_nll == pytest.approx(exact, abs=1e-12)
    assert math.isfinite(result.conditional_nll_gap)


class _TrueConditional:
    """The true conditional density of ``data`` as a model conditioned on one-hot labels,
    shifted by ``offset`` nats."""

    def __init__(self, name: str, labels: str | None, offset: float = 0.0) -> None:
        options = {} if labels is None else {"labels": labels}
        self.data, self.offset = toy_dataset(name, **options), offset

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        assert c is not None
        return self.data.conditional_log_prob(x, c.argmax(dim=1)) + self.offset


@pytest.mark.parametrize(
    ("name", "labels"), [("moons", None), ("hexagon", "component"), ("hexagon", "two")]
)
def test_conditional_nll_gap_of_the_true_density_is_zero(name: str, labels: str | None) -> None:
    truth = _TrueConditional(name, labels)
    x, y = truth.data.sample(500, 7)
    model_nll, true_nll = _conditional_nlls(truth, truth.data, x, y)
    assert model_nll - true_nll == pytest.approx(0.0, abs=1e-12)
    worse = _TrueConditional(name, labels, offset=-0.25)  # every density 0.25 nats too low
    assert _conditional_nlls(worse, truth.data, x, y)[0] - true_nll == pytest.approx(0.25)


@pytest.fixture(scope="module")
def digit_data() -> ImageSet:
    return load_images("digits", forest_trees=5)


def test_image_c2st_tells_noise_from_digits_but_not_digits_from_digits(
    digit_data: ImageSet,
) -> None:
    data = digit_data
    pool, test_size = data.images("train"), data.pixels["test"].shape[0]
    real = _sample_quality(data, pool[:1000], pool, permutations=2)
    assert real.c2st_n == test_size and 0.35 < real.c2st_accuracy < 0.65
    assert _is_share(real.c2st_null_q95) and 1 / 3 <= real.c2st_p_value <= 1
    noise = torch.rand(1000, 64, generator=torch.Generator().manual_seed(0))
    fake = _sample_quality(data, (noise * 16).floor() / 16, pool, permutations=2)
    assert fake.c2st_accuracy > 0.95 and fake.c2st_p_value == pytest.approx(1 / 3)
    # the reference compares real training and test digits, whatever was generated
    assert fake.c2st_reference == real.c2st_reference and 0.35 < real.c2st_reference < 0.65
    assert list(fake.to_dict())[-5:] == [f"c2st_{k}" for k in IMAGE_C2ST]


IMAGE_C2ST = ["accuracy", "reference", "null_q95", "p_value", "n"]


def test_digit_experiments_store_their_c2st(digit_data: ImageSet, store: ModelStore) -> None:
    plain = unconditional_images("digits", digit_data, SMOKE, store)
    generated = 10 * SMOKE.images_per_label  # fewer than the 360 test images
    assert _is_share(plain.quality.c2st_accuracy) and plain.quality.c2st_n == generated
    assert "c2st_accuracy" in plain.to_dict(), "flattened into the section"
    conditional = conditional_images("digits", digit_data, SMOKE, store)
    assert conditional.c2st_temperature == SMOKE.digits_temperature
    assert _is_share(conditional.c2st_accuracy) and _is_share(conditional.c2st_null_q95)
    assert conditional.c2st_n == generated
    assert 1 / (1 + SMOKE.image_c2st_permutations) <= conditional.c2st_p_value <= 1
    assert _is_share(conditional.c2st_reference)
    assert conditional.c2st_reference == plain.quality.c2st_reference, "the same real images"
    assert list(conditional.to_dict())[-6:] == ["c2st_temperature"] + [
        f"c2st_{k}" for k in IMAGE_C2ST
    ]


def test_spearman_skips_runs_without_both_scores() -> None:
    def run(nll: float | None, mmd: float | None, c2st: float | None = None) -> dict:
        return {"metrics": {"test_nll": nll, "mmd": mmd, "c2st_accuracy": c2st}}

    records = [run(1.0, 0.1, 0.6), run(2.0, 0.2, 0.7), run(3.0, 0.3), run(4.0, None, 0.8)]
    records.append(run(5.0, 0.5, 0.9))
    assert _spearman(records, "mmd", "test_nll") == pytest.approx(1.0)
    assert _spearman(records, "c2st_accuracy", "test_nll") == pytest.approx(1.0)
    assert _spearman([run(1.0, 0.3), run(2.0, 0.2), run(3.0, 0.1)], "mmd", "test_nll") == -1.0
    assert math.isnan(_spearman(records[:3], "c2st_accuracy", "mmd"))  # 2 runs with both
    assert math.isnan(_spearman([{"metrics": {}}], "c2st_accuracy", "mmd"))


def test_hyperparameter_study_reports_c2st_correlations(tmp_path: Path) -> None:
    result = hyperparameter_study(SMOKE, tmp_path / "sweep")
    for rho in (result.spearman_mmd_nll, result.spearman_c2st_mmd, result.spearman_c2st_nll):
        assert -1.0 <= rho <= 1.0
    assert all(len(row) == len(TABLE_HEADER) for row in result.table_rows)
    accuracies = np.array([row[TABLE_HEADER.index("C2ST mean")] for row in result.table_rows])
    assert ((accuracies >= 0) & (accuracies <= 1)).all()
    assert "c2st_accuracy_vs_lr" in result.figures
    out = result.to_dict()
    assert {"spearman_c2st_mmd", "spearman_c2st_nll"} <= set(out)

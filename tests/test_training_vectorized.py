"""Vectorised seeds train exactly the models that separate train_inn runs produce."""

from __future__ import annotations

import copy

import pytest
import torch

from innlab import RealNVP, train_inn
from innlab.data import one_hot, two_moons
from innlab.sweeps import NotVectorizableError, train_inn_vectorized

from .sweeps_helpers import one_torch_thread as one_torch_thread  # autouse fixture

SEEDS = [11, 12, 13]


@pytest.mark.parametrize(
    "options",
    [
        {"condition": False, "shared_subnet": False, "schedule": None, "bottleneck": None},
        {"condition": True, "shared_subnet": True, "schedule": "cosine", "bottleneck": None},
        {"condition": True, "shared_subnet": True, "schedule": "cosine", "bottleneck": 1},
    ],
    ids=["plain", "conditional-shared-cosine", "conditional-shared-cosine-bottleneck"],
)
def test_vectorized_equals_separate_training(options: dict) -> None:
    k = 2 if options["condition"] else 0
    samples = [two_moons(150, seed=s) for s in SEEDS]
    data = [x for x, _ in samples]
    conditions = [one_hot(y, 2) for _, y in samples] if k else None
    mixing = "permutation" if options["shared_subnet"] else "rotation"
    separate = [
        RealNVP(2, 8, 2, k, shared_subnet=options["shared_subnet"], mixing=mixing, seed=s)
        for s in SEEDS
    ]
    together = [copy.deepcopy(m) for m in separate]
    settings = {
        "epochs": 3,
        "lr": 5e-3,
        "batch_size": 64,  # 150 points: the last batch of each epoch is smaller
        "schedule": options["schedule"],
        "bottleneck": options["bottleneck"],
    }
    shuffles = [s + 100 for s in SEEDS]
    expected = [
        train_inn(
            m, x, None if conditions is None else conditions[i], seed=s, progress=False, **settings
        )
        for i, (m, x, s) in enumerate(zip(separate, data, shuffles, strict=True))
    ]
    histories = train_inn_vectorized(together, data, conditions, seeds=shuffles, **settings)
    for a, b, ha, hb in zip(separate, together, expected, histories, strict=True):
        assert not b.training
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
            torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6, msg=name)
        assert hb.steps == ha.steps and hb.lr == pytest.approx(ha.lr)
        assert hb.train_loss == pytest.approx(ha.train_loss, rel=1e-5)
    assert separate[0].state_dict()["transforms.0.w3"].abs().sum() > 0  # training moved the weights


def test_non_finite_step_raises_and_leaves_models_unchanged() -> None:
    models = [RealNVP(2, 8, 2, seed=s) for s in SEEDS]
    before = [copy.deepcopy(m.state_dict()) for m in models]
    data = [two_moons(64, seed=s)[0] for s in SEEDS]
    data[1] = data[1] * 1e20  # z^2 overflows float32: train_inn would skip these steps
    with pytest.raises(NotVectorizableError, match=r"seed\(s\) \[12\]"):
        train_inn_vectorized(models, data, seeds=SEEDS, epochs=1)
    for model, state in zip(models, before, strict=True):
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key])


def test_models_must_share_the_architecture() -> None:
    models = [RealNVP(2, 8, 2, seed=0), RealNVP(2, 16, 2, seed=1)]
    data = [torch.zeros(8, 2)] * 2
    with pytest.raises(ValueError, match="models must differ only in their seed"):
        train_inn_vectorized(models, data, seeds=[0, 1], epochs=1)
    with pytest.raises(ValueError, match=r"seeds must have one entry per model \(2\), got 1"):
        train_inn_vectorized(models[:1] * 2, data, seeds=[0], epochs=1)
    with pytest.raises(ValueError, match="data must hold training sets of one size"):
        train_inn_vectorized(
            models[:1] * 2, [torch.zeros(8, 2), torch.zeros(9, 2)], seeds=[0, 1], epochs=1
        )

"""Every invalid input to the model and to train_inn gets a clear ValueError or TypeError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from innlab import RealNVP, train_inn

FLOW = RealNVP(3, 8, 2, seed=0)
COND = RealNVP(3, 8, 2, condition_size=2, seed=0)
X = torch.randn(5, 3)
C = torch.eye(2)[torch.tensor([0, 1, 0, 1, 0])]
NAN = torch.tensor([[0.0, float("nan"), 1.0]])
INF = torch.tensor([[0.0, float("inf"), 1.0]])

# (call, exception, fragment of the message)
CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("input_size=0", lambda: RealNVP(0, 8, 2), ValueError, "input_size must be an int >= 1, got 0"),
    ("hidden float", lambda: RealNVP(2, 8.0, 2), TypeError, "hidden_size must be an int"),
    ("blocks<0", lambda: RealNVP(2, 8, -1), ValueError, "blocks must be an int >= 1, got -1"),
    ("cond<0", lambda: RealNVP(2, 8, 2, -2), ValueError, "condition_size must be an int >= 0"),
    ("seed str", lambda: RealNVP(2, 8, 2, seed="x"), TypeError, "seed must be an int"),
    ("dtype int", lambda: RealNVP(2, 8, 2, dtype=torch.int32), ValueError, "dtype must be"),
    ("1-D x", lambda: FLOW.encode(torch.randn(3)), ValueError, "x must be 2-D with shape (n, d)"),
    ("3-D x", lambda: FLOW.encode(torch.randn(2, 3, 1)), ValueError, "got 3-D shape (2, 3, 1)"),
    ("wrong d", lambda: FLOW.encode(torch.randn(4, 2)), ValueError, "x must have 3 column(s)"),
    ("empty", lambda: FLOW.encode(torch.randn(0, 3)), ValueError, "x must not be empty"),
    ("nan", lambda: FLOW.encode(NAN), ValueError, "x must be finite, got 1 NaN"),
    ("inf z", lambda: FLOW.decode(INF), ValueError, "z must be finite"),
    ("int x", lambda: FLOW.encode(torch.ones(2, 3, dtype=torch.int64)), TypeError, "floating"),
    ("complex", lambda: FLOW.log_prob(torch.ones(2, 3, dtype=torch.complex64)), TypeError, "float"),
    ("list x", lambda: FLOW.encode([[1.0, 2.0, 3.0]]), TypeError, "torch.Tensor or numpy"),
    ("int numpy", lambda: FLOW.encode(np.ones((2, 3), dtype=int)), TypeError, "dtype int64"),
    ("c given", lambda: FLOW.encode(X, C), ValueError, "c must be None for an unconditional"),
    ("c missing", lambda: COND.encode(X), ValueError, "c is required"),
    ("c width", lambda: COND.encode(X, torch.ones(5, 3)), ValueError, "c must have 2 column(s)"),
    ("c rows", lambda: COND.encode(X, C[:3]), ValueError, "c must have 5 row(s)"),
    ("c nan", lambda: COND.log_prob(X, C * float("nan")), ValueError, "c must be finite"),
    ("n=0", lambda: FLOW.sample(0), ValueError, "num_samples must be an int >= 1, got 0"),
    ("n float", lambda: FLOW.sample(2.5), TypeError, "num_samples must be an int"),
    ("temp<0", lambda: FLOW.sample(2, temperature=-1.0), ValueError, "temperature must be"),
    ("gen str", lambda: FLOW.sample(2, generator="a"), TypeError, "generator must be"),
    ("sample c", lambda: COND.sample(2), ValueError, "conditions is required"),
    ("sample c 1-D", lambda: COND.sample(2, torch.ones(2)), ValueError, "conditions must be 2-D"),
    ("epochs=0", lambda: train_inn(FLOW, X, epochs=0), ValueError, "epochs must be an int >= 1"),
    ("lr<0", lambda: train_inn(FLOW, X, epochs=1, lr=-1.0), ValueError, "lr must be a finite"),
    ("lr nan", lambda: train_inn(FLOW, X, epochs=1, lr=float("nan")), ValueError, "lr must"),
    ("batch", lambda: train_inn(FLOW, X, epochs=1, batch_size=0), ValueError, "batch_size"),
    ("schedule", lambda: train_inn(FLOW, X, epochs=1, schedule="step"), ValueError, "'cosine'"),
    ("bottleneck", lambda: train_inn(FLOW, X, epochs=1, bottleneck=4), ValueError, "<= input_size"),
    ("keep_best", lambda: train_inn(FLOW, X, epochs=1, keep_best=True), ValueError, "test_data"),
    ("resume", lambda: train_inn(FLOW, X, epochs=1, resume=True), ValueError, "checkpoint path"),
    ("data nan", lambda: train_inn(FLOW, NAN, epochs=1), ValueError, "data must be finite"),
    ("data d", lambda: train_inn(FLOW, torch.ones(4, 2), epochs=1), ValueError, "data must have"),
    ("cond missing", lambda: train_inn(COND, X, epochs=1), ValueError, "conditions is required"),
    (
        "test d",
        lambda: train_inn(FLOW, X, epochs=1, test_data=torch.ones(2, 5)),
        ValueError,
        "test_data must have 3",
    ),
    (
        "model",
        lambda: train_inn(torch.nn.Linear(2, 2), X, epochs=1),
        TypeError,
        "innlab.flows.Flow",
    ),
]


@pytest.mark.parametrize(("label", "call", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_invalid_input_raises_clear_error(
    label: str, call: Callable[[], Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


@settings(max_examples=30, deadline=None)
@given(
    dim=st.integers(1, 64),
    wrong=st.integers(1, 64),
    n=st.integers(1, 20),
    condition_size=st.integers(0, 3),
)
def test_only_documented_errors_for_wrong_widths(
    dim: int, wrong: int, n: int, condition_size: int
) -> None:
    flow = RealNVP(dim, 4, 2, condition_size=condition_size, seed=0)
    c = torch.zeros(n, condition_size) if condition_size else None
    x = torch.randn(n, wrong)
    if wrong == dim:
        assert flow.log_prob(x, c).shape == (n,)
    else:
        with pytest.raises(ValueError, match=f"x must have {dim} column"):
            flow.log_prob(x, c)


def test_finite_values_whose_sum_overflows_are_accepted() -> None:
    # the finiteness checks first look at one sum; a sum that overflows must not refuse data
    huge = torch.full((4, 3), 3e38)
    assert not torch.isfinite(huge.sum())
    z, _ = RealNVP(3, 8, 2, seed=0).encode(huge)
    assert z.shape == (4, 3)
    from innlab.flows.base import _check_finite_samples

    _check_finite_samples(huge, 1.0)  # no error
    with pytest.raises(ValueError, match="1 of 4 samples are not finite"):
        _check_finite_samples(torch.cat([huge[:3], INF]), 1.0)

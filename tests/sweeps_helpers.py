"""Tiny sweep configs and a fixture shared by the sweep tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import torch

TIMING = ("train_seconds", "eval_seconds")


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """Four trials (two learning rates x two seeds) that train in well under a second each."""
    config: dict[str, Any] = {
        "name": "tiny",
        "seeds": [0, 1],
        "data": {"name": "moons", "test_size": 128},
        "base": {
            "hidden_size": 8,
            "blocks": 2,
            "train_size": 128,
            "epochs": 2,
            "batch_size": 64,
        },
        "sweep": {"grid": {"lr": [1e-3, 3e-3]}},
    }
    config.update(overrides)
    return config


def toml_text(config: dict[str, Any]) -> str:
    """A config of :func:`tiny_config`'s shape as TOML (flat tables and a grid only)."""

    def value(v: object) -> str:
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f"{k} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for table in ("data", "base"):
        lines += [f"[{table}]", *(f"{k} = {value(v)}" for k, v in config[table].items())]
    lines += ["[sweep.grid]", *(f"{k} = {value(v)}" for k, v in config["sweep"]["grid"].items())]
    return "\n".join(lines) + "\n"


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without the fields that depend on timing or on the executor."""
    metrics = {k: v for k, v in record["metrics"].items() if k not in TIMING}
    skip = ("metrics", "executor", "finished", "trained_together")
    return {**{k: v for k, v in record.items() if k not in skip}, "metrics": metrics}


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread, and the machine may be shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

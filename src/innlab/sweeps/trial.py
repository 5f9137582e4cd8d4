"""One trial of a sweep: its resolved settings, its identity and the seeds derived from it.

A trial is identified by the SHA-256 of the canonical JSON of its resolved settings (data set,
hyperparameters, seed, what to record and the engine version), cut to 12 hex digits. Any change that
changes what a trial computes changes its id; settings that only say *how* it runs (executor,
workers, vectorisation) are not part of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ENGINE_VERSION", "Trial", "derive_seed", "digest"]

ENGINE_VERSION = 2
"""Bumped whenever a trial's results change for the same settings, so old records are redone."""

# Streams of derived seeds; the numbers are part of every trial's results, never renumber them.
MODEL_STREAM, SHUFFLE_STREAM, TRAIN_DATA_STREAM, TEST_DATA_STREAM, SAMPLE_STREAM = range(5)


def digest(settings: Mapping[str, Any]) -> str:
    """First 12 hex digits of the SHA-256 of ``settings`` as canonical JSON (sorted keys)."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def derive_seed(*keys: int) -> int:
    """A seed in ``[0, 2**32)`` derived from the non-negative ints ``keys`` (numpy SeedSequence)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


@dataclass(frozen=True)
class Trial:
    """Resolved settings of one trial.

    Attributes:
        data: the data set, e.g. ``{"name": "moons", "noise": 0.1, "test_size": 2000, "seed": 0}``.
        params: model and training hyperparameters (every key of ``[base]``, resolved).
        seed: the trial's seed; model initialisation, shuffling, training data and samples are
            drawn from seeds derived from it (see :meth:`seeds`).
        metrics: the quality metrics to record.
        keep_samples: generated points to store in the record (0: none).
    """

    data: Mapping[str, Any]
    params: Mapping[str, Any]
    seed: int
    metrics: tuple[str, ...]
    keep_samples: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; :meth:`from_dict` inverts it."""
        return {
            "engine": ENGINE_VERSION,
            "data": dict(self.data),
            "params": dict(self.params),
            "seed": self.seed,
            "metrics": list(self.metrics),
            "keep_samples": self.keep_samples,
        }

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> Trial:
        return cls(
            data=dict(settings["data"]),
            params=dict(settings["params"]),
            seed=int(settings["seed"]),
            metrics=tuple(settings["metrics"]),
            keep_samples=int(settings["keep_samples"]),
        )

    @property
    def id(self) -> str:
        """Identity of the trial: :func:`digest` of :meth:`to_dict`."""
        return digest(self.to_dict())

    @property
    def config_id(self) -> str:
        """Identity of the trial's configuration: the same for trials that differ only in seed."""
        settings = self.to_dict()
        del settings["seed"]
        return digest(settings)

    def seeds(self) -> dict[str, int]:
        """The seeds this trial draws from: model init, shuffling, training data, test data,
        generated samples. The test data depend only on the data set, so every trial of a
        sweep is scored on the same held-out points."""
        data_seed = int(self.data["seed"])
        return {
            "model": derive_seed(self.seed, MODEL_STREAM),
            "shuffle": derive_seed(self.seed, SHUFFLE_STREAM),
            "train_data": derive_seed(data_seed, TRAIN_DATA_STREAM, self.seed),
            "test_data": derive_seed(data_seed, TEST_DATA_STREAM),
            "samples": derive_seed(self.seed, SAMPLE_STREAM),
        }

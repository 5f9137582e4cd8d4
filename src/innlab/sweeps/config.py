"""Sweep configuration: a TOML file (or a dict of the same shape), validated and expanded to trials.

Schema (every key optional unless marked)::

    name = "moons-hparams"      # label and default records folder sweeps/<name>: letters,
                                # digits, ".", "_", "-", not starting with "."; default: the
                                # file's stem
    seeds = [0, 1, 2]           # seeds of every configuration, or a count N meaning 0..N-1
    metrics = ["test_nll", "nll_gap", "mmd", "data_scores"]   # default; also "c2st"
    keep_samples = 0            # generated points stored in each record, e.g. for galleries
    vectorize = true            # train configurations' seeds together as one batched model

    [data]
    name = "moons"              # "moons" or "hexagon"
    noise = 0.1                 # moons: noise standard deviation
    radius = 1.0                # hexagon: distance of the corners from the origin
    std = 0.1                   # hexagon: component standard deviation (default radius / 10)
    labels = "component"        # hexagon: "component" (6 labels) or "two"
    two_label_group = [0, 3]    # hexagon: corners (1 to 5 of 0..5) with label 0 when labels = "two"
    test_size = 2000            # held-out points for NLL and MMD
    seed = 0                    # seeds the held-out set and (with each trial seed) training sets

    [base]                      # hyperparameters of every configuration (defaults shown)
    hidden_size = 64
    blocks = 8
    train_size = 2000
    epochs = 20
    lr = 1e-3
    batch_size = 256
    condition = false           # condition on one-hot labels
    bottleneck = 0              # k of the artificial bottleneck, 0 = off
    reconstruction_weight = 1.0
    shared_subnet = false
    scale = "exp_tanh"          # couplings' scale: "exp_tanh", "exp" or "additive"
    mixing = "rotation"         # between couplings: "rotation", "permutation" or "none"
    max_grad_norm = 0.0         # gradient clipping, 0 = off (trials then train one by one)
    schedule = "constant"       # or "cosine"
    lr_min = 1e-5               # end of the cosine schedule

    [sweep]                     # configurations = union of the three, base if none is given
    grid = { lr = [3e-4, 1e-3], hidden_size = [32, 64] }      # Cartesian product
    one_at_a_time = { epochs = [10, 40], blocks = [4, 12] }   # one key varied, others at base
    points = [{ lr = 3e-3, epochs = 10 }]                     # explicit overrides of base

Metrics: ``test_nll`` (held-out NLL, nats), ``nll_gap`` (its excess over the true density's NLL),
``mmd`` (squared MMD of generated against held-out points), ``data_scores`` (share of the modes
covered; outliers for the hexagon; oracle accuracy for conditional models). The parameter count
and training/evaluation times are always recorded.

A sweep may have at most :data:`MAX_TRIALS` trials (configurations before removing duplicates,
times seeds); the count is checked before the configurations are built.
"""

from __future__ import annotations

import itertools
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from innlab._options import MIXINGS, SCALES
from innlab._validation import (
    check_choice,
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
)
from innlab.sweeps.trial import Trial

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "DATASETS",
    "EXECUTORS",
    "MAX_TRIALS",
    "METRICS",
    "PARAM_DEFAULTS",
    "SweepConfig",
    "SweepConfigError",
    "load_config",
]

METRICS = ("test_nll", "nll_gap", "mmd", "data_scores", "c2st")
DEFAULT_METRICS = METRICS[:4]
"""What a sweep scores unless told otherwise ("c2st", a classifier per trial, is asked for)."""

EXECUTORS = ("local", "ray")
"""Where trials run (:mod:`innlab.sweeps.executors`); chosen per run, not in the file."""

PARAM_DEFAULTS: dict[str, Any] = {
    "hidden_size": 64,
    "blocks": 8,
    "train_size": 2000,
    "epochs": 20,
    "lr": 1e-3,
    "batch_size": 256,
    "condition": False,
    "bottleneck": 0,
    "reconstruction_weight": 1.0,
    "shared_subnet": False,
    "scale": "exp_tanh",
    "mixing": "rotation",
    "max_grad_norm": 0.0,
    "schedule": "constant",
    "lr_min": 1e-5,
}

_COMMON_DATA = {"test_size": 2000, "seed": 0}
DATASETS: dict[str, dict[str, Any]] = {
    "moons": {"noise": 0.1, **_COMMON_DATA},
    "hexagon": {
        "radius": 1.0,
        "std": None,  # radius / 10
        "labels": "component",
        "two_label_group": [0, 3],
        **_COMMON_DATA,
    },
}
_DATA_DIM = 2  # both data sets are two-dimensional
_CORNERS = 6  # of the hexagon

MAX_TRIALS = 10_000
"""The most trials a sweep may have; larger ones are refused before they are expanded."""

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

_TOP_KEYS = ("name", "seeds", "metrics", "keep_samples", "vectorize", "data", "base", "sweep")
_SWEEP_KEYS = ("grid", "one_at_a_time", "points")


class SweepConfigError(ValueError):
    """A sweep configuration has an unknown key or a bad value; the message names the key."""


def _check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return value


def _check_bottleneck(value: Any, name: str) -> int:
    value = check_nonnegative_int(value, name)
    if value > _DATA_DIM:
        raise ValueError(f"{name} must be 0 (off) or a code size 1..{_DATA_DIM}, got {value}")
    return value


def _check_group(value: Any, name: str) -> list[int]:
    if not isinstance(value, list):
        raise TypeError(f"{name} must be a list of corner indices, got {type(value).__name__}")
    group = [check_nonnegative_int(v, f"{name}[{i}]") for i, v in enumerate(value)]
    distinct = len(set(group)) == len(group)
    if not (0 < len(group) < _CORNERS and distinct and max(group) < _CORNERS):
        raise ValueError(
            f"{name} must list 1 to {_CORNERS - 1} distinct corners out of 0..{_CORNERS - 1}, "
            f"got {value!r}"
        )
    return group


def _check_name(value: Any, from_file: bool) -> str:
    """The sweep's name, also the folder ``sweeps/<name>``: one plain path component."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        origin = " (the file's stem; set name in the file)" if from_file else ""
        raise ValueError(
            "name must be a folder name of letters, digits, '.', '_' and '-', not starting "
            f"with '.', got {value!r}{origin}"
        )
    return value


_PARAM_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "hidden_size": check_positive_int,
    "blocks": check_positive_int,
    "train_size": check_positive_int,
    "epochs": check_positive_int,
    "lr": check_positive_float,
    "batch_size": check_positive_int,
    "condition": _check_bool,
    "bottleneck": _check_bottleneck,
    "reconstruction_weight": partial(check_positive_float, allow_zero=True),
    "shared_subnet": _check_bool,
    "scale": partial(check_choice, choices=SCALES),
    "mixing": partial(check_choice, choices=MIXINGS),
    "max_grad_norm": partial(check_positive_float, allow_zero=True),
    "schedule": partial(check_choice, choices=("constant", "cosine")),
    "lr_min": partial(check_positive_float, allow_zero=True),
}

_DATA_CHECKS: dict[str, Callable[[Any, str], Any]] = {
    "noise": check_positive_float,
    "radius": check_positive_float,
    "std": check_positive_float,
    "labels": partial(check_choice, choices=("component", "two")),
    "two_label_group": _check_group,
    "test_size": check_positive_int,
    "seed": check_nonnegative_int,
}


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep.

    Attributes:
        name: label of the sweep.
        data: resolved data-set settings (see :data:`DATASETS`).
        configurations: resolved hyperparameters of every configuration, without duplicates.
        seeds: seeds run for every configuration.
        metrics: quality metrics to record.
        keep_samples: generated points stored in each record.
        vectorize: train the seeds of a configuration together (same results, faster).
    """

    name: str
    data: Mapping[str, Any]
    configurations: tuple[Mapping[str, Any], ...]
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    keep_samples: int
    vectorize: bool

    def trials(self) -> list[Trial]:
        """Every trial: each configuration with each seed, configurations first."""
        return [
            Trial(self.data, params, seed, self.metrics, self.keep_samples)
            for params in self.configurations
            for seed in self.seeds
        ]


def load_config(source: str | Path | Mapping[str, Any]) -> SweepConfig:
    """Read and validate a sweep from a TOML file or from a dict of the same shape.

    Raises:
        SweepConfigError: unknown keys or bad values; the message names the offending key.
    """
    if isinstance(source, Mapping):
        return _parse(source, "sweep config", "sweep")
    path = Path(source)
    label = f"sweep config {str(path)!r}"
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except OSError as err:
        raise SweepConfigError(f"cannot read {label}: {err.strerror or err}") from err
    except tomllib.TOMLDecodeError as err:
        raise SweepConfigError(f"{label} is not valid TOML: {err}") from err
    return _parse(raw, label, path.stem)


def _parse(raw: Mapping[str, Any], label: str, default_name: str) -> SweepConfig:
    try:
        return _parse_unchecked(raw, default_name)
    except (TypeError, ValueError) as err:
        raise SweepConfigError(f"{label}: {err}") from err


def _parse_unchecked(raw: Mapping[str, Any], default_name: str) -> SweepConfig:
    _check_keys(raw, _TOP_KEYS, "")
    name = _check_name(raw.get("name", default_name), "name" not in raw)
    vectorize = _check_bool(raw.get("vectorize", True), "vectorize")
    data = _parse_data(_table(raw, "data"))
    base = _parse_params(_table(raw, "base"), "base", PARAM_DEFAULTS)
    sweep = _table(raw, "sweep")
    _check_keys(sweep, _SWEEP_KEYS, "sweep.")
    seeds = _parse_seeds(raw.get("seeds", [0]))
    return SweepConfig(
        name=name,
        data=data,
        configurations=_expand(sweep, base, len(seeds)),
        seeds=seeds,
        metrics=_parse_metrics(raw.get("metrics", list(DEFAULT_METRICS))),
        keep_samples=_parse_keep_samples(raw.get("keep_samples", 0), data["test_size"]),
        vectorize=vectorize,
    )


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise TypeError(f"{key} must be a table, got {type(value).__name__} {value!r}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: Any, prefix: str) -> None:
    for key in table:
        if key not in allowed:
            options = ", ".join(allowed)
            raise ValueError(f"unknown key '{prefix}{key}'; expected one of: {options}")


def _parse_data(table: Mapping[str, Any]) -> dict[str, Any]:
    name = check_choice(table.get("name", "moons"), "data.name", tuple(DATASETS))
    defaults = DATASETS[name]
    options = {k: v for k, v in table.items() if k != "name"}
    for key in options:
        if key not in defaults:
            raise ValueError(
                f"unknown key 'data.{key}' for data set {name!r}; expected one of: "
                + ", ".join(["name", *defaults])
            )
    data: dict[str, Any] = {"name": name}
    for key, default in defaults.items():
        value = options.get(key, default)
        data[key] = None if value is None else _DATA_CHECKS[key](value, f"data.{key}")
    if data["test_size"] < 4:  # the MMD's bandwidths come from two halves of it
        raise ValueError(f"data.test_size must be >= 4, got {data['test_size']}")
    if name == "hexagon" and data["std"] is None:
        data["std"] = data["radius"] / 10
    return data


def _parse_params(
    table: Mapping[str, Any], prefix: str, defaults: Mapping[str, Any]
) -> dict[str, Any]:
    _check_keys(table, tuple(PARAM_DEFAULTS), f"{prefix}.")
    params = dict(defaults)
    for key, value in table.items():
        params[key] = _PARAM_CHECKS[key](value, f"{prefix}.{key}")
    return params


def _axes(table: Any, prefix: str) -> dict[str, list[Any]]:
    """``{key: [values]}`` of a sweep table, each value checked like the base key."""
    if not isinstance(table, Mapping):
        raise TypeError(f"{prefix} must be a table of lists, got {type(table).__name__}")
    _check_keys(table, tuple(PARAM_DEFAULTS), f"{prefix}.")
    axes = {}
    for key, values in table.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"{prefix}.{key} must be a non-empty list of values, got {values!r}")
        axes[key] = [_PARAM_CHECKS[key](v, f"{prefix}.{key}[{i}]") for i, v in enumerate(values)]
    return axes


def _expand(
    sweep: Mapping[str, Any], base: dict[str, Any], seeds: int
) -> tuple[dict[str, Any], ...]:
    """The configurations of ``sweep`` without duplicates; the trial count (``seeds`` per
    configuration) is checked against :data:`MAX_TRIALS` before any configuration is built."""
    grid = _axes(sweep["grid"], "sweep.grid") if "grid" in sweep else None
    one = _axes(sweep["one_at_a_time"], "sweep.one_at_a_time") if "one_at_a_time" in sweep else None
    points = _points(sweep["points"], base) if "points" in sweep else []
    count = len(points)
    if grid is not None:
        count += math.prod(len(values) for values in grid.values())
    if one is not None:
        count += 1 + sum(len(values) for values in one.values())
    _check_size(max(count, 1), seeds)
    configurations: list[dict[str, Any]] = []
    if grid is not None:
        for combination in itertools.product(*grid.values()):
            configurations.append({**base, **dict(zip(grid, combination, strict=True))})
    if one is not None:
        configurations.append(dict(base))
        for key, values in one.items():
            configurations.extend({**base, key: value} for value in values)
    configurations.extend(points)
    if not configurations:
        configurations.append(dict(base))
    unique: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
    for configuration in configurations:
        unique.setdefault(tuple(sorted(configuration.items())), configuration)
    return tuple(unique.values())


def _points(points: Any, base: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(points, list) or not points:
        raise ValueError(f"sweep.points must be a non-empty list of tables, got {points!r}")
    configurations = []
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise TypeError(f"sweep.points[{i}] must be a table, got {point!r}")
        configurations.append(_parse_params(point, f"sweep.points[{i}]", base))
    return configurations


def _check_size(configurations: int, seeds: int) -> None:
    trials = configurations * seeds
    if trials > MAX_TRIALS:
        raise ValueError(
            f"sweep expands to {trials:,} trials ({configurations:,} configurations x {seeds} "
            f"seed(s)), more than the limit of {MAX_TRIALS:,}; split it into smaller sweeps"
        )


def _parse_keep_samples(value: Any, test_size: int) -> int:
    value = check_nonnegative_int(value, "keep_samples")
    if value > test_size:
        raise ValueError(
            f"keep_samples must be <= data.test_size ({test_size}), the points generated, "
            f"got {value}"
        )
    return value


def _parse_seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        count = check_positive_int(value, "seeds")
        if count > MAX_TRIALS:
            raise ValueError(f"seeds = {count:,} is more than the limit of {MAX_TRIALS:,} trials")
        return tuple(range(count))
    if not isinstance(value, list) or not value:
        raise ValueError(f"seeds must be a count >= 1 or a non-empty list of ints, got {value!r}")
    seeds = tuple(check_nonnegative_int(s, f"seeds[{i}]") for i, s in enumerate(value))
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {list(seeds)}")
    return seeds


def _parse_metrics(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"metrics must be a list of names, got {type(value).__name__}")
    metrics = tuple(check_choice(m, f"metrics[{i}]", METRICS) for i, m in enumerate(value))
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"metrics must not repeat a name, got {list(metrics)}")
    return metrics

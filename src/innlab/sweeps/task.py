"""Running a task: the trials of one configuration that an executor hands to one worker.

A task is a plain dict ``{"trials": [Trial.to_dict(), ...], "vectorize": bool}`` whose trials
differ only in seed, so it pickles cheaply and travels to Ray unchanged. :func:`run_task` trains
them (together when ``vectorize`` holds and there are several), scores them and returns one
record per trial.

``train_seconds`` measures the training alone: the process's one-time start-up costs are paid by
a throwaway training run before the first clock starts.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from innlab.data import one_hot
from innlab.flows.realnvp import RealNVP
from innlab.sweeps.datasets import ToyDataset
from innlab.sweeps.evaluation import HeldOut, evaluate, generate
from innlab.sweeps.records import new_record
from innlab.sweeps.trial import Trial
from innlab.training import History, TrainingDivergedError, train_inn
from innlab.training.vectorized import NotVectorizableError, train_inn_vectorized

__all__ = ["make_tasks", "run_task"]

Outcome = History | TrainingDivergedError


def make_tasks(trials: Sequence[Trial], vectorize: bool) -> list[dict[str, Any]]:
    """Group ``trials`` into tasks: one per configuration when vectorising, else one per trial."""
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.config_id if vectorize else trial.id, []).append(trial)
    return [
        {"trials": [t.to_dict() for t in group], "vectorize": vectorize}
        for group in groups.values()
    ]


def run_task(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Train and score the trials of ``task``; one record per trial (see :mod:`.records`).

    A trial whose training diverges (:class:`~innlab.TrainingDivergedError`) gets a record with
    ``status = "failed"``; any other error propagates.
    """
    _warm_up()
    trials = [Trial.from_dict(t) for t in task["trials"]]
    params = trials[0].params
    dataset = ToyDataset(trials[0].data)
    conditional = bool(params["condition"])
    data_settings = json.dumps(dict(trials[0].data), sort_keys=True)
    held_out = _held_out(data_settings, trials[0].seeds()["test_data"], conditional)
    data: list[Tensor] = []
    conditions: list[Tensor | None] = []
    for trial in trials:
        x, y = dataset.sample(params["train_size"], trial.seeds()["train_data"])
        data.append(x)
        conditions.append(one_hot(y, dataset.num_classes) if conditional else None)
    settings = _train_settings(params)
    shuffle_seeds = [t.seeds()["shuffle"] for t in trials]
    num_classes = dataset.num_classes if conditional else 0
    wasted = 0.0
    clip = params["max_grad_norm"] or None  # 0: no clipping; the vectorised trainer has none
    if task["vectorize"] and len(trials) > 1 and clip is None:
        models = _models(trials, num_classes)
        started = time.perf_counter()
        try:
            histories = train_inn_vectorized(
                models,
                data,
                conditions if conditional else None,  # type: ignore[arg-type]
                seeds=shuffle_seeds,
                **settings,
            )
        except NotVectorizableError:  # train_inn skips or stops there: replay it separately
            wasted = (time.perf_counter() - started) / len(trials)
        else:
            share = (time.perf_counter() - started) / len(trials)
            outcomes: list[Outcome] = list(histories)
            return _records(
                trials, dataset, models, outcomes, [share] * len(trials), len(trials), held_out
            )
    models = _models(trials, num_classes)
    outcomes, seconds = [], []
    for model, x, c, shuffle in zip(models, data, conditions, shuffle_seeds, strict=True):
        started = time.perf_counter()
        try:
            outcomes.append(
                train_inn(model, x, c, seed=shuffle, max_grad_norm=clip, progress=False, **settings)
            )
        except TrainingDivergedError as err:
            outcomes.append(err)
        seconds.append(time.perf_counter() - started + wasted)
    return _records(trials, dataset, models, outcomes, seconds, 1, held_out)


@functools.cache
def _warm_up() -> None:
    """Train a throwaway tiny flow for one step, once per process, so that no trial's
    ``train_seconds`` includes the process's first-use costs (``train_inn``'s fused Adam imports
    ``torch._dynamo``, seconds; kernels and allocator caches are set up on the first step)."""
    x = torch.linspace(-1.0, 1.0, 16).reshape(8, 2)
    train_inn(RealNVP(2, 4, 1, seed=0), x, epochs=1, batch_size=8, seed=0, progress=False)


@functools.lru_cache(maxsize=4)
def _held_out(data_settings: str, seed: int, conditional: bool) -> HeldOut:
    """The held-out set of a data set (its settings as JSON), built once per process: every
    trial of a sweep is scored on the same points, and the metrics only read them."""
    settings = json.loads(data_settings)
    return HeldOut.build(ToyDataset(settings), settings["test_size"], seed, conditional)


def _models(trials: Sequence[Trial], num_classes: int) -> list[RealNVP]:
    """A fresh model per trial, seeded from the trial."""
    params = trials[0].params
    return [
        RealNVP(
            2,
            params["hidden_size"],
            params["blocks"],
            num_classes,
            shared_subnet=params["shared_subnet"],
            scale=params["scale"],
            mixing=params["mixing"],
            seed=trial.seeds()["model"],
        )
        for trial in trials
    ]


def _train_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """``train_inn`` keyword arguments (shuffling seed aside) from a trial's hyperparameters."""
    return {
        "epochs": params["epochs"],
        "lr": params["lr"],
        "batch_size": params["batch_size"],
        "schedule": None if params["schedule"] == "constant" else params["schedule"],
        "lr_min": params["lr_min"],
        "bottleneck": params["bottleneck"] or None,
        "reconstruction_weight": params["reconstruction_weight"],
    }


def _records(
    trials: Sequence[Trial],
    dataset: ToyDataset,
    models: Sequence[RealNVP],
    outcomes: Sequence[Outcome],
    train_seconds: Sequence[float],
    together: int,
    held_out: HeldOut,
) -> list[dict[str, Any]]:
    records = []
    for trial, model, outcome, seconds in zip(trials, models, outcomes, train_seconds, strict=True):
        started = time.perf_counter()
        if isinstance(outcome, TrainingDivergedError):
            metrics: dict[str, float | None] = {}
            record = new_record(trial, status="failed", error=str(outcome), train_loss=[])
        else:
            samples = generate(model, held_out, trial.seeds()["samples"])
            metrics = evaluate(model, dataset, held_out, trial.metrics, samples)
            losses = [v if math.isfinite(v) else None for v in outcome.train_loss]
            record = new_record(trial, status="ok", error=None, train_loss=losses)
            if trial.keep_samples:
                kept = samples[: trial.keep_samples].double().numpy().round(5)
                record["samples"] = [[_finite(a), _finite(b)] for a, b in kept.tolist()]
        if not isinstance(outcome, TrainingDivergedError):
            metrics["skipped_steps"] = outcome.skipped_steps[-1] if outcome.skipped_steps else 0
        metrics["train_seconds"] = seconds
        metrics["eval_seconds"] = time.perf_counter() - started
        record["metrics"] = metrics
        record["trained_together"] = together
        records.append(record)
    return records


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None

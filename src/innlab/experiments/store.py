"""Trained models cached in the report's output folder, keyed by everything that shapes them."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from innlab.flows.io import (
    CheckpointError,
    atomic_save,
    model_from_payload,
    model_payload,
    safe_load,
)
from innlab.flows.realnvp import RealNVP
from innlab.training import History, train_inn

if TYPE_CHECKING:
    from innlab.report._progress import TrainingEvents

__all__ = ["DamagedModelWarning", "FitJob", "ModelStore"]


class DamagedModelWarning(RuntimeWarning):
    """A cached model file cannot be used (damaged, foreign, unreadable); it is retrained.

    A ``RuntimeWarning``, not a ``UserWarning``: the report notebook silences the latter."""


@dataclass(frozen=True)
class FitJob:
    """The arguments of one :meth:`ModelStore.fit` call, so that it can run elsewhere."""

    name: str
    model_kwargs: dict[str, Any]
    data: Tensor
    conditions: Tensor | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    train_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def cost(self) -> float:
        """The training work, roughly: blocks x width² x epochs x rows, twice for separate
        subnetworks, three times with a bottleneck term (autograd through both directions);
        :meth:`ModelStore.prefetch` starts the costliest jobs first."""
        kw, train = self.model_kwargs, self.train_kwargs
        work = kw["blocks"] * kw["hidden_size"] ** 2 * train.get("epochs", 1) * self.data.shape[0]
        if not kw.get("shared_subnet", False):
            work *= 2
        return work * (3 if train.get("bottleneck") is not None else 1)

    def run(self, store: ModelStore) -> tuple[RealNVP, History]:
        """``store.fit(...)`` with these arguments."""
        return store.fit(
            self.name,
            self.model_kwargs,
            self.data,
            self.conditions,
            recipe=self.recipe,
            seed=self.seed,
            **self.train_kwargs,
        )


class ModelStore:
    """Train-or-load: a model is retrained only when its recipe changes (or with ``force``).

    Args:
        folder: where ``<name>.pt`` files go.
        force: ignore cached models and retrain.
        device: torch device for training.
        progress: show progress bars.
        progress_file: append a JSON line to this file when a model starts training, every
            half second of its training and when it is stored, also from :meth:`prefetch`'s
            workers (``innlab report`` draws them in its terminal).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        force: bool = False,
        device: str = "cpu",
        progress: bool = True,
        progress_file: str | Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.force = force
        self.device = device
        self.progress = progress
        self.progress_file = None if progress_file is None else str(progress_file)
        self._fresh: set[str] = set()  # keys trained by this store (exempt from ``force``)

    def prefetch(self, jobs: Sequence[FitJob], workers: int) -> None:
        """Train the models of ``jobs`` that are not cached yet, ``workers`` at a time in worker
        processes with one torch thread each; later :meth:`fit` calls then load them.

        Small models run fastest on one thread each, so two workers on two cores train two
        models in about the time of one. The costliest jobs start first (:attr:`FitJob.cost`),
        so that the workers finish close together.
        """
        from innlab.sweeps.executors import run_local

        todo = {_key(job): job for job in sorted(jobs, key=lambda job: -job.cost)}
        todo = {key: job for key, job in todo.items() if self._cached(job, key) is None}
        if not todo:
            return
        tasks = [(str(self.folder), job, self.progress_file) for job in todo.values()]
        run_local(tasks, min(workers, len(tasks)), lambda _: None, function=_fit_fresh)
        self._fresh.update(todo)

    def _cached(self, job: FitJob, key: str) -> tuple[RealNVP, History] | None:
        """The stored model of ``job`` if its file holds ``key`` (and ``force`` allows it); a
        damaged or foreign file warns (:class:`DamagedModelWarning`) and is retrained."""
        path = self.folder / f"{job.name}.pt"
        if not path.exists() or (self.force and key not in self._fresh):
            return None
        try:
            payload = safe_load(path)
            if payload.get("key") != key:
                return None  # trained for another recipe: retrain and overwrite it
            model = model_from_payload(payload["model"], str(path))
            if not isinstance(model, RealNVP):
                raise CheckpointError(f"{path} holds a {type(model).__name__}, not a RealNVP")
            history = History.from_dict(payload["history"])
        except (CheckpointError, KeyError, TypeError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            warnings.warn(
                f"cached model {str(path)!r} is unusable ({reason}); training it again",
                DamagedModelWarning,
                stacklevel=3,
            )
            return None
        return model.to(self.device).eval(), history

    def fit(
        self,
        name: str,
        model_kwargs: dict[str, Any],
        data: Tensor,
        conditions: Tensor | None = None,
        *,
        recipe: dict[str, Any],
        seed: int = 0,
        **train_kwargs: Any,
    ) -> tuple[RealNVP, History]:
        """Return a trained ``RealNVP(**model_kwargs, seed=seed)`` and its history.

        Args:
            name: file stem of the cached model.
            model_kwargs: constructor arguments except ``seed``.
            data, conditions: training data and conditions.
            recipe: JSON-able description of the data (dataset, sizes, seeds, preprocessing);
                together with the model and training arguments it forms the cache key.
            seed: seeds the model and the training order.
            train_kwargs: passed on to :func:`innlab.train_inn` (tensors are not part of the key,
                so describe held-out data in ``recipe``).
        """
        job = FitJob(name, model_kwargs, data, conditions, recipe, seed, train_kwargs)
        key = _key(job)
        cached = self._cached(job, key)
        if cached is not None:
            return cached
        model = RealNVP(**model_kwargs, seed=seed).to(self.device)
        events = self._events(name, train_kwargs)
        if events is not None:
            events.started()
            train_kwargs = {**train_kwargs, "callback": events}
        history = train_inn(
            model, data, conditions, seed=seed, progress=self.progress, **train_kwargs
        )
        atomic_save(
            {
                "key": key,
                "recipe": _key_source(job),
                "model": model_payload(model),
                "history": history.to_dict(),
            },
            self.folder / f"{name}.pt",
        )
        self._fresh.add(key)
        if events is not None:
            events.finished()
        return model.eval(), history

    def _events(self, name: str, train_kwargs: dict[str, Any]) -> TrainingEvents | None:
        """The progress events of training ``name`` (``None`` without a progress file)."""
        if self.progress_file is None:
            return None
        from innlab.report._progress import TrainingEvents

        return TrainingEvents(self.progress_file, name, train_kwargs.get("epochs", 0))


def _key_source(job: FitJob) -> dict[str, Any]:
    """Everything that shapes the trained model (tensors are described by the recipe)."""
    plain = {k: v for k, v in job.train_kwargs.items() if not isinstance(v, Tensor)}
    return {"model": job.model_kwargs, "train": plain, "recipe": job.recipe, "seed": job.seed}


def _key(job: FitJob) -> str:
    return hashlib.sha256(json.dumps(_key_source(job), sort_keys=True).encode()).hexdigest()[:16]


def _fit_fresh(task: tuple[str, FitJob, str | None]) -> None:
    """Worker side of :meth:`ModelStore.prefetch`: train one job and write it to the folder."""
    folder, job, progress_file = task
    job.run(ModelStore(folder, force=True, progress=False, progress_file=progress_file))

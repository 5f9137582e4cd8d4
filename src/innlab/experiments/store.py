"""Trained models cached in the report's output folder, keyed by everything that shapes them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

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

__all__ = ["ModelStore"]


class ModelStore:
    """Train-or-load: a model is retrained only when its recipe changes (or with ``force``).

    Args:
        folder: where ``<name>.pt`` files go.
        force: ignore cached models and retrain.
        device: torch device for training.
        progress: show progress bars.
    """

    def __init__(
        self, folder: str | Path, *, force: bool = False, device: str = "cpu", progress: bool = True
    ) -> None:
        self.folder = Path(folder)
        self.force = force
        self.device = device
        self.progress = progress

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
        plain = {k: v for k, v in train_kwargs.items() if not isinstance(v, Tensor)}
        key_source = {"model": model_kwargs, "train": plain, "recipe": recipe, "seed": seed}
        key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:16]
        path = self.folder / f"{name}.pt"
        if path.exists() and not self.force:
            try:
                payload = safe_load(path)
                if payload.get("key") == key:
                    model = model_from_payload(payload["model"], str(path)).to(self.device)
                    return model.eval(), History.from_dict(payload["history"])
            except CheckpointError:
                pass  # unreadable cache: retrain and overwrite it
        model = RealNVP(**model_kwargs, seed=seed).to(self.device)
        history = train_inn(
            model, data, conditions, seed=seed, progress=self.progress, **train_kwargs
        )
        atomic_save(
            {
                "key": key,
                "recipe": key_source,
                "model": model_payload(model),
                "history": history.to_dict(),
            },
            path,
        )
        return model.eval(), history

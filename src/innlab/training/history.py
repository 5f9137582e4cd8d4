"""The per-epoch record of a training run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["History"]


@dataclass
class History:
    """Per-epoch training record. Every list has one entry per finished epoch."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)  # mean NLL (+ recon. term), nats
    test_nll: list[float | None] = field(default_factory=list)  # held-out NLL, nats/sample
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)  # seconds since training started
    steps: list[int] = field(default_factory=list)  # optimizer steps taken so far
    skipped_steps: list[int] = field(default_factory=list)  # non-finite steps so far
    best_epoch: int | None = None  # epoch whose weights were restored (keep_best)

    def append_epoch(
        self,
        *,
        train_loss: float,
        test_nll: float | None,
        lr: float,
        time: float,
        steps: int,
        skipped_steps: int,
    ) -> None:
        """Record the epoch that just finished (numbered one after the last)."""
        self.epoch.append(len(self.epoch) + 1)
        self.train_loss.append(train_loss)
        self.test_nll.append(test_nll)
        self.lr.append(lr)
        self.time.append(time)
        self.steps.append(steps)
        self.skipped_steps.append(skipped_steps)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per epoch, e.g. for ``pandas.DataFrame(history.to_records())``."""
        keys = ("epoch", "train_loss", "test_nll", "lr", "time", "steps", "skipped_steps")
        columns = [getattr(self, k) for k in keys]
        return [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(**data)

    def __len__(self) -> int:
        return len(self.epoch)

"""Training progress from the report's kernel to the terminal of ``innlab report``.

The kernel and its worker processes append events, one JSON object per line, to a progress
file (:class:`TrainingEvents`, used by :class:`~innlab.experiments.store.ModelStore`); the
builder follows that file in a thread (:func:`following`) and draws them (:class:`ProgressBars`):
a bar over the notebook's code cells titled with the section that runs, and one bar per model
in training. Nothing of this reaches the notebook. The events:

- ``{"kind": "train", "model": NAME, "epochs": N}``: a model starts training;
- ``{"kind": "epoch", "model": NAME, "epoch": K}``: K of its epochs are done;
- ``{"kind": "trained", "model": NAME, "seconds": S}``: it is trained and stored.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

EPOCH_INTERVAL = 0.5
"""Seconds between two epoch events of one model (the last epoch is always reported)."""
POLL_INTERVAL = 0.2
"""Seconds between two reads of the progress file."""


def emit(path: str | Path, event: dict[str, Any]) -> None:
    """Append ``event`` as one JSON line to ``path``; progress never stops the work, so a file
    that cannot be written loses the event."""
    line = json.dumps(event) + "\n"
    try:
        with open(path, "a", encoding="utf-8") as file:  # one short append per event
            file.write(line)
    except OSError:
        pass


class TrainingEvents:
    """The events of training one model: :meth:`started`, then the object itself as
    :func:`~innlab.train_inn`'s per-epoch ``callback``, then :meth:`finished`."""

    def __init__(self, path: str | Path, model: str, epochs: int) -> None:
        self.path, self.model, self.epochs = Path(path), model, int(epochs)
        self._last = 0.0
        self._start = time.monotonic()

    def started(self) -> None:
        self._start = time.monotonic()
        emit(self.path, {"kind": "train", "model": self.model, "epochs": self.epochs})

    def __call__(self, history: Any) -> None:
        now = time.monotonic()
        if now - self._last >= EPOCH_INTERVAL or len(history) >= self.epochs:
            self._last = now
            emit(self.path, {"kind": "epoch", "model": self.model, "epoch": len(history)})

    def finished(self) -> None:
        seconds = round(time.monotonic() - self._start, 3)
        emit(self.path, {"kind": "trained", "model": self.model, "seconds": seconds})


class EventReader:
    """Reads the complete lines that were appended to a progress file since the last read;
    lines that are not JSON objects are skipped."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                chunk = file.read()
        except OSError:  # not written yet
            return []
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


class ProgressBars:
    """Draws the report's progress: the code cells (with the running section) and one bar per
    model being trained; a trained model leaves one line. ``enabled=False`` draws nothing."""

    def __init__(
        self, total: int, desc: str, *, enabled: bool = True, file: IO[str] | None = None
    ) -> None:
        self.desc, self.enabled, self.file = desc, enabled, file
        self._lock = threading.RLock()
        self._models: dict[str, tqdm[Any]] = {}
        self._cells = tqdm(total=total, desc=desc, unit="cell", disable=not enabled, file=file)

    def section(self, title: str) -> None:
        """Name the section whose cells run now."""
        with self._lock:
            self._cells.set_description_str(f"{self.desc} | {title}" if title else self.desc)

    def cell_done(self) -> None:
        with self._lock:
            self._cells.update(1)

    def handle(self, event: dict[str, Any]) -> None:
        """Draw one event of the progress file; a malformed or unknown one is ignored."""
        try:
            kind, model = event["kind"], str(event["model"])
            with self._lock:
                if kind == "train":
                    self._start_model(model, int(event["epochs"]))
                elif kind == "epoch" and model in self._models:
                    bar = self._models[model]
                    bar.update(max(0, int(event["epoch"]) - bar.n))
                elif kind == "trained":
                    self._finish_model(model, float(event["seconds"]))
        except (KeyError, TypeError, ValueError):
            return

    def _start_model(self, model: str, epochs: int) -> None:
        if model in self._models:
            self._models.pop(model).close()
        self._models[model] = tqdm(
            total=epochs,
            desc=f"  training {model}",
            unit="epoch",
            leave=False,
            disable=not self.enabled,
            file=self.file,
        )

    def _finish_model(self, model: str, seconds: float) -> None:
        bar = self._models.pop(model, None)
        if bar is not None:
            bar.close()
        if self.enabled:
            took = f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2f}"
            tqdm.write(f"  trained {model} in {took} s", file=self.file or sys.stderr)

    def close(self) -> None:
        with self._lock:
            for bar in self._models.values():
                bar.close()
            self._models.clear()
            self._cells.close()


@contextmanager
def following(
    path: str | Path, handle: Callable[[dict[str, Any]], None], interval: float = POLL_INTERVAL
) -> Iterator[None]:
    """Hand every event appended to ``path`` to ``handle``, from a thread, until the block ends
    (the events written before its end are all handed over)."""
    reader, stop = EventReader(path), threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            for event in reader.read():
                handle(event)

    thread = threading.Thread(target=run, name="innlab-report-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for event in reader.read():
            handle(event)

"""The report's progress channel: training events from the kernel, bars in the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path

import nbformat
import pytest
import torch

from innlab.experiments.store import ModelStore
from innlab.report import _progress
from innlab.report._progress import EventReader, ProgressBars, TrainingEvents, following
from innlab.report.build import _section_titles


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reader_hands_over_complete_lines_once_and_skips_garbage(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    reader = EventReader(path)
    assert reader.read() == []  # not written yet
    path.write_text('{"kind": "train", "model": "a", "epochs": 3}\nnot json\n[1, 2]\n{"kind": ')
    assert reader.read() == [{"kind": "train", "model": "a", "epochs": 3}]
    with path.open("a") as file:
        file.write('"epoch", "model": "a", "epoch": 2}\n')
    assert reader.read() == [{"kind": "epoch", "model": "a", "epoch": 2}]
    assert reader.read() == []


def test_bars_follow_each_model_and_log_it_when_trained() -> None:
    screen = io.StringIO()
    bars = ProgressBars(4, "report (smoke)", file=screen)
    bars.section("1. Two moons")
    bars.handle({"kind": "train", "model": "moons-plain", "epochs": 10})
    bars.handle({"kind": "train", "model": "hexagon-plain", "epochs": 5})
    bars.handle({"kind": "epoch", "model": "moons-plain", "epoch": 4})
    assert {name: (bar.n, bar.total) for name, bar in bars._models.items()} == {
        "moons-plain": (4, 10),
        "hexagon-plain": (0, 5),
    }
    bars.handle({"kind": "trained", "model": "moons-plain", "seconds": 2.345})
    assert list(bars._models) == ["hexagon-plain"]
    for broken in ({"kind": "epoch"}, {"kind": "train", "model": "x", "epochs": "many"}, {}):
        bars.handle(broken)  # ignored
    bars.handle({"kind": "unknown", "model": "x"})
    bars.cell_done()
    bars.close()
    text = screen.getvalue()
    assert "report (smoke) | 1. Two moons" in text
    assert "training moons-plain" in text
    assert "trained moons-plain in 2.3 s" in text
    assert not bars._models


def test_disabled_bars_draw_nothing() -> None:
    screen = io.StringIO()
    bars = ProgressBars(2, "report", enabled=False, file=screen)
    bars.section("1. Two moons")
    bars.handle({"kind": "train", "model": "m", "epochs": 2})
    bars.handle({"kind": "trained", "model": "m", "seconds": 1.0})
    bars.close()
    assert screen.getvalue() == ""


def test_following_hands_over_every_event_written_before_the_end(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    seen: list[dict] = []
    with following(path, seen.append, interval=0.01):
        for k in range(20):
            _progress.emit(path, {"kind": "epoch", "model": "m", "epoch": k})
    assert [event["epoch"] for event in seen] == list(range(20))


def test_training_events_report_start_epochs_and_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "progress.jsonl"
    monkeypatch.setattr(_progress, "EPOCH_INTERVAL", 3600.0)  # only the first and last epoch
    events = TrainingEvents(path, "m", 4)
    events.started()
    for done in range(1, 5):
        events(list(range(done)))
    events.finished()
    kinds = [(e["kind"], e.get("epoch")) for e in read_events(path)]
    assert kinds == [("train", None), ("epoch", 1), ("epoch", 4), ("trained", None)]


def test_an_unwritable_progress_file_loses_the_event(tmp_path: Path) -> None:
    _progress.emit(tmp_path / "missing" / "progress.jsonl", {"kind": "x"})  # no error


def test_model_store_reports_training_but_not_a_cached_model(tmp_path: Path) -> None:
    path = tmp_path / "progress.jsonl"
    store = ModelStore(tmp_path / "models", progress=False, progress_file=path)
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    kwargs = {"input_size": 2, "hidden_size": 8, "blocks": 2}
    store.fit("tiny", kwargs, x, recipe={"data": "randn"}, epochs=3, batch_size=32)
    events = read_events(path)
    assert events[0] == {"kind": "train", "model": "tiny", "epochs": 3}
    assert events[-2] == {"kind": "epoch", "model": "tiny", "epoch": 3}
    assert events[-1]["kind"] == "trained" and events[-1]["seconds"] >= 0
    store.fit("tiny", kwargs, x, recipe={"data": "randn"}, epochs=3, batch_size=32)
    assert read_events(path) == events, "a cached model trains nothing"


def test_every_code_cell_knows_its_section() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("setup()"),
        nbformat.v4.new_markdown_cell("# Title\n\n## 1. Two moons\n\ntext"),
        nbformat.v4.new_code_cell("train()"),
        nbformat.v4.new_markdown_cell("### A subsection"),
        nbformat.v4.new_code_cell("look()"),
        nbformat.v4.new_markdown_cell("## 2. Hyperparameters"),
        nbformat.v4.new_code_cell("sweep()"),
    ]
    assert _section_titles(notebook) == {
        0: "setup",
        2: "1. Two moons",
        4: "1. Two moons",
        6: "2. Hyperparameters",
    }

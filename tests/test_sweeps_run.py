"""Running sweeps: records, resuming after SIGKILL, worker processes, summaries and the CLI."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from innlab import RealNVP
from innlab.data import hexagon_centers
from innlab.sweeps import (
    NotVectorizableError,
    evaluation,
    format_table,
    load_config,
    load_records,
    plot_summary,
    run_sweep,
    summarize,
    task,
    write_plots,
)
from innlab.sweeps.__main__ import main
from innlab.sweeps.datasets import ToyDataset
from innlab.sweeps.evaluation import HeldOut, evaluate
from innlab.sweeps.trial import Trial

from .sweeps_helpers import comparable, tiny_config, toml_text
from .sweeps_helpers import one_torch_thread as one_torch_thread  # autouse fixture


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The tiny sweep run once in this process (one worker, seeds vectorised)."""
    out = tmp_path_factory.mktemp("reference")
    return out, run_sweep(tiny_config(keep_samples=3), out)


def test_records_are_complete_and_written_per_trial(reference: tuple[Path, list[dict]]) -> None:
    out, records = reference
    trials = load_config(tiny_config(keep_samples=3)).trials()
    assert [r["trial_id"] for r in records] == [t.id for t in trials]
    assert sorted(p.stem for p in (out / "trials").iterdir()) == sorted(t.id for t in trials)
    for record in records:
        assert record["status"] == "ok" and record["executor"] == "local"
        assert record["trained_together"] == 2
        expected = {"test_nll", "true_nll", "nll_gap", "mmd", "mode_balance"}
        assert set(record["metrics"]) >= expected
        assert "c2st_accuracy" not in record["metrics"]  # a classifier per trial is asked for
        assert record["metrics"]["nll_gap"] == pytest.approx(
            record["metrics"]["test_nll"] - record["metrics"]["true_nll"]
        )
        assert record["metrics"]["parameters"] == 2 * (2 * (1 * 8 + 8 + 8 * 8 + 8 + 8 + 1))
        assert len(record["train_loss"]) == 2 and len(record["samples"]) == 3
        assert json.loads((out / "trials" / f"{record['trial_id']}.json").read_text()) == record


def test_rerun_skips_finished_trials(reference: tuple[Path, list[dict]], tmp_path: Path) -> None:
    out, records = reference
    again = run_sweep(tiny_config(keep_samples=3), out)
    assert again == records  # nothing rerun: same timestamps and timings
    changed = run_sweep(tiny_config(keep_samples=3, seeds=[0, 1, 2]), out)
    assert changed[:2] == records[:2] and changed[3:5] == records[2:]
    assert len(load_records(out)) == 6


def test_summary_table_and_plots(reference: tuple[Path, list[dict]], tmp_path: Path) -> None:
    _, records = reference
    rows = summarize(records)
    assert [row.settings for row in rows] == [{"lr": 1e-3}, {"lr": 3e-3}]
    first = [r["metrics"]["test_nll"] for r in records if r["trial"]["params"]["lr"] == 1e-3]
    assert rows[0].seeds == 2 and rows[0].failed == 0
    assert rows[0].mean["test_nll"] == pytest.approx(sum(first) / 2)
    assert rows[0].std["test_nll"] == pytest.approx(abs(first[0] - first[1]) / 2**0.5)
    table = format_table(rows)
    assert table.splitlines()[0].split()[:3] == ["lr", "seeds", "test_nll"]
    assert f"{rows[1].mean['mmd']:.4g} ± " in table
    figures = plot_summary(rows, metrics=["test_nll", "mmd"])
    assert list(figures) == ["test_nll", "mmd"]
    assert figures["mmd"].axes[0].get_xlabel() == "lr"
    paths = write_plots(figures, tmp_path / "plots")
    assert [p.name for p in paths] == ["test_nll.png", "mmd.png"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"


def test_worker_processes_give_the_same_records(
    reference: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    _, records = reference
    pooled = run_sweep(tiny_config(keep_samples=3, vectorize=False), tmp_path, workers=2)
    assert [r["trained_together"] for r in pooled] == [1, 1, 1, 1]
    for a, b in zip(pooled, records, strict=True):
        assert a["trial_id"] == b["trial_id"]
        for key, value in comparable(b)["metrics"].items():
            assert a["metrics"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_hexagon_conditional_scores(tmp_path: Path) -> None:
    config = tiny_config(seeds=[0], sweep={})
    config["data"] = {"name": "hexagon", "test_size": 120}
    config["base"]["condition"] = True
    (record,) = run_sweep(config, tmp_path)
    metrics = record["metrics"]
    assert 0 <= metrics["oracle_accuracy"] <= 1 and 0 <= metrics["outlier_share"] <= 1
    assert 0 <= metrics["mode_balance"] <= 1
    # conditional true density of corner k: a single Gaussian N(c_k, 0.1^2 I)
    dataset = ToyDataset(record["trial"]["data"])
    x, y = dataset.sample(50, seed=3)
    centers = hexagon_centers(1.0)[y]
    expected = -((x.double() - centers) ** 2).sum(1) / (2 * 0.01) - math.log(2 * math.pi * 0.01)
    torch.testing.assert_close(dataset.conditional_log_prob(x, y), expected)


def test_failed_vectorisation_falls_back_to_separate_runs(
    reference: tuple[Path, list[dict]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise NotVectorizableError("non-finite loss")

    monkeypatch.setattr(task, "train_inn_vectorized", refuse)
    _, records = reference
    fallback = run_sweep(tiny_config(keep_samples=3), tmp_path)
    assert [r["trained_together"] for r in fallback] == [1, 1, 1, 1]
    for a, b in zip(fallback, records, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["metrics"]["test_nll"] == pytest.approx(b["metrics"]["test_nll"], rel=1e-5)


def test_sigkill_then_rerun_runs_every_trial_exactly_once(tmp_path: Path) -> None:
    config = tiny_config(vectorize=False, seeds=[0, 1, 2, 3])  # 8 tasks, each written alone
    config["base"]["epochs"] = 6
    path = tmp_path / "sweep.toml"
    path.write_text(toml_text(config))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "innlab.sweeps", str(path), "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if len(list((out / "trials").glob("*.json"))) >= 2:
            break
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL, "the sweep finished before it could be killed"
    before = {p.name: p.read_bytes() for p in (out / "trials").glob("*.json")}
    assert 2 <= len(before) < 8

    run_sweep(config, out)  # the rerun
    after = {p.name: p.read_bytes() for p in (out / "trials").glob("*.json")}
    expected = {f"{t.id}.json" for t in load_config(config).trials()}
    assert set(after) == expected  # every trial once, nothing else
    assert all(after[name] == data for name, data in before.items())  # finished ones kept
    assert not [p for p in (out / "trials").iterdir() if p.suffix != ".json"]


def test_cli_summarize_and_errors(
    reference: tuple[Path, list[dict]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, _ = reference
    assert main(["summarize", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test_nll" in printed and (out / "plots" / "mmd.png").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text("[base]\nlr = -1\n")
    assert main([str(bad)]) == 2
    assert "base.lr must be a finite number > 0, got -1" in capsys.readouterr().err
    assert main(["summarize"]) == 2
    assert main(["summarize", str(tmp_path)]) == 2
    assert "holds no sweep records" in capsys.readouterr().err


def test_held_out_set_is_built_once_per_process_and_left_unchanged() -> None:
    tasks = task.make_tasks(load_config(tiny_config()).trials(), vectorize=False)
    task._held_out.cache_clear()
    first, second = task.run_task(tasks[0]), task.run_task(tasks[1])
    info = task._held_out.cache_info()
    assert (info.misses, info.hits) == (1, 1)
    assert first[0]["metrics"]["true_nll"] == second[0]["metrics"]["true_nll"]

    trial = Trial.from_dict(tasks[0]["trials"][0])
    key = (json.dumps(dict(trial.data), sort_keys=True), trial.seeds()["test_data"], False)
    shared, rebuilt = task._held_out(*key), task._held_out.__wrapped__(*key)
    assert torch.equal(shared.x, rebuilt.x) and torch.equal(shared.y, rebuilt.y)  # unmodified


def test_c2st_accuracy_of_a_trial_tells_shifted_samples_apart() -> None:
    dataset = ToyDataset({"name": "moons", "noise": 0.1, "test_size": 300, "seed": 0})
    held_out = HeldOut.build(dataset, 300, seed=0, conditional=False)
    model = RealNVP(2, 8, 1, seed=0)  # the sample-based scores read only the samples
    perfect = dataset.data.sample_iid(300, seed=3)
    scores = evaluate(model, dataset, held_out, ["c2st"], perfect)
    assert 0.35 < scores["c2st_accuracy"] < 0.65
    shifted = evaluate(model, dataset, held_out, ["c2st"], perfect + 3.0)
    assert shifted["c2st_accuracy"] > 0.95
    broken = perfect.clone()
    broken[0, 0] = float("nan")
    assert evaluate(model, dataset, held_out, ["c2st"], broken)["c2st_accuracy"] is None
    assert "c2st_accuracy" not in evaluate(model, dataset, held_out, ["test_nll"], perfect)
    assert evaluation._c2st_accuracy(perfect[:1], held_out.x[:1]) is None
    assert 0 <= evaluation._c2st_accuracy(perfect[:3], held_out.x[:3]) <= 1  # 3 folds

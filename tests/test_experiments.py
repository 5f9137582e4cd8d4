"""Experiment building blocks: the model cache, result rounding, presets, the toy null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from innlab.data import two_moons
from innlab.experiments.presets import PRESETS, get_preset
from innlab.experiments.recording import Results, rounded
from innlab.experiments.store import FitJob, ModelStore
from innlab.experiments.toy import iid_moons, mmd_null_for, toy_data


def test_store_trains_once_and_retrains_when_the_recipe_changes(tmp_path: Path) -> None:
    x, _ = two_moons(256, seed=0)
    store = ModelStore(tmp_path, progress=False)
    kwargs = dict(recipe={"data": "moons"}, epochs=1, batch_size=64)
    model, history = store.fit("m", {"input_size": 2, "hidden_size": 8, "blocks": 2}, x, **kwargs)
    stamp = (tmp_path / "m.pt").stat().st_mtime_ns
    again, history2 = store.fit("m", {"input_size": 2, "hidden_size": 8, "blocks": 2}, x, **kwargs)
    assert (tmp_path / "m.pt").stat().st_mtime_ns == stamp, "served from the cache"
    assert history2.train_loss == history.train_loss
    assert torch.equal(again.log_prob(x), model.log_prob(x))
    store.fit("m", {"input_size": 2, "hidden_size": 8, "blocks": 2}, x, **{**kwargs, "epochs": 2})
    assert (tmp_path / "m.pt").stat().st_mtime_ns != stamp, "a new recipe retrains"
    forced = ModelStore(tmp_path, force=True, progress=False)
    stamp = (tmp_path / "m.pt").stat().st_mtime_ns
    forced.fit("m", {"input_size": 2, "hidden_size": 8, "blocks": 2}, x, **kwargs)
    assert (tmp_path / "m.pt").stat().st_mtime_ns != stamp, "force retrains"


def test_store_retrains_over_a_corrupted_cache(tmp_path: Path) -> None:
    x, _ = two_moons(128, seed=0)
    (tmp_path / "m.pt").write_bytes(b"garbage")
    store = ModelStore(tmp_path, progress=False)
    model, _ = store.fit(
        "m", {"input_size": 2, "hidden_size": 8, "blocks": 1}, x, recipe={}, epochs=1
    )
    assert model.log_prob(x).shape == (128,)


@pytest.mark.parametrize("workers", [1, 2])
def test_prefetch_trains_in_workers_and_fit_then_loads(tmp_path: Path, workers: int) -> None:
    x, _ = two_moons(256, seed=0)
    jobs = [
        FitJob(
            f"m{width}",
            {"input_size": 2, "hidden_size": width, "blocks": 2},
            x,
            recipe={"data": "moons"},
            train_kwargs={"epochs": 1, "batch_size": 64},
        )
        for width in (4, 8)
    ]
    store = ModelStore(tmp_path, force=True, progress=False)
    store.prefetch(jobs, workers=workers)
    stamps = {job.name: (tmp_path / f"{job.name}.pt").stat().st_mtime_ns for job in jobs}
    models = [job.run(store)[0] for job in jobs]  # loaded although force is set: trained just now
    assert {job.name: (tmp_path / f"{job.name}.pt").stat().st_mtime_ns for job in jobs} == stamps
    reference, _ = jobs[1].run(ModelStore(tmp_path / "ref", progress=False))
    torch.testing.assert_close(models[1].log_prob(x), reference.log_prob(x))
    store.prefetch(jobs, workers=workers)  # nothing left to train
    assert {job.name: (tmp_path / f"{job.name}.pt").stat().st_mtime_ns for job in jobs} == stamps


def test_rounding_and_results_file(tmp_path: Path) -> None:
    assert rounded(1.234567) == 1.235
    assert rounded(-0.000123456) == -0.0001235
    assert rounded({"a": (1, 2.0), "b": True, "c": float("inf")}) == {
        "a": [1, 2.0],
        "b": True,
        "c": float("inf"),
    }
    results = Results(tmp_path / "r.json")
    assert results.add("s", {"x": 3.14159}) == {"x": 3.142}
    assert json.loads((tmp_path / "r.json").read_text()) == {"s": {"x": 3.142}}


def test_presets() -> None:
    assert set(PRESETS) == {"smoke", "quick", "full"}
    assert get_preset("smoke").moons.epochs < get_preset("quick").moons.epochs
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")


def test_iid_moons_match_the_true_density_better_than_a_shift() -> None:
    data = toy_data("moons")
    x = iid_moons(4000, seed=0)
    assert x.shape == (4000, 2)
    nll = float(-data.log_prob(x).mean())
    shifted = float(-data.log_prob(x + 0.3).mean())
    assert abs(nll - float(-data.log_prob(two_moons(4000, seed=5)[0]).mean())) < 0.05
    assert shifted > nll + 0.5


def test_toy_null_is_centred_near_zero_and_small() -> None:
    null = mmd_null_for(toy_data("moons"), 500, draws=6)
    assert abs(null["mean"]) < 0.01 and 0 < null["std"] < 0.01
    assert null["q95"] >= min(null["values"])

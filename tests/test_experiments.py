"""Experiment building blocks: the model cache, results and their rounding, presets, the toy
null."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from innlab.data import toy_dataset, two_moons
from innlab.experiments import (
    BottleneckResult,
    BottleneckScores,
    ModeCoverage,
    NormalitySummary,
    ToyResult,
)
from innlab.experiments.presets import PRESETS, get_preset
from innlab.experiments.recording import Results, rounded
from innlab.experiments.store import DamagedModelWarning, FitJob, ModelStore
from innlab.experiments.toy import mmd_null_for


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
    with pytest.warns(DamagedModelWarning, match=r"m.pt' is unusable .*training it again"):
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


def _normality() -> NormalitySummary:
    return NormalitySummary(True, 0.51234, 0.2, 0, 0.3, 0.4, 0.05, 0.01, 0.02, 0.03, 0.04)


def _toy_result(coverage: ModeCoverage | None = None) -> ToyResult:
    return ToyResult(
        max_reconstruction_error=2.384185791015625e-07,
        test_nll=1.23456789,
        true_nll=1.0,
        nll_gap=0.23456789,
        mmd=0.001234567,
        null_mean=0.0,
        null_std=0.001,
        null_q95=0.002,
        mmd_z_score=1.234567,
        mmd_below_null_q95=True,
        mmd_sample_size=300,
        c2st_accuracy=0.5123456,
        c2st_null_mean=0.5,
        c2st_null_std=0.01,
        c2st_null_q95=0.52,
        c2st_p_value=1 / 3,
        normality=_normality(),
        train_seconds=1.5,
        steps=8,
        parameters=100,
        budget=get_preset("smoke").moons,
        coverage=coverage,
        figures={"samples": object()},  # type: ignore[dict-item]
    )


def test_rounding_and_results_file(tmp_path: Path) -> None:
    assert rounded(1.234567) == 1.235
    assert rounded(-0.000123456) == -0.0001235
    assert rounded({"a": (1, 2.0), "b": True, "c": float("inf")}) == {
        "a": [1, 2.0],
        "b": True,
        "c": float("inf"),
    }
    results = Results(tmp_path / "r.json")
    result = _toy_result()
    shown = results.add("moons", result)
    written = json.loads((tmp_path / "r.json").read_text())
    assert written == {"moons": rounded(result.to_dict())}
    assert (shown.test_nll, shown.nll_gap, shown.normality.pvalue) == (1.235, 0.2346, 0.5123)
    assert (shown.c2st_accuracy, shown.c2st_p_value) == (0.5123, 0.3333)
    assert written["moons"]["c2st_accuracy"] == 0.5123
    assert shown.figures is result.figures and shown.budget == result.budget
    assert shown.to_dict() == written["moons"], "the text quotes the numbers of the file"


def test_to_dict_leaves_out_figures_and_unset_options_and_flattens_coverage() -> None:
    plain = _toy_result().to_dict()
    assert "figures" not in plain and "coverage" not in plain
    assert plain["budget"] == get_preset("smoke").moons.to_dict()
    assert list(plain["normality"]) == [
        "looks_normal",
        "pvalue",
        "ks_min_pvalue",
        "ks_rejected",
        "radius_pvalue",
        "mmd_pvalue",
        "max_cov_deviation",
        "max_abs_mean",
        "max_abs_std_error",
        "max_abs_skewness",
        "max_abs_excess_kurtosis",
    ]
    coverage = ModeCoverage(20_000, (0.2, 0.1, 0.2, 0.2, 0.2, 0.1), 0.067, 0.05, 0.01)
    hexagon = _toy_result(coverage).to_dict()
    assert list(hexagon) == [*plain, *coverage.to_dict()]
    assert hexagon["mode_shares"] == [0.2, 0.1, 0.2, 0.2, 0.2, 0.1], "tuples become lists"


def test_presets() -> None:
    assert set(PRESETS) == {"smoke", "quick", "full"}
    assert get_preset("smoke").moons.epochs < get_preset("quick").moons.epochs
    for preset in PRESETS.values():  # 0 or >= 2 relabellings (see innlab.metrics.c2st)
        assert preset.c2st_permutations >= 2 and preset.image_c2st_permutations >= 2
    with pytest.raises(ValueError, match="preset must be one of"):
        get_preset("huge")


def test_toy_null_is_centred_near_zero_and_small() -> None:
    null = mmd_null_for(toy_dataset("moons"), 500, draws=6)
    assert abs(null.mean) < 0.01 and 0 < null.std < 0.01
    assert null.q95 >= min(null.values) and len(null.values) == 6 and null.n == 500


def test_bottleneck_result_keeps_the_file_layout() -> None:
    def scores(bits: float | None) -> BottleneckScores:
        return BottleneckScores(
            first_k_confidence=0.5,
            first_k_mmd=0.01,
            fixed_k_label_agreement=0.7,
            fixed_k_diversity=0.1,
            test_bits_per_dim=bits,
            reconstruction_mse=2.0,
        )

    result = BottleneckResult(
        ks=(2, 8),
        weight=1.0,
        bottleneck={2: scores(4.5), 8: scores(4.6)},
        plain={2: scores(None), 8: scores(None)},
        plain_test_bits_per_dim=4.4,
    )
    out = result.to_dict()
    assert list(out) == [
        "ks",
        "weight",
        "bottleneck_k2",
        "plain_k2",
        "bottleneck_k8",
        "plain_k8",
        "plain_test_bits_per_dim",
    ]
    assert list(out["bottleneck_k2"]) == [*PARTIAL_KEYS[:4], "test_bits_per_dim", PARTIAL_KEYS[4]]
    assert list(out["plain_k8"]) == PARTIAL_KEYS
    assert out["ks"] == [2, 8]
    assert result.rounded().bottleneck[8].test_bits_per_dim == 4.6, "keys stay ints"


PARTIAL_KEYS = [
    "first_k_confidence",
    "first_k_mmd",
    "fixed_k_label_agreement",
    "fixed_k_diversity",
    "reconstruction_mse",
]


def test_result_classes_are_exported_lazily() -> None:
    import innlab.experiments as experiments
    from innlab.experiments.images import ImageResult

    assert set(experiments._HOMES) == set(experiments.__all__)
    assert experiments.ImageResult is ImageResult
    for name in experiments.__all__:
        assert isinstance(getattr(experiments, name), type), name


def test_an_image_subset_keeps_every_copy_of_its_images() -> None:
    from innlab.experiments.images import load_images

    data = load_images("digits", forest_trees=2, copies=3)
    small = data.subset(100)
    total, kept = data.labels["train"].shape[0], small.labels["train"].shape[0]
    assert kept == 100 and small.copies == 3 and small.y["train"].shape == (300, 64)
    assert torch.equal(small.train_conditions().argmax(1), small.labels["train"].repeat(3))
    # the kept images' indices, from their first copies (continuous values: no ties)
    first = small.y["train"][:kept]
    keep = (first[:, None, :] == data.y["train"][None, :total]).all(2).int().argmax(1)
    assert torch.equal(data.y["train"][keep], first)
    assert torch.equal(data.pixels["train"][keep], small.pixels["train"])
    for j in (1, 2):  # copy j of image i is row j * n + i in both sets
        rows = small.y["train"][j * kept : (j + 1) * kept]
        assert torch.equal(rows, data.y["train"][j * total + keep])
        assert not torch.equal(rows, first)
    assert small.pixels["test"] is data.pixels["test"]


def test_fit_job_cost_and_prefetch_order_start_the_costliest_first() -> None:
    x = torch.zeros(100, 2)

    def job(name: str, hidden: int, **train: object) -> FitJob:
        kwargs = {"input_size": 2, "hidden_size": hidden, "blocks": 2, "shared_subnet": True}
        return FitJob(name, kwargs, x, train_kwargs={"epochs": 3, **train})

    plain = job("plain", 8)
    assert plain.cost == 2 * 8**2 * 3 * 100
    separate = FitJob(
        "s", {**plain.model_kwargs, "shared_subnet": False}, x, train_kwargs={"epochs": 3}
    )
    assert separate.cost == 2 * plain.cost
    assert job("b", 8, bottleneck=1).cost == 3 * plain.cost


def test_image_models_prefetched_in_workers_are_the_ones_the_sections_load(tmp_path: Path) -> None:
    from innlab.experiments.images import image_fit_jobs, load_images, unconditional_images

    preset = get_preset("smoke")
    data = load_images("digits", forest_trees=2, copies=preset.digits_copies)
    jobs = image_fit_jobs(preset, data, None)
    assert [j.name for j in jobs] == [
        "digits-plain",
        "digits-conditional",
        *(f"digits-bottleneck-{k}" for k in preset.bottleneck_ks),
    ]
    store = ModelStore(tmp_path, force=True, progress=False)
    store.prefetch(jobs[:1], workers=1)
    stamp = (tmp_path / "digits-plain.pt").stat().st_mtime_ns
    unconditional_images("digits", data, preset, store)  # loads what the worker trained
    assert (tmp_path / "digits-plain.pt").stat().st_mtime_ns == stamp

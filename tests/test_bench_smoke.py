"""The benchmarks start and report consistent figures (each one's ``--smoke`` run)."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

for _library in ("FrEIA", "nflows", "normflows", "zuko"):
    pytest.importorskip(_library, reason="the peer benchmark needs the 'bench' extra")

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_peers():
    """``benchmarks/_peers.py`` (the benchmarks folder is not a package)."""
    if "_peers" not in sys.modules:
        spec = importlib.util.spec_from_file_location("_peers", BENCHMARKS / "_peers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["_peers"] = module  # dataclasses look their module up while being built
        spec.loader.exec_module(module)
    return sys.modules["_peers"]


@pytest.mark.parametrize("cond", [0, 2])
def test_every_library_reports_log_prob_with_the_same_constant(cond):
    """A new model is the identity map (nflows aside), so log_prob is the standard normal's."""
    peers = load_peers()
    arch = peers.Arch(dim=4, hidden=8, blocks=3, cond=cond)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 4, generator=generator)
    c = torch.eye(2)[torch.randint(2, (32,), generator=generator)] if cond else None
    expected = peers.standard_normal_log_prob(x)
    for name, build in peers.BUILDERS.items():
        try:
            runner = build(arch, 0)
        except peers.Unsupported:
            assert name == "normflows" and cond
            continue
        with torch.no_grad():
            log_p = runner.log_prob(x, c)
            if name == "nflows":  # its initial scale is sigmoid(2) + 1e-3, not 1
                z, log_det = runner.module._transform(x, context=c)
                expected_here = peers.standard_normal_log_prob(z) + log_det
            else:
                expected_here = expected
        assert log_p.shape == (32,), name
        torch.testing.assert_close(log_p, expected_here, atol=1e-4, rtol=0, msg=name)
        assert runner.sample(5, None if c is None else c[:5]).shape == (5, 4), name


def run_benchmark(script: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
    """Run ``benchmarks/script`` with ``args``; fail the test with its stderr unless it exits 0."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_smoke_run_covers_every_library_and_workload(tmp_path):
    out = tmp_path / "peers.json"
    done = run_benchmark("bench_peers.py", "--smoke", "--out", str(out))
    assert "targets:" in done.stdout
    report = json.loads(out.read_text())

    models = ["innlab-shared", "innlab-separate", "FrEIA", "nflows", "normflows", "zuko"]
    models.append("plain-torch")
    rows = {(r["workload"], r["model"]): r for r in report["throughput"]}
    for workload in ("moons", "digits", "moons-cond"):
        for model in models:
            row = rows[(workload, model)]
            if (workload, model) == ("moons-cond", "normflows"):
                assert "skipped" in row
                continue
            assert row["parameters"] > 0
            for metric in ("train_steps_per_s", "log_prob_points_per_s", "sample_points_per_s"):
                assert math.isfinite(row[metric]) and row[metric] > 0, (workload, model, metric)

    series = report["time_to_quality"]["series"]
    assert set(series) == set(models)
    for record in series.values():
        assert all(math.isfinite(v) for v in record["test_nll"])
        assert record["seconds"] == sorted(record["seconds"])

    assert set(report["deviations"]) == set(models)
    assert report["deviations"]["normflows"]
    meta = report["meta"]
    assert meta["cpu_count"] and meta["date"]
    assert {"torch", "FrEIA", "nflows", "normflows", "zuko"} <= set(meta["versions"])
    assert report["targets"] and report["ratios"]


def test_floor_benchmark_smoke_run_bounds_every_peer(tmp_path):
    out = tmp_path / "floor.json"
    run_benchmark("bench_floor.py", "--smoke", "--threads", "1", "--out", str(out))
    (run,) = json.loads(out.read_text())["runs"]
    for metric, seconds in run["seconds"].items():
        assert all(math.isfinite(s) and s > 0 for s in seconds.values()), metric
    peers = {row["peer"] for row in run["bounds"]}
    assert peers == {"FrEIA", "nflows", "zuko", "normflows"}
    for row in run["bounds"]:  # bound = peer / floor, speed-up = peer / innlab
        ratio = row["bound"] / row["speedup"]
        assert math.isclose(ratio, 1 / row["floor_share_of_innlab"], rel_tol=1e-9)


def test_revision_benchmark_smoke_run_compares_two_copies(tmp_path):
    out = tmp_path / "revisions.json"
    run_benchmark("bench_revisions.py", "--smoke", "--baseline", "HEAD", "--threads", "1",
                  "--out", str(out), timeout=120)  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert {(r["layout"], r["measure"]) for r in rows} == {
        (layout, measure)
        for layout in ("shared", "separate")
        for measure in ("train", "log_prob", "sample")
    }
    for row in rows:
        assert row["baseline"] > 0 and row["candidate"] > 0
        assert math.isclose(row["ratio"], row["candidate"] / row["baseline"])


def test_evaluation_benchmark_smoke_run_agrees_on_the_nll(tmp_path):
    out = tmp_path / "eval.json"
    run_benchmark("bench_eval.py", "--smoke", "--out", str(out))
    rows = json.loads(out.read_text())["rows"]
    assert [r["dim"] for r in rows] == [2, 64]
    for row in rows:  # the benchmark itself refuses NLLs that disagree
        assert math.isfinite(row["nll"])
        assert math.isclose(row["ratio"], row["seconds"]["plain"] / row["seconds"]["analytic"])

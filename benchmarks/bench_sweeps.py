"""Speed of the sweep engine: vectorised seeds, and the local executor's overhead.

1. Vectorised seeds: 8 seeds of the two-moons default model (``RealNVP(2, 64, 8)``, batch 256)
   trained together with ``train_inn_vectorized`` against 8 sequential ``train_inn`` runs, on
   2 torch threads, alternating the two several times; reports median times and their ratio
   (target: >= 4x) and the largest weight difference between the two (float rounding only).
   For scale, one model trained on 8x the data with 8x the batch does the same arithmetic per
   step as the 8 seeds together; its speed-up over the sequential runs bounds any batching.
2. Executor overhead: a sweep of 24 small trials (no vectorisation) on the local executor with
   2 workers; overhead = 1 - (sum of in-trial training time) / (wall time x workers), including
   evaluation (target: < 10%). Measured cold (the sweep starts the worker processes: forkserver
   start-up, importing torch and innlab) and warm (a second sweep reusing the forkserver).

Both processes set up as the sweep workers do (:func:`innlab.sweeps.executors.prepare_worker`).
Timings on a shared machine are noisy; rerun on a quiet one before quoting them.

Usage::

    python benchmarks/bench_sweeps.py              # full, a few minutes on 2 cores
    python benchmarks/bench_sweeps.py --smoke      # tiny sizes, seconds
    python benchmarks/bench_sweeps.py --out /tmp/sweeps.json --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from innlab import RealNVP, train_inn
from innlab.data import two_moons
from innlab.sweeps import run_sweep, train_inn_vectorized
from innlab.sweeps.executors import prepare_worker

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine_info, write_result  # noqa: E402

DEFAULT_OUT = Path(__file__).parent / "results" / "sweeps.json"
SMOKE_OUT = Path(__file__).parent / "results" / "sweeps_smoke.json"
SEEDS = 8


def bench_vectorized(hidden: int, blocks: int, n: int, epochs: int, repeats: int) -> dict[str, Any]:
    """Median wall and CPU seconds of 8 sequential ``train_inn`` runs and of one vectorised run."""
    data = [two_moons(n, seed=s)[0] for s in range(SEEDS)]
    settings = {"epochs": epochs, "batch_size": 256, "lr": 1e-3}

    def sequential() -> list[RealNVP]:
        models = [RealNVP(2, hidden, blocks, seed=s) for s in range(SEEDS)]
        for s, (model, x) in enumerate(zip(models, data, strict=True)):
            train_inn(model, x, seed=s, progress=False, **settings)
        return models

    def vectorized() -> list[RealNVP]:
        models = [RealNVP(2, hidden, blocks, seed=s) for s in range(SEEDS)]
        train_inn_vectorized(models, data, seeds=list(range(SEEDS)), **settings)
        return models

    def one_big_batch() -> list[RealNVP]:
        """One model, 8x the data and the batch: the same steps and arithmetic as 8 seeds
        together, without any per-seed bookkeeping; bounds what batching seeds can gain."""
        model = RealNVP(2, hidden, blocks, seed=0)
        big = {**settings, "batch_size": SEEDS * 256}
        train_inn(model, torch.cat(data), seed=0, progress=False, **big)
        return [model]

    sequential(), vectorized(), one_big_batch()  # warm up: first-call imports, allocations
    runs = {"sequential": sequential, "vectorized": vectorized, "one_big_batch": one_big_batch}
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            models = run()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
            if name == "sequential":
                reference = models
            elif name == "vectorized":
                together = models
    difference = max(
        float((a - b).detach().abs().max())
        for ma, mb in zip(reference, together, strict=True)
        for a, b in zip(ma.parameters(), mb.parameters(), strict=True)
    )
    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    return {
        "model": f"RealNVP(2, {hidden}, {blocks})",
        "seeds": SEEDS,
        "train_size": n,
        "epochs": epochs,
        "batch_size": 256,
        "threads": torch.get_num_threads(),
        "seconds": times,
        "median_seconds": medians,
        "speedup": medians["sequential"] / medians["vectorized"],
        "cpu_seconds": cpu,
        "cpu_speedup": cpu_medians["sequential"] / cpu_medians["vectorized"],
        "batching_bound": medians["sequential"] / medians["one_big_batch"],
        "max_weight_difference": difference,
    }


def bench_overhead(trials: int, workers: int, epochs: int, first_lr: float) -> dict[str, Any]:
    """Wall time of a ``trials``-trial local sweep against its in-trial training time."""
    lrs = [first_lr * 1.25**i for i in range(trials // 3)]
    config = {
        "name": "overhead",
        "seeds": 3,
        "vectorize": False,
        "data": {"name": "moons", "test_size": 1000},
        "base": {"hidden_size": 32, "blocks": 4, "train_size": 2000, "epochs": epochs},
        "sweep": {"grid": {"lr": lrs}},
    }
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        records = run_sweep(config, out, workers=workers)
        wall = time.perf_counter() - started
    train = sum(r["metrics"]["train_seconds"] for r in records)
    evaluation = sum(r["metrics"]["eval_seconds"] for r in records)
    return {
        "trials": len(records),
        "workers": workers,
        "epochs": epochs,
        "wall_seconds": wall,
        "train_seconds_sum": train,
        "eval_seconds_sum": evaluation,
        "overhead": 1 - train / (wall * workers),
        "evaluation_share": evaluation / (wall * workers),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--out", type=Path, help=f"JSON results (default {DEFAULT_OUT})")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    args = parser.parse_args(argv)

    prepare_worker(threads=2)
    if args.smoke:
        vectorized = bench_vectorized(hidden=16, blocks=2, n=512, epochs=1, repeats=1)
        sizes = {"trials": 6, "workers": 2, "epochs": 1}
    else:
        vectorized = bench_vectorized(hidden=64, blocks=8, n=2000, epochs=5, repeats=args.repeats)
        sizes = {"trials": 24, "workers": 2, "epochs": 40}
    # cold: this process starts the worker processes (forkserver, imports); warm: a second
    # sweep of new trials reuses the running forkserver, as later sweeps of a session do
    overhead = bench_overhead(**sizes, first_lr=1e-3)
    warm = bench_overhead(**sizes, first_lr=1.1e-3)
    print(
        f"vectorised seeds: {SEEDS} x {vectorized['model']}, {vectorized['threads']} threads: "
        f"sequential {vectorized['median_seconds']['sequential']:.2f} s, "
        f"vectorised {vectorized['median_seconds']['vectorized']:.2f} s, "
        f"speed-up {vectorized['speedup']:.2f}x (target >= 4; in CPU time "
        f"{vectorized['cpu_speedup']:.2f}x; one model with 8x the batch: "
        f"{vectorized['batching_bound']:.2f}x); "
        f"max weight difference {vectorized['max_weight_difference']:.1e}"
    )
    for label, result in (("cold", overhead), ("warm", warm)):
        print(
            f"local executor ({label}): {result['trials']} trials, {result['workers']} workers: "
            f"wall {result['wall_seconds']:.1f} s, training {result['train_seconds_sum']:.1f} s, "
            f"overhead {100 * result['overhead']:.1f}% (target < 10%; evaluation "
            f"{100 * result['evaluation_share']:.1f}% of the wall x workers)"
        )
    result = {
        "benchmark": "sweeps",
        "smoke": args.smoke,
        "machine": machine_info(),
        "vectorized_seeds": vectorized,
        "local_executor": overhead,
        "local_executor_warm": warm,
    }
    write_result(result, args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""innlab's RealNVP against FrEIA, nflows, normflows, zuko and a plain PyTorch flow, on the CPU.

Every library builds the closest equivalent of innlab's model (see ``_peers.py``): the same
number of affine coupling blocks, subnetworks with two hidden ReLU layers of the same width,
output layers starting at zero, a fixed random rotation or permutation between blocks and no
normalisation layers. innlab runs in both layouts, ``shared_subnet=True`` (one subnet yields
``s~`` and ``t``) and the default separate ``s``/``t`` networks.

Workloads (batch 256, float32):

* ``moons``: two moons (noise 0.1), d=2, hidden 64, 8 blocks;
* ``digits``: scikit-learn's 8x8 digits, dequantised and logit-transformed (innlab's
  ``PixelPreprocessing``), d=64, hidden 256, 8 blocks;
* ``moons-cond``: ``moons`` conditioned on the one-hot moon label (2 features); normflows is
  skipped because its ``MaskedAffineFlow`` takes no context.

Figures per library, workload and thread count:

* training steps/s: Adam with lr 1e-3, after a warm-up, median of repeats, each repeat one pass
  over fresh data of a calibrated number of steps; peers use ``torch.optim.Adam`` with its
  defaults, innlab is timed through ``train_inn(..., progress=False)`` itself (fused Adam, its
  gradient-norm check, everything a user runs);
* log_prob points/s and sampling points/s under ``torch.inference_mode`` (100k points on the
  two-dimensional workloads, 10k on ``digits`` to keep the run short), median of repeats;
* parameter count (trainable only);
* time-to-quality on ``moons`` (at the first thread count): 3,000 steps (75 epochs of 10k
  points) per model, test NLL on 2k held-out points after every epoch (40 steps) through the
  library's own ``log_prob``; the seconds until the test NLL is within 0.05 nats of the best
  value any model reached in the run (evaluation time excluded). ``--cosine`` adds innlab
  runs with its documented ``schedule="cosine"`` (they join the reference value).

Ratios are innlab's figure over a peer's from the same run. The targets printed at the end:
innlab-shared training >= 1.5x the fastest one-subnet peer (FrEIA, nflows, zuko) on ``moons``
and >= 1.2x on ``digits``; innlab-separate training >= 1.5x normflows on ``moons`` (1.2x on
``digits``) and >= 1x the fastest one-subnet peer on ``moons``; log_prob and sampling of both
layouts >= 1.5x the fastest peer of any layout on ``moons`` and ``digits``; time-to-quality no
worse than the fastest peer's. plain-torch is a reference, never a peer in the targets.

Repeats run round-robin over the models of a workload, so slow drifts of the machine's load
spread over all of them. The results are still only as quiet as the machine: the JSON records
the load average before and after the run and every repeat.

Deviations each library forces (also printed, and saved in the JSON):

* FrEIA: ``AffineCouplingOneSided`` with ``clamp=1, clamp_activation="TANH"`` is innlab's
  coupling exactly; ``FixedLinearTransform`` (a random orthogonal ``M``) adds ``b = 0`` and its
  constant log-determinant every call.
* nflows: ``AffineCouplingTransform``'s scale is ``sigmoid(s~ + 2) + 1e-3``, at most 1.001
  from data to code, so it cannot expand data whose spread is below the code's (two moons):
  expect a poor NLL there, not a bug in this script; permutations
  (``RandomPermutation``, ``ReversePermutation`` for d=2) instead of rotations; the subnet is a
  hand-written module because nflows' ``MLP`` takes no context.
* normflows: ``MaskedAffineFlow`` with separate ``s`` (tanh output) and ``t`` MLPs that see all
  ``d`` features (masked) and emit ``d`` values; ``Permute`` (shuffle, swap for d=2) instead of
  rotations; ``sample`` also computes ``log q``; no conditional variant.
* zuko: ``GeneralCouplingTransform`` with ``MonotonicAffineTransform(slope=e^-1)``, whose
  log-scale ``a / (1 + |a|)`` is bounded by 1 like ``tanh``; the rotation is
  ``RotationTransform`` (``matrix_exp(A - A^T)`` of a fixed buffer, recomputed every call).
* plain-torch: none (about 40 lines of PyTorch, one subnet per block, default Adam).

Usage::

    python benchmarks/bench_peers.py                      # full run, threads 1 and 2
    python benchmarks/bench_peers.py --smoke              # every model and workload, seconds
    python benchmarks/bench_peers.py --cosine             # time-to-quality also with cosine lr
    python benchmarks/bench_peers.py --threads 1 --workloads moons --models innlab-shared zuko
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import (  # noqa: E402
    BUILDERS,
    ONE_SUBNET_PEERS,
    PEERS,
    SEPARATE_PEERS,
    Arch,
    Runner,
    Unsupported,
    build_innlab,
)

DEFAULT_OUT = Path(__file__).parent / "results" / "peers.json"
SMOKE_OUT = Path(__file__).parent / "results" / "peers_smoke.json"
SEED = 0
TOLERANCE = 0.05  # nats: time-to-quality threshold above the best test NLL of the run
METRICS = ("train_steps_per_s", "log_prob_points_per_s", "sample_points_per_s")


@dataclass(frozen=True)
class Settings:
    batch: int = 256
    repeat_seconds: float = 0.5  # target length of one timed training repeat
    min_steps: int = 10
    max_steps: int = 1000
    warmup_steps: int = 10
    repeats: int = 3
    eval_points: tuple[tuple[str, int], ...] = (
        ("moons", 100_000),
        ("digits", 10_000),
        ("moons-cond", 100_000),
    )
    ttq_train: int = 10_000
    ttq_test: int = 2_000
    ttq_epochs: int = 75  # 40 steps per epoch at batch 256: 3,000 steps

    def points(self, workload: str) -> int:
        return dict(self.eval_points)[workload]


FULL = Settings()
SMOKE = Settings(
    repeat_seconds=0.0,
    min_steps=2,
    max_steps=2,
    warmup_steps=2,
    repeats=1,
    eval_points=(("moons", 512), ("digits", 512), ("moons-cond", 512)),
    ttq_train=1024,
    ttq_test=256,
    ttq_epochs=2,
)


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    name: str
    arch: Arch
    draw: Callable[[int, int], tuple[Tensor, Tensor | None]]  # (n, seed) -> (x, c)


def draw_moons(n: int, seed: int) -> tuple[Tensor, None]:
    from innlab.data import two_moons

    return two_moons(n, noise=0.1, seed=seed)[0], None


def draw_moons_cond(n: int, seed: int) -> tuple[Tensor, Tensor]:
    from innlab.data import one_hot, two_moons

    x, y = two_moons(n, noise=0.1, seed=seed)
    return x, one_hot(y, 2)


@cache
def digit_pixels() -> Tensor:
    from innlab.data import digits

    return digits("train")[0]


def draw_digits(n: int, seed: int) -> tuple[Tensor, None]:
    """``n`` digits drawn with replacement, dequantised and logit-transformed."""
    from innlab.data import DIGITS_LEVELS, PixelPreprocessing

    pixels = digit_pixels()
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randint(pixels.shape[0], (n,), generator=generator)
    prep = PixelPreprocessing(levels=DIGITS_LEVELS)
    y, _ = prep.forward(prep.dequantize(pixels[rows], generator=generator))
    return y, None


WORKLOADS = {
    "moons": Workload("moons", Arch(2, 64, 8), draw_moons),
    "digits": Workload("digits", Arch(64, 256, 8), draw_digits),
    "moons-cond": Workload("moons-cond", Arch(2, 64, 8, cond=2), draw_moons_cond),
}


# --------------------------------------------------------------------------- measurements


def check_runner(runner: Runner, x: Tensor, c: Tensor | None) -> None:
    """Fail loudly if a model's log_prob or sample has the wrong shape or is not finite."""
    with torch.inference_mode():
        log_p = runner.log_prob(x, c)
        samples = runner.sample(x.shape[0], c)
    if log_p.shape != (x.shape[0],) or not bool(log_p.isfinite().all()):
        raise RuntimeError(f"{runner.name}: log_prob gave shape {tuple(log_p.shape)} or non-finite")
    if samples.shape != x.shape or not bool(samples.isfinite().all()):
        raise RuntimeError(f"{runner.name}: sample gave shape {tuple(samples.shape)} or non-finite")


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """``(wall seconds, process CPU seconds)`` of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def no_grad_call(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def call() -> Any:
        with torch.inference_mode():
            return fn(*args)

    return call


def measure_workload(
    workload: Workload, models: list[str], settings: Settings, threads: int
) -> list[dict[str, Any]]:
    """Throughput of every model on one workload; repeats run round-robin over the models."""
    arch, batch = workload.arch, settings.batch
    n_eval = settings.points(workload.name)
    x_eval, c_eval = workload.draw(n_eval, 1)
    jobs: dict[str, dict[str, tuple[int, Callable[[], Any]]]] = {}
    runners: dict[str, Runner] = {}
    skipped = []
    for name in models:
        try:
            runner = BUILDERS[name](arch, SEED)
        except Unsupported as reason:
            skipped.append(
                {
                    "workload": workload.name,
                    "threads": threads,
                    "model": name,
                    "skipped": str(reason),
                }
            )
            continue
        # warm-up: a short fit (which also calibrates the repeat length), log_prob and sample
        x_warm, c_warm = workload.draw(settings.warmup_steps * batch, 2)
        fit = partial(runner.fit, epochs=1, batch_size=batch, seed=0)
        per_step = timed(partial(fit, x_warm, c_warm))[0] / settings.warmup_steps
        check_runner(runner, x_eval[:1000], None if c_eval is None else c_eval[:1000])
        steps = round(settings.repeat_seconds / per_step)
        steps = min(max(steps, settings.min_steps), settings.max_steps)
        x_train, c_train = workload.draw(steps * batch, 3)
        runners[name] = runner
        jobs[name] = {
            "train_steps_per_s": (steps, partial(fit, x_train, c_train)),
            "log_prob_points_per_s": (n_eval, no_grad_call(runner.log_prob, x_eval, c_eval)),
            "sample_points_per_s": (n_eval, no_grad_call(runner.sample, n_eval, c_eval)),
        }

    rates: dict[str, dict[str, list[float]]] = {
        name: {metric: [] for metric in METRICS} for name in jobs
    }
    busy: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(settings.repeats):
        for name, model_jobs in jobs.items():
            for metric, (count, job) in model_jobs.items():
                wall, cpu = timed(job)
                rates[name][metric].append(count / wall)
                busy[name].append(cpu / (wall * threads))

    rows = []
    for name, runner in runners.items():
        row = {
            "workload": workload.name,
            "threads": threads,
            "model": name,
            "library": runner.library,
            "layout": runner.layout,
            "parameters": runner.num_parameters,
        }
        row.update({metric: statistics.median(rates[name][metric]) for metric in METRICS})
        row["train_steps_per_repeat"] = jobs[name]["train_steps_per_s"][0]
        row["eval_points"] = n_eval
        # CPU seconds / (wall seconds x threads): well below 1 means the process waited for a core
        row["cpu_busy"] = statistics.median(busy[name])
        row["repeats"] = rates[name]
        rows.append(row)
    return rows + skipped


class HeldOutMonitor:
    """Epoch callback: held-out NLL against training seconds, evaluation time excluded."""

    def __init__(self, runner: Runner, x_test: Tensor) -> None:
        self.runner, self.x_test = runner, x_test
        self.record: dict[str, Any] = {"steps": [], "seconds": [], "test_nll": []}
        self.evaluating = 0.0  # seconds spent in this callback so far
        self.start = time.perf_counter()

    def __call__(self, steps: int) -> None:
        began = time.perf_counter()
        with torch.inference_mode():
            nll = float(-self.runner.log_prob(self.x_test, None).mean())
        self.record["steps"].append(steps)
        self.record["seconds"].append(began - self.start - self.evaluating)
        self.record["test_nll"].append(nll)
        self.evaluating += time.perf_counter() - began


def time_to_quality(
    models: list[str], settings: Settings, threads: int, cosine: bool
) -> dict[str, Any]:
    """Train every model on two moons, recording the held-out NLL after every epoch."""
    arch = WORKLOADS["moons"].arch
    x_train, _ = draw_moons(settings.ttq_train, 0)
    x_test, _ = draw_moons(settings.ttq_test, 1)
    variants: list[tuple[str, Callable[[], Runner]]] = []
    for name in models:
        variants.append((name, partial(BUILDERS[name], arch, SEED)))
        if cosine and name.startswith("innlab"):  # innlab's documented cosine lr decay
            shared = name == "innlab-shared"
            decayed = partial(build_innlab, arch, SEED, shared_subnet=shared, schedule="cosine")
            variants.append((f"{name}+cosine", decayed))

    series: dict[str, dict[str, Any]] = {}
    for name, build in variants:
        monitor = HeldOutMonitor(build(), x_test)
        monitor.runner.fit(
            x_train,
            None,
            epochs=settings.ttq_epochs,
            batch_size=settings.batch,
            seed=SEED,
            on_epoch=monitor,
        )
        series[name] = monitor.record

    finite = [v for s in series.values() for v in s["test_nll"] if math.isfinite(v)]
    best = min(finite) if finite else math.nan
    for record in series.values():
        reached = [
            (seconds, steps)
            for seconds, steps, nll in zip(
                record["seconds"], record["steps"], record["test_nll"], strict=True
            )
            if nll <= best + TOLERANCE
        ]
        record["time_to_quality_s"], record["steps_to_quality"] = (
            reached[0] if reached else (None, None)
        )
        record["best_test_nll"] = min(record["test_nll"]) if record["test_nll"] else None
        record["final_test_nll"] = record["test_nll"][-1] if record["test_nll"] else None
    return {
        "threads": threads,
        "train_points": settings.ttq_train,
        "test_points": settings.ttq_test,
        "epochs": settings.ttq_epochs,
        "batch": settings.batch,
        "tolerance_nats": TOLERANCE,
        "reference_nll": best,
        "series": series,
    }


# --------------------------------------------------------------------------- ratios and targets


def fastest(rows: dict[str, dict[str, Any]], names: tuple[str, ...], metric: str):
    """``(name, value)`` of the fastest of ``names`` present in ``rows``, or ``None``."""
    present = [(rows[n][metric], n) for n in names if n in rows]
    if not present:
        return None
    value, name = max(present)
    return name, value


def compute_ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """innlab's throughput over the peers', within each (threads, workload, metric)."""
    comparisons = (
        ("innlab-shared", "fastest one-subnet peer", ONE_SUBNET_PEERS),
        ("innlab-separate", "normflows", SEPARATE_PEERS),
        ("innlab-separate", "fastest one-subnet peer", ONE_SUBNET_PEERS),
        ("innlab-shared", "fastest peer", PEERS),
        ("innlab-separate", "fastest peer", PEERS),
        ("innlab-shared", "plain-torch", ("plain-torch",)),
    )
    ratios = []
    groups = dict.fromkeys((r["threads"], r["workload"]) for r in results)
    for threads, workload in groups:
        rows = {
            r["model"]: r
            for r in results
            if r["threads"] == threads and r["workload"] == workload and "skipped" not in r
        }
        for metric in METRICS:
            for ours, label, names in comparisons:
                best = fastest(rows, names, metric)
                if ours not in rows or best is None:
                    continue
                ratios.append(
                    {
                        "threads": threads,
                        "workload": workload,
                        "metric": metric,
                        "innlab": ours,
                        "versus": label,
                        "peer": best[0],
                        "ratio": rows[ours][metric] / best[1],
                    }
                )
    return ratios


def check_targets(ratios: list[dict[str, Any]], ttq: dict[str, Any] | None) -> list[dict]:
    """The lead's targets, each with its measured ratio and whether it holds."""
    wanted: list[tuple[str, tuple[str, ...], str, str, float]] = [
        # (workload, metrics, innlab model, versus, minimum ratio)
        ("moons", ("train_steps_per_s",), "innlab-shared", "fastest one-subnet peer", 1.5),
        ("moons", ("train_steps_per_s",), "innlab-separate", "normflows", 1.5),
        ("moons", ("train_steps_per_s",), "innlab-separate", "fastest one-subnet peer", 1.0),
        ("digits", ("train_steps_per_s",), "innlab-shared", "fastest one-subnet peer", 1.2),
        ("digits", ("train_steps_per_s",), "innlab-separate", "normflows", 1.2),
    ]
    for workload in ("moons", "digits"):
        for ours in ("innlab-shared", "innlab-separate"):
            wanted.append(
                (
                    workload,
                    ("log_prob_points_per_s", "sample_points_per_s"),
                    ours,
                    "fastest peer",
                    1.5,
                )
            )
    targets = []
    for workload, metrics, ours, versus, minimum in wanted:
        for r in ratios:
            if (r["workload"], r["innlab"], r["versus"]) == (workload, ours, versus) and (
                r["metric"] in metrics
            ):
                targets.append(
                    {
                        "target": f"{workload} {r['metric']}: {ours} >= {minimum}x {versus}",
                        "threads": r["threads"],
                        "peer": r["peer"],
                        "ratio": r["ratio"],
                        "holds": r["ratio"] >= minimum,
                    }
                )
    if ttq is not None:
        series = ttq["series"]
        peer_times = [
            (series[p]["time_to_quality_s"], p)
            for p in PEERS
            if p in series and series[p]["time_to_quality_s"] is not None
        ]
        for ours in [n for n in series if n.startswith("innlab")]:
            mine = series[ours]["time_to_quality_s"]
            peer_time, peer = min(peer_times) if peer_times else (None, None)
            holds = mine is not None and (peer_time is None or mine <= peer_time)
            targets.append(
                {
                    "target": f"moons time-to-quality: {ours} <= fastest peer",
                    "threads": ttq["threads"],
                    "peer": peer,
                    "ratio": None if mine is None or peer_time is None else mine / peer_time,
                    "holds": holds,
                }
            )
    return targets


# --------------------------------------------------------------------------- output


def fmt_rate(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k"


def spread(values: list[float]) -> str:
    """(max - min) / median of the repeats, in percent: a rough noise indicator."""
    if len(values) < 2:
        return "-"
    return f"{100 * (max(values) - min(values)) / statistics.median(values):.0f}%"


def print_results(results: list[dict[str, Any]]) -> None:
    header = (
        f"{'threads':>7} {'workload':<10} {'model':<15} {'layout':<12} {'params':>9} "
        f"{'train step/s':>12} {'+-':>4} {'log_prob pt/s':>13} {'sample pt/s':>11} {'busy':>5}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if "skipped" in r:
            print(
                f"{r['threads']:>7} {r['workload']:<10} {r['model']:<15} skipped (see deviations)"
            )
            continue
        print(
            f"{r['threads']:>7} {r['workload']:<10} {r['model']:<15} {r['layout']:<12} "
            f"{r['parameters']:>9,} {r['train_steps_per_s']:>12.1f} "
            f"{spread(r['repeats']['train_steps_per_s']):>4} "
            f"{fmt_rate(r['log_prob_points_per_s']):>13} {fmt_rate(r['sample_points_per_s']):>11} "
            f"{r['cpu_busy']:>5.0%}"
        )
    print(
        "+-: spread of the training repeats, (max - min) / median; busy: CPU time / "
        "(wall time x threads), well below 100% means the process waited for a core"
    )


def print_ttq(ttq: dict[str, Any]) -> None:
    print(
        f"\ntime-to-quality on moons (threads={ttq['threads']}, {ttq['epochs']} epochs of "
        f"{ttq['train_points']} points, batch {ttq['batch']}): reference NLL "
        f"{ttq['reference_nll']:.4f} nats (best of the run), threshold +{ttq['tolerance_nats']}"
    )
    print(
        f"{'model':<24} {'final NLL':>10} {'best NLL':>10} {'train s':>8} {'step/s':>7} "
        f"{'to quality s':>12} {'steps':>6}"
    )
    for name, s in ttq["series"].items():
        reach, steps = s["time_to_quality_s"], s["steps_to_quality"]
        print(
            f"{name:<24} {s['final_test_nll']:>10.4f} {s['best_test_nll']:>10.4f} "
            f"{s['seconds'][-1]:>8.1f} {s['steps'][-1] / s['seconds'][-1]:>7.1f} "
            f"{'never' if reach is None else f'{reach:.1f}':>12} "
            f"{'-' if steps is None else steps:>6}"
        )
    print("step/s: over the whole run, a second, longer (but not round-robin) training figure")


def print_ratios(ratios: list[dict[str, Any]], targets: list[dict[str, Any]]) -> None:
    print("\nratios innlab / peer, measured in the same run (train, log_prob, sample):")
    cells: dict[tuple, list[str]] = {}
    for r in ratios:
        key = (r["threads"], r["workload"], r["innlab"], r["versus"])
        cells.setdefault(key, []).append(f"{r['ratio']:.2f} ({r['peer']})")
    for (threads, workload, ours, versus), values in cells.items():
        label = f"{ours} / {versus}"
        print(f"  threads={threads} {workload:<10} {label:<42} {'  '.join(values)}")
    print("\ntargets:")
    for t in targets:
        ratio = "n/a" if t["ratio"] is None else f"{t['ratio']:.2f}"
        verdict = "holds" if t["holds"] else "MISSED"
        print(f"  threads={t['threads']} {t['target']} [{t['peer']}]: {ratio} -> {verdict}")


def print_deviations(deviations: dict[str, list[str]]) -> None:
    print("\ndeviations from innlab's architecture:")
    for name, items in deviations.items():
        for item in items or ["none"]:
            print(f"  {name}: {item}")


def progress(started: float, what: str) -> None:
    print(f"[{time.perf_counter() - started:5.0f} s] {what} ...", file=sys.stderr, flush=True)


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(), "torch": torch.__version__}
    for dist in ("innlab", "FrEIA", "nflows", "normflows", "zuko", "numpy", "scikit-learn"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def collect_deviations(models: list[str]) -> dict[str, list[str]]:
    deviations = {}
    for name in models:
        runner = BUILDERS[name](Arch(4, 8, 2), SEED)
        deviations[name] = runner.deviations
    for name in models:
        if name.startswith("innlab"):
            deviations[name] = ["the reference; trained by innlab.train_inn (fused Adam)"]
    return deviations


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps per model: seconds")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        help="torch thread counts to run (default 1 2; with --smoke: 1)",
    )
    parser.add_argument("--out", type=Path, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument(
        "--models", nargs="+", choices=list(BUILDERS), default=list(BUILDERS), metavar="MODEL"
    )
    parser.add_argument(
        "--workloads",
        nargs="+",
        choices=list(WORKLOADS),
        default=list(WORKLOADS),
        metavar="WORKLOAD",
    )
    parser.add_argument("--skip-ttq", action="store_true", help="skip the time-to-quality runs")
    parser.add_argument(
        "--ttq-epochs",
        type=int,
        help=f"time-to-quality epochs of {FULL.ttq_train} points (default {FULL.ttq_epochs})",
    )
    parser.add_argument(
        "--cosine",
        action="store_true",
        help="time-to-quality: also train innlab with schedule='cosine' (about 1 minute more)",
    )
    args = parser.parse_args(argv)
    settings = SMOKE if args.smoke else FULL
    if args.ttq_epochs is not None:
        settings = replace(settings, ttq_epochs=args.ttq_epochs)
    thread_counts = args.threads or ([1] if args.smoke else [1, 2])
    torch.set_default_dtype(torch.float32)

    started = time.perf_counter()
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    ttq = None
    for threads in thread_counts:
        torch.set_num_threads(threads)
        for name in args.workloads:
            progress(started, f"threads={threads} {name}")
            results += measure_workload(WORKLOADS[name], args.models, settings, threads)
        if ttq is None and not args.skip_ttq:
            progress(started, f"threads={threads} time-to-quality")
            ttq = time_to_quality(args.models, settings, threads, args.cosine)

    ratios = compute_ratios(results)
    targets = check_targets(ratios, ttq)
    deviations = collect_deviations(args.models)
    print_results(results)
    if ttq is not None:
        print_ttq(ttq)
    print_ratios(ratios, targets)
    print_deviations(deviations)

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "versions": versions(),
        "threads": thread_counts,
        "dtype": "float32",
        "smoke": args.smoke,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "wall_seconds": time.perf_counter() - started,
    }
    report = {
        "meta": meta,
        "settings": asdict(settings),
        "workloads": {name: asdict(WORKLOADS[name].arch) for name in args.workloads},
        "deviations": deviations,
        "throughput": results,
        "time_to_quality": ttq,
        "ratios": ratios,
        "targets": targets,
    }
    out = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nwrote {out}: {meta['wall_seconds']:.0f} s on {meta['cpu_count']} CPUs, load average "
        f"{meta['load_average_before'][0]:.1f} before and {meta['load_average_after'][0]:.1f} after"
    )
    return report


if __name__ == "__main__":
    main()

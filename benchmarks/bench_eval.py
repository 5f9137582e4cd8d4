"""Would evaluation gain from the analytic passes? The held-out NLL, two ways, in one process.

Training evaluates the mean held-out NLL after every epoch. The plain path is
``Flow.log_prob_unchecked`` under ``torch.no_grad`` over innlab's evaluation chunks. The
alternative runs only the forward half of the analytic training passes
(``Transform.analytic_pass``): every buffer preallocated for the batch size and reused, fused
in-place arithmetic, the log-dets summed per batch (so it gives the mean NLL, not per-point
log-densities). Both run round-robin on the same model and points; the ratio is
``plain / analytic`` (above 1: the passes are faster).

Measured 2026-12-01 on the project's 2-core machine (1 thread, 9 repeats): 0.76-0.97 on the
toy and MNIST held-out sets, 1.17 on the 216 digits (0.3 ms an epoch), so evaluation stays on
the plain path: without autograd it already spends its time in the matrix products of a few
large batches, and the passes' extra stores for their backward half cost more than their
preallocation saves.

Usage::

    python benchmarks/bench_eval.py                 # the report's workloads, about a minute
    python benchmarks/bench_eval.py --smoke         # tiny sizes, seconds
    python benchmarks/bench_eval.py --threads 1 2 --out /tmp/eval.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from innlab import RealNVP

sys.path.insert(0, str(Path(__file__).parent))
from _results import machine_info, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results"


class Workload(NamedTuple):
    name: str
    dim: int
    hidden: int
    blocks: int
    points: int  # held-out points per evaluation


WORKLOADS = [
    Workload("moons quick (h64 B8)", 2, 64, 8, 2_000),
    Workload("moons full (h128 B12)", 2, 128, 12, 5_000),
    Workload("hexagon full (h64 B16)", 2, 64, 16, 5_000),
    Workload("digits (h128 B8)", 64, 128, 8, 216),
    Workload("MNIST full (h384 B8)", 64, 384, 8, 5_000),
]
SMOKE = [Workload("smoke 2-D", 2, 8, 2, 300), Workload("smoke 64-D", 64, 16, 2, 300)]


def plain_nll(flow: RealNVP, x: Tensor) -> Callable[[], float]:
    """The mean NLL as training evaluates it (``_Run._test_nll``)."""

    def run() -> float:
        with torch.no_grad():
            log_p = flow.in_chunks(flow.log_prob_unchecked, x, None)
        return float(-log_p.double().mean())

    return run


def analytic_nll(flow: RealNVP, x: Tensor) -> Callable[[], float]:
    """The mean NLL by the forward half of the analytic passes, built once for all of ``x``."""
    for p in flow.parameters():
        p.grad = torch.zeros_like(p)  # the passes keep views of the gradients
    buffer = torch.empty_like(x)
    log_det_sums = x.new_zeros(len(flow.layers))
    grad_log_det = x.new_full((1,), -1.0 / x.shape[0])
    passes, inputs = [], buffer
    for i, transform in enumerate(flow.layers):
        step = transform.analytic_pass(inputs, None, log_det_sums[i], grad_log_det)
        assert step is not None
        passes.append(step)
        inputs = step.y
    constant = 0.5 * flow.input_size * math.log(2 * math.pi)

    def run() -> float:
        with torch.no_grad():
            buffer.copy_(x)
            for step in passes:
                z = step.forward()
            flat = z.reshape(-1)
            squares, log_det = float(torch.dot(flat, flat)), float(log_det_sums.sum())
        return (0.5 * squares - log_det) / x.shape[0] + constant

    return run


def measure(workload: Workload, repeats: int) -> dict[str, Any]:
    """Median seconds of both evaluations, timed round-robin, and the NLLs they agree on."""
    flow = RealNVP(workload.dim, workload.hidden, workload.blocks, shared_subnet=True, seed=0)
    x = torch.randn(workload.points, workload.dim, generator=torch.Generator().manual_seed(0))
    runs = {"plain": plain_nll(flow.eval(), x), "analytic": analytic_nll(flow, x)}
    values = {name: run() for name, run in runs.items()}  # warm-up, and the agreement check
    if not math.isclose(values["plain"], values["analytic"], rel_tol=1e-5):
        raise AssertionError(f"the two evaluations disagree: {values}")
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    return {
        **workload._asdict(),
        "seconds": medians,
        "ratio": medians["plain"] / medians["analytic"],
        "nll": values["plain"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 2 repeats")
    parser.add_argument("--out", type=Path, default=RESULTS / "eval.json")
    args = parser.parse_args(argv)
    workloads, repeats = (SMOKE, 2) if args.smoke else (WORKLOADS, args.repeats)
    rows = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for workload in workloads:
            row = {"threads": threads, **measure(workload, repeats)}
            rows.append(row)
            ms = {k: f"{v * 1e3:.1f} ms" for k, v in row["seconds"].items()}
            print(f"{threads} thread(s) {workload.name:24s} plain {ms['plain']:>9s}  "
                  f"analytic {ms['analytic']:>9s}  plain/analytic {row['ratio']:.2f}")  # fmt: skip
    result = {
        "benchmark": "bench_eval",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "repeats": repeats,
        "machine": machine_info(),
        "rows": rows,
    }
    write_result(result, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

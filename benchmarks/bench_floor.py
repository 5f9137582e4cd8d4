"""The matrix-product floor of a workload, and the speed-ups over peers it allows.

The digits workload of the peer benchmark (d = 64, hidden 256, 8 blocks, batch 256, float32)
spends most of its time in matrix products, which every library hands to the same CPU kernels;
two moons (d = 2, hidden 64, 8 blocks) spends most of it on per-operation overhead, the rest on
products. This benchmark times, in one process and for each thread count:

* the floor of each innlab layout: only the matrix products of one training step (forward and
  backward, every product autograd runs) and of one ``log_prob`` pass over 10k points (the
  faster of one pass and innlab's evaluation chunks), on preallocated contiguous tensors;
* innlab itself (``train_inn``; ``log_prob``) and the peers FrEIA, nflows, zuko and normflows,
  built as in ``bench_peers.py``.

No implementation of a layout can run faster than its floor, so it can beat a peer by at most
``peer time / floor``. Where that bound is below a target ratio of the peer benchmark, the
target cannot be reached on this machine by any implementation of the same model.

Usage::

    python benchmarks/bench_floor.py                   # digits, about 2 minutes on 2 cores
    python benchmarks/bench_floor.py --workload moons  # two moons
    python benchmarks/bench_floor.py --smoke           # tiny sizes, seconds
    python benchmarks/bench_floor.py --threads 1 --out /tmp/floor.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import torch

from innlab import RealNVP

sys.path.insert(0, str(Path(__file__).parent))
from _peers import BUILDERS, PEERS, Arch  # noqa: E402
from _results import machine_info, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results"
Product = tuple[int, int, int, int]  # (g, m, k, n): g (m, k) @ (k, n) products as one call
WORKLOADS = {"digits": Arch(64, 256, 8), "moons": Arch(2, 64, 8)}


def training_products(arch: Arch, batch: int, shared: bool) -> list[Product]:
    """Every matrix product of one training step (forward and backward) of innlab's model; the
    separate layout's two networks run as one batched product per layer, as innlab runs them."""
    d1 = arch.dim // 2
    d2 = arch.dim - d1
    g = 1 if shared else 2
    out = 2 * d2 if shared else d2
    b, h, d = batch, arch.hidden, arch.dim
    products: list[Product] = []
    for block in range(arch.blocks):
        if block:  # rotation, and its input gradient
            products += [(1, b, d, d), (1, b, d, d)]
        products += [(g, b, d1, h), (g, b, h, h), (g, b, h, out)]  # forward
        products += [(g, b, out, h), (g, h, b, out)]  # output layer: input and weight gradients
        products += [(g, b, h, h), (g, h, b, h)]  # hidden layer
        products += [(g, d1, b, h)]  # first layer's weight gradient
        if block:  # the first block's input is data: no input gradient
            products += [(g, b, h, d1)]
    # an inner size of 1 is a broadcast product (elementwise work, as innlab runs it), not a
    # matrix product: the floor counts no elementwise work
    return [p for p in products if p[2] > 1]


def forward_products(arch: Arch, rows: int, shared: bool) -> list[Product]:
    """The matrix products of a forward pass (``log_prob``) over ``rows`` points."""
    d1 = arch.dim // 2
    out = 2 * (arch.dim - d1) if shared else arch.dim - d1
    g = 1 if shared else 2
    products: list[Product] = []
    for block in range(arch.blocks):
        if block:
            products.append((1, rows, arch.dim, arch.dim))
        products += [(g, rows, d1, arch.hidden), (g, rows, arch.hidden, arch.hidden)]
        products += [(g, rows, arch.hidden, out)]
    return products


def product_runner(products: list[Product], times: int = 1) -> Callable[[], None]:
    """A function that runs ``products`` ``times`` times on preallocated tensors."""
    operands = [
        (torch.randn(g, m, k), torch.randn(g, k, n), torch.empty(g, m, n))
        for g, m, k, n in products
    ]

    def run() -> None:
        for _ in range(times):
            for a, b, out in operands:
                if a.shape[0] == 1:
                    torch.mm(a[0], b[0], out=out[0])
                else:
                    torch.bmm(a, b, out=out)

    return run


def round_robin(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall seconds of every call over ``repeats`` rounds, after one warm-up round.

    Each round runs every call once, starting one place further along each time, so a slow
    spell of the shared machine falls on every call alike instead of on whichever was timed
    then (timed one after the other, the row-major floor and innlab's step once swapped
    places between two runs here)."""
    for call in calls.values():
        call()
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            started = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(arch: Arch, steps: int, eval_rows: int, repeats: int) -> dict[str, Any]:
    """Seconds per training step and per ``log_prob`` pass: floors, innlab, peers."""
    batch = 256
    generator = torch.Generator().manual_seed(0)
    x_train = torch.randn(steps * batch, arch.dim, generator=generator)
    x_eval = torch.randn(eval_rows, arch.dim, generator=generator)
    train: dict[str, Callable[[], Any]] = {}
    log_prob: dict[str, Callable[[], Any]] = {}
    for shared, layout in ((True, "shared"), (False, "separate")):
        floor = f"floor-{layout}"
        train[floor] = product_runner(training_products(arch, batch, shared), times=steps)
        log_prob[f"{floor}-one-pass"] = product_runner(forward_products(arch, eval_rows, shared))
        model = RealNVP(arch.dim, arch.hidden, arch.blocks, shared_subnet=shared)
        chunk = model.chunk_rows(element_size=4)  # innlab's evaluation chunk, float32
        log_prob[f"{floor}-chunks"] = product_runner(
            forward_products(arch, chunk, shared), -(-eval_rows // chunk)
        )
    for name in ("innlab-shared", "innlab-separate", *PEERS):
        runner = BUILDERS[name](arch, 0)
        train[name] = partial(runner.fit, x_train, None, epochs=1, batch_size=batch, seed=0)
        log_prob[name] = partial(_log_prob_no_grad, runner, x_eval)
    train_s = {k: v / steps for k, v in round_robin(train, repeats).items()}
    log_prob_s = round_robin(log_prob, repeats)
    for layout in ("shared", "separate"):  # the faster of one pass and innlab's chunks
        floor = f"floor-{layout}"
        log_prob_s[floor] = min(
            log_prob_s.pop(f"{floor}-one-pass"), log_prob_s.pop(f"{floor}-chunks")
        )
    return {"train_step_s": train_s, "log_prob_s": log_prob_s}


def _log_prob_no_grad(runner: Any, x: torch.Tensor) -> None:
    with torch.inference_mode():
        runner.log_prob(x)


def bounds(figures: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Per metric, innlab layout and peer: the measured speed-up and the floor's bound."""
    rows = []
    for metric, seconds in figures.items():
        for layout in ("shared", "separate"):
            ours, floor = seconds[f"innlab-{layout}"], seconds[f"floor-{layout}"]
            for peer in PEERS:
                rows.append(
                    {
                        "metric": metric,
                        "innlab": f"innlab-{layout}",
                        "peer": peer,
                        "floor_share_of_innlab": floor / ours,
                        "speedup": seconds[peer] / ours,
                        "bound": seconds[peer] / floor,
                    }
                )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--workload", choices=list(WORKLOADS), default="digits")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument(
        "--out", type=Path, help="JSON results (default benchmarks/results/floor-WORKLOAD.json)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        arch, steps, eval_rows, repeats = Arch(8, 16, 2), 2, 512, 1
    else:
        arch, repeats = WORKLOADS[args.workload], args.repeats
        # a training run calls train_inn once for thousands of steps: 100 amortise its setup
        steps, eval_rows = (100, 10_000) if args.workload == "digits" else (200, 100_000)

    runs = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        figures = measure(arch, steps, eval_rows, repeats)
        runs.append({"threads": threads, "seconds": figures, "bounds": bounds(figures)})
        print(f"threads={threads}: d={arch.dim}, hidden {arch.hidden}, {arch.blocks} blocks")
        print(
            f"  {'metric':<13} {'innlab':<16} {'peer':<10} {'floor/innlab':>12} "
            f"{'speed-up':>9} {'bound':>7}"
        )
        for row in runs[-1]["bounds"]:
            print(
                f"  {row['metric']:<13} {row['innlab']:<16} {row['peer']:<10} "
                f"{row['floor_share_of_innlab']:>12.2f} {row['speedup']:>8.2f}x "
                f"{row['bound']:>6.2f}x"
            )
    result = {
        "benchmark": "floor",
        "smoke": args.smoke,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "workload": {
            "name": "smoke" if args.smoke else args.workload,
            "dim": arch.dim,
            "hidden": arch.hidden,
            "blocks": arch.blocks,
        },
        "batch": 256,
        "steps": steps,
        "eval_rows": eval_rows,
        "runs": runs,
    }
    write_result(result, args.out or RESULTS / f"floor-{result['workload']['name']}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

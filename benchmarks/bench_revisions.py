"""innlab at two revisions in one process: training, log_prob and sampling, round-robin.

Timings of the same code move by tens of percent between processes on a shared machine, so a
before/after comparison run as two processes cannot resolve a 5% difference. Here both versions
are imported into one process (the baseline from ``git archive REV src``, the candidate from the
working tree or a second revision) and every repeat times them in alternating order, each on a
model and data built anew for that round (in one run, models built once moved single rows by
up to 20% either way: 0.83x in one run, 1.21x in the next); the ratio ``candidate / baseline``
of the medians is printed per workload, layout, thread count and measure (above 1: the
candidate is faster).

Measures (float32, models of 8 coupling blocks with the rotation between them, weights moved
off their zero initialisation so that every operation does real arithmetic):

* ``train``: steps/s of ``train_inn(model, data, epochs=1, batch_size=256, progress=False)``
  over ``--train-rows`` rows (everything a user's call does, setup included);
* ``log_prob`` and ``sample``: points/s under ``torch.inference_mode`` (100k points in 2-D,
  10k in 64-D), the public checked methods.

Workloads: ``moons`` (d=2, hidden 64), ``moons-cond`` (d=2, hidden 64, a 2-wide one-hot
condition) and ``digits`` (d=64, hidden 256), each with ``shared_subnet`` on and off. There is
no floor here: the question is only whether the candidate is slower than the baseline.

    python benchmarks/bench_revisions.py --baseline 16cff96 --threads 1 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import machine_info, write_result  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Workload:
    """One model shape and its evaluation size."""

    name: str
    dim: int
    hidden: int
    condition_size: int
    eval_rows: int


WORKLOADS = {
    "moons": Workload("moons", 2, 64, 0, 100_000),
    "moons-cond": Workload("moons-cond", 2, 64, 2, 100_000),
    "digits": Workload("digits", 64, 256, 0, 10_000),
}
MEASURES = ("train", "log_prob", "sample")


def export_source(revision: str, into: Path) -> Path:
    """Write ``src/`` of ``revision`` below ``into`` (``git archive``); return that ``src``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", revision, "src"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


class Version:
    """One copy of innlab in this process, with its own entries of ``sys.modules``.

    Functions import innlab's modules lazily at call time, so before a version's code runs its
    module entries are put back into ``sys.modules`` (:meth:`activate`); the imports of the two
    versions never mix.
    """

    def __init__(self, src: Path) -> None:
        self._swap_out()
        sys.path.insert(0, str(src))
        try:
            import innlab

            innlab.train_inn  # noqa: B018 - resolve the lazy export from this copy
            self.innlab = innlab
            self.modules = {n: m for n, m in sys.modules.items() if _is_innlab(n)}
        finally:
            sys.path.remove(str(src))

    def activate(self) -> None:
        """Make this version's modules the ones ``import innlab...`` finds."""
        self._swap_out()
        sys.modules.update(self.modules)

    @staticmethod
    def _swap_out() -> None:
        for name in [n for n in sys.modules if _is_innlab(n)]:
            del sys.modules[name]


def _is_innlab(name: str) -> bool:
    return name == "innlab" or name.startswith("innlab.")


def build(innlab: ModuleType, work: Workload, shared: bool) -> torch.nn.Module:
    """The workload's model, weights nudged off their zero start (same nudge for every version)."""
    model = innlab.RealNVP(
        work.dim, work.hidden, 8, work.condition_size, shared_subnet=shared, seed=0
    )
    noise = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=noise))
    return model


def measures(
    version: Version, work: Workload, shared: bool, train_rows: int
) -> dict[str, Callable[[], float]]:
    """Closures that run one timed call each and return the units it processed."""
    version.activate()
    innlab = version.innlab
    model = build(innlab, work, shared)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(work.eval_rows, work.dim, generator=gen)
    data = torch.randn(train_rows, work.dim, generator=gen)

    def one_hot(n: int) -> torch.Tensor | None:
        if not work.condition_size:
            return None
        return torch.nn.functional.one_hot(torch.arange(n) % work.condition_size).float()

    c, c_train, labels = one_hot(work.eval_rows), one_hot(train_rows), one_hot(work.condition_size)
    per_label = work.eval_rows // max(work.condition_size, 1)

    def train() -> float:
        innlab.train_inn(model, data, c_train, epochs=1, batch_size=256, progress=False, seed=0)
        return train_rows / 256

    def log_prob() -> float:
        with torch.inference_mode():
            model.log_prob(x, c)
        return work.eval_rows

    def sample() -> float:
        with torch.inference_mode():
            model.sample(per_label, labels, generator=3)
        return work.eval_rows

    return {"train": train, "log_prob": log_prob, "sample": sample}


def _fresh(
    version: Version, work: Workload, shared: bool, train_rows: int, measure: str
) -> Callable[[], float]:
    """One timed call of ``measure`` on a model and data built anew."""
    return measures(version, work, shared, train_rows)[measure]


def race(
    versions: dict[str, Version], make: dict[str, Callable[[], Callable[[], float]]], repeats: int
) -> dict[str, float]:
    """Units/s per version: median over ``repeats`` alternating rounds after one warm-up.

    Every round times a freshly built model and data (``make[tag]()``, not timed): where a
    tensor lands in memory moves a kernel's speed by several percent, and a model built once
    would carry its luck through every round."""
    rates: dict[str, list[float]] = {tag: [] for tag in make}
    order = list(make)
    for r in range(repeats + 1):
        for tag in order if r % 2 else order[::-1]:
            versions[tag].activate()
            call = make[tag]()
            start = time.perf_counter()
            units = call()
            if r:
                rates[tag].append(units / (time.perf_counter() - start))
    return {tag: statistics.median(v) for tag, v in rates.items()}


def compare(versions: dict[str, Version], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every workload, layout, thread count and measure; one row each, printed as it lands."""
    rows = []
    print(f"{'workload':<11}{'layout':<9}{'thr':>4} {'measure':<9}{'baseline':>11}"
          f"{'candidate':>11}{'ratio':>7}")  # fmt: skip
    for threads in args.threads:
        torch.set_num_threads(threads)
        for work in (WORKLOADS[w] for w in args.workloads):
            for shared in (True, False):
                for measure in args.measures:
                    make = {
                        tag: partial(_fresh, version, work, shared, args.train_rows, measure)
                        for tag, version in versions.items()
                    }
                    rate = race(versions, make, args.repeats)
                    row = {
                        "workload": work.name,
                        "layout": "shared" if shared else "separate",
                        "threads": threads,
                        "measure": measure,
                        "unit": "steps/s" if measure == "train" else "points/s",
                        **rate,
                        "ratio": rate["candidate"] / rate["baseline"],
                    }
                    rows.append(row)
                    print(f"{work.name:<11}{row['layout']:<9}{threads:>4} {measure:<9}"
                          f"{rate['baseline']:>11.4g}{rate['candidate']:>11.4g}"
                          f"{row['ratio']:>7.3f}")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check it runs")
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--candidate", help="git revision (default: the working tree's src/)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--measures", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--repeats", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--train-rows", type=int, default=256 * 40)
    parser.add_argument("--out", type=Path, default=RESULTS / "revisions.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.train_rows, args.workloads = 1, 512, ["moons-cond"]
        WORKLOADS["moons-cond"] = replace(WORKLOADS["moons-cond"], eval_rows=1000)
    before = machine_info()
    with tempfile.TemporaryDirectory() as tmp:
        baseline_src = export_source(args.baseline, Path(tmp) / "baseline")
        candidate_src = ROOT / "src"
        if args.candidate:
            candidate_src = export_source(args.candidate, Path(tmp) / "candidate")
        versions = {"baseline": Version(baseline_src), "candidate": Version(candidate_src)}
        rows = compare(versions, args)
    write_result(
        {
            "baseline": args.baseline,
            "candidate": args.candidate or "working tree",
            "repeats": args.repeats,
            "machine_before": before,
            "machine_after": machine_info(),
            "rows": rows,
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Wall time and peak memory of the blockwise MMD for large samples.

Each case runs in a fresh subprocess so that its peak resident set size (``VmHWM`` from
``/proc/self/status``) belongs to that case alone; torch's CPU allocations bypass ``tracemalloc``,
so RSS is the honest measure. The peak is reported in absolute terms and relative to the RSS just
before the MMD call (after imports and data generation).

Usage::

    python benchmarks/bench_mmd.py                 # 10k x 10k and 50k x 50k in 64 dims
    python benchmarks/bench_mmd.py --smoke         # one tiny case, seconds
    python benchmarks/bench_mmd.py --block-size 1024 --threads 1 --out /tmp/mmd.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FULL_CASES = ((10_000, 10_000, 64), (50_000, 50_000, 64))
SMOKE_CASES = ((500, 500, 8),)
DEFAULT_OUT = Path(__file__).parent / "results" / "mmd.json"
SMOKE_OUT = Path(__file__).parent / "results" / "mmd_smoke.json"


def read_status_kib(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (e.g. ``VmRSS``, ``VmHWM``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status (Linux only)")


def reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0); ``False`` if not permitted."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_case(n: int, m: int, d: int, block_size: int | None, threads: int | None) -> dict[str, Any]:
    """Measure one MMD call in this process; meant to run in a fresh subprocess."""
    import torch

    from innlab.metrics import DEFAULT_BLOCK_SIZE, mmd

    if threads is not None:
        torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=generator)
    y = torch.randn(m, d, generator=generator) + 0.05
    block_size = block_size or DEFAULT_BLOCK_SIZE
    baseline_kib = read_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    start = time.perf_counter()
    value = mmd(x, y, block_size=block_size)
    seconds = time.perf_counter() - start
    peak_kib = read_status_kib("VmHWM")
    return {
        "n": n,
        "m": m,
        "dims": d,
        "block_size": block_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "seconds": seconds,
        "mmd2": value,
        "baseline_rss_mib": baseline_kib / 1024,
        "peak_rss_mib": peak_kib / 1024,
        "peak_above_baseline_mib": (peak_kib - baseline_kib) / 1024,
        "peak_reset": peak_reset,
    }


def spawn_case(n: int, m: int, d: int, block_size: int | None, threads: int | None) -> dict:
    command = [sys.executable, __file__, "--case", str(n), str(m), str(d)]
    if block_size is not None:
        command += ["--block-size", str(block_size)]
    if threads is not None:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_table(results: list[dict[str, Any]]) -> None:
    header = f"{'n x m':>15} {'dims':>5} {'block':>6} {'threads':>7} {'seconds':>9} "
    header += f"{'peak RSS MiB':>13} {'above base MiB':>15} {'MMD^2':>11}"
    print(header)
    for r in results:
        print(
            f"{r['n']:>7} x {r['m']:<5} {r['dims']:>5} {r['block_size']:>6} {r['threads']:>7} "
            f"{r['seconds']:>9.2f} {r['peak_rss_mib']:>13.0f} "
            f"{r['peak_above_baseline_mib']:>15.0f} {r['mmd2']:>11.3e}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run one tiny case only")
    parser.add_argument("--out", type=Path, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--block-size", type=int, help="MMD block size (default: the library's)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--case", nargs=3, type=int, metavar=("N", "M", "D"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(*args.case, args.block_size, args.threads)))
        return
    cases = SMOKE_CASES if args.smoke else FULL_CASES
    load_before = os.getloadavg()  # other processes on the machine slow every case down
    results = [spawn_case(*case, args.block_size, args.threads) for case in cases]
    print_table(results)
    out = args.out or (SMOKE_OUT if args.smoke else DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    out.write_text(json.dumps({"meta": meta, "cases": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

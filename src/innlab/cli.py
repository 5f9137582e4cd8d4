"""The ``innlab`` command line: thin wrappers around the library.

Errors in the user's input (bad options, missing files, existing results) end with a one-line
message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from innlab.report.errors import ReportError
from innlab.sweeps.cli import add_sweep_commands

__all__ = ["main"]

# Modules that load torch are imported by the commands that need them, not here: `innlab --help`
# and argument errors then answer at once instead of after seconds of imports.


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input or a failed run, reported as one line, not a traceback."""
    from innlab.flows.io import CheckpointError
    from innlab.training import TrainingDivergedError

    return (
        ValueError,
        TypeError,
        FileExistsError,
        FileNotFoundError,
        CheckpointError,
        TrainingDivergedError,
        ReportError,
    )


def _train_folder(args: argparse.Namespace) -> Path:
    """The output folder of ``train``: an existing model is kept unless --force or --resume."""
    out = Path(args.out or f"runs/{args.dataset}")
    if (out / "model.pt").exists() and not (args.force or args.resume):
        raise FileExistsError(
            f"{out / 'model.pt'} exists; pass --force to retrain from scratch or --resume to "
            "continue"
        )
    if args.force:
        (out / "training-state.pt").unlink(missing_ok=True)
    return out


def _train(args: argparse.Namespace) -> int:
    from innlab import RealNVP, train_inn
    from innlab.data import toy_dataset
    from innlab.metrics import mean_nll, mmd
    from innlab.plots import plot_samples, save_figure

    out = _train_folder(args)
    model_path, metrics_path = out / "model.pt", out / "metrics.json"
    options = {k: getattr(args, k) for k in _DATA_OPTIONS if getattr(args, k) is not None}
    data = toy_dataset(args.dataset, **options)
    x_train, _ = data.sample(args.n_train, seed=args.seed)
    x_test, _ = data.sample(args.n_test, seed=args.seed + 1)

    model = RealNVP(
        2, args.hidden, args.blocks, shared_subnet=args.shared_subnet, seed=args.seed
    ).to(args.device)
    history = train_inn(
        model,
        x_train,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        schedule=args.schedule,
        test_data=x_test,
        seed=args.seed,
        progress=not args.quiet,
        checkpoint=out / "training-state.pt",
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
    )
    model.save(model_path)
    generated = model.sample(args.n_test, generator=args.seed).cpu()
    test_nll = mean_nll(model, x_test)
    true_nll = float(-data.log_prob(x_test).mean())
    metrics = {
        "dataset": args.dataset,
        "test_nll": test_nll,
        "true_nll": true_nll,
        "nll_gap": test_nll - true_nll,
        "mmd": mmd(generated, x_test),
        "epochs": history.epoch[-1],
        "steps": history.steps[-1],
        "train_seconds": history.time[-1],
        "parameters": model.num_parameters,
        "config": model.config,
    }
    metrics_path.write_text(json.dumps(metrics, indent=2))
    save_figure(plot_samples(generated, x_test), out / "samples.png")
    print(
        f"test NLL {test_nll:.4f} nats (true density {true_nll:.4f}, gap "
        f"{test_nll - true_nll:.4f}); MMD^2 {metrics['mmd']:.2e}; wrote {out}/"
    )
    return 0


_DATA_OPTIONS = ("noise", "radius")
"""Options of ``train`` that go to :func:`innlab.data.toy_dataset` when given; the registry
rejects one that the chosen data set does not have (``--radius`` for moons)."""


def _add_train(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a RealNVP on a 2-D toy data set",
        description="Train a RealNVP on two moons or the hexagon mixture; writes model.pt, "
        "metrics.json (test NLL, gap to the true density, MMD) and samples.png to --out.",
    )
    p.add_argument("--dataset", choices=("moons", "hexagon"), default="moons")
    p.add_argument("--noise", type=float, help="two moons noise (default 0.1)")
    p.add_argument("--radius", type=float, help="hexagon radius (default 1; std = radius/10)")
    p.add_argument("--n-train", type=int, default=10_000)
    p.add_argument("--n-test", type=int, default=5_000)
    p.add_argument("--hidden", type=int, default=64, help="subnetwork width")
    p.add_argument("--blocks", type=int, default=8, help="coupling blocks")
    p.add_argument("--shared-subnet", action="store_true", help="one subnet for s and t")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--schedule", choices=("cosine",), default=None, help="decay the lr")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--out", help="output folder (default runs/DATASET)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--force", action="store_true", help="overwrite existing results")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)


def _report(args: argparse.Namespace) -> int:
    from innlab.report.build import build_report, summary_lines

    paths = build_report(
        args.preset,
        args.out,
        data_dir=args.data_dir,
        force=args.force,
        workers=args.workers,
        make_zip=args.zip,
        progress=not args.quiet,
    )
    results = json.loads(paths["results"].read_text())
    print("\n".join(summary_lines(results)))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def _add_report(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "report",
        help="run every experiment and build the executed notebook and its HTML",
        description="Execute normalizing-flows.ipynb (all experiments of the exercise) and "
        "export normalizing-flows.html and results.json. Trained models are cached in OUT/models, "
        "so a second run only re-renders.",
    )
    p.add_argument(
        "--preset",
        choices=("smoke", "quick", "full"),
        default="quick",
        help="budgets: smoke (CI, minutes), quick (default), full (best quality)",
    )
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.add_argument(
        "--data-dir", default=None, help="folder with MNIST/raw (default $INNLAB_DATA or ./data)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for the toy models and the sweep (default: one per CPU core)",
    )
    p.add_argument("--zip", action="store_true", help="also pack notebook and HTML in a zip")
    p.add_argument("--force", action="store_true", help="retrain all models")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="innlab",
        description="RealNVP normalizing flows: train, evaluate, sweep and report.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(subparsers)
    _add_report(subparsers)
    add_sweep_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``innlab`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    user_errors = _user_errors()
    try:
        return int(args.func(args))
    except user_errors as err:
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"innlab: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("innlab: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

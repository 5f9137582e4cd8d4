"""The ``innlab`` command line: thin wrappers around the library.

Errors in the user's input (bad options, missing files, existing results), an output folder
that another run is writing, and failed writes end with a one-line message and exit status 2,
never a traceback. Every option is checked before any file is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from innlab._atomic import WriteError, atomic_write, atomic_write_text
from innlab._lock import FolderLockedError, claim_output
from innlab.report.errors import ReportError
from innlab.sweeps.cli import add_sweep_commands

if TYPE_CHECKING:
    from torch import Tensor

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
        FolderLockedError,
        WriteError,
    )


DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu")
"""Device types that ``--device`` accepts (``meta`` tensors hold no numbers to train)."""


def _check_device(name: str) -> str:
    """``name`` if it is a torch device that works here, else ``ValueError`` saying why."""
    import torch

    try:
        device: torch.device | None = torch.device(name)
    except RuntimeError:  # not a device string at all
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise ValueError(f"--device must be cpu, cuda, cuda:N, mps or xpu, got {name!r}")
    backend = {"cuda": torch.cuda, "mps": torch.backends.mps, "xpu": torch.xpu}.get(device.type)
    if backend is not None and not backend.is_available():
        raise ValueError(
            f"--device {name!r} is not available: torch {torch.__version__} finds no "
            f"{device.type} device here"
        )
    try:
        torch.empty(1, device=device)
    except (AssertionError, RuntimeError, NotImplementedError) as err:  # torch's ways to say no
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"--device {name!r} cannot be used here: {reason}") from err
    return name


CHECKPOINT = "training-state.pt"
RUN_FILES = ("model.pt", CHECKPOINT, "metrics.json", "samples.png")
SET_ASIDE = ".innlab-replaced"
"""Where ``train --force`` keeps the previous run's files until its first checkpoint exists."""


@dataclass(frozen=True)
class _TrainInputs:
    """What ``train`` needs, built (and so checked) before any file is touched."""

    data: Any
    x_train: Tensor
    x_test: Tensor
    model: Any


def _train_inputs(args: argparse.Namespace) -> _TrainInputs:
    """Check every option of ``train``, draw the data and build the model."""
    from innlab import RealNVP
    from innlab._validation import check_int, check_positive_int
    from innlab.data import toy_dataset
    from innlab.training import TrainingOptions

    if args.force and args.resume:
        raise ValueError("pass --force (start over) or --resume (continue), not both")
    device = _check_device(args.device)
    check_int(args.n_test, "--n-test", minimum=2)  # the MMD needs two test points
    check_positive_int(args.checkpoint_every, "checkpoint_every")
    TrainingOptions.check(  # train_inn checks them again; the other values are its defaults
        2,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        schedule=args.schedule,
        lr_min=1e-5,
        bottleneck=None,
        reconstruction_weight=1.0,
        weight_decay=args.weight_decay,
        ema=args.ema,
    )
    options = {k: getattr(args, k) for k in _DATA_OPTIONS if getattr(args, k) is not None}
    data = toy_dataset(args.dataset, **options)
    x_train, _ = data.sample(args.n_train, seed=args.seed)
    x_test, _ = data.sample(args.n_test, seed=args.seed + 1)
    model = RealNVP(2, args.hidden, args.blocks, shared_subnet=args.shared_subnet, seed=args.seed)
    return _TrainInputs(data, x_train, x_test, model.to(device))


def _check_previous_run(out: Path, args: argparse.Namespace) -> None:
    """Refuse to replace a finished or interrupted run without --force or --resume."""
    if args.force or args.resume:
        return
    if (out / "model.pt").exists():
        raise FileExistsError(
            f"{out / 'model.pt'} exists; pass --force to retrain from scratch or --resume to "
            "continue"
        )
    if (out / CHECKPOINT).exists():
        raise FileExistsError(
            f"{out / CHECKPOINT} holds an interrupted run; pass --resume to continue it or "
            "--force to start over"
        )


class _SetAside:
    """``train --force``: the previous run's files, moved into ``OUT/.innlab-replaced``; removed
    once the new run has written its first checkpoint, put back if it ends before that."""

    def __init__(self, out: Path) -> None:
        self.out, self.folder = out, out / SET_ASIDE
        self.folder.mkdir(exist_ok=True)
        for name in RUN_FILES:
            if (out / name).exists():
                os.replace(out / name, self.folder / name)

    def discard_when_checkpointed(self, _: object) -> None:
        """``train_inn`` callback (after each epoch): drop the old files once replaceable."""
        if self.folder.exists() and (self.out / CHECKPOINT).exists():
            shutil.rmtree(self.folder)

    def restore(self) -> bool:
        """Put the old files back unless the new run has checkpointed; whether they were."""
        return _restore_set_aside(self.out)


def _restore_set_aside(out: Path) -> bool:
    """Finish what a ``--force`` run left in ``OUT/.innlab-replaced``: without a new checkpoint
    the previous run's files go back (returns ``True``), else they are removed."""
    folder = out / SET_ASIDE
    if not folder.is_dir():
        return False
    restore = not (out / CHECKPOINT).exists()
    if restore:
        for path in folder.iterdir():
            if not (out / path.name).exists():
                os.replace(path, out / path.name)
    shutil.rmtree(folder)
    return restore


def _train(args: argparse.Namespace) -> int:
    from innlab import train_inn

    inputs = _train_inputs(args)
    out = Path(args.out or f"runs/{args.dataset}")
    with claim_output(out):
        if _restore_set_aside(out):
            print(f"innlab: put back the files of {out} that a killed --force run had set aside")
        _check_previous_run(out, args)
        aside = _SetAside(out) if args.force else None
        try:
            history = train_inn(
                inputs.model,
                inputs.x_train,
                epochs=args.epochs,
                lr=args.lr,
                batch_size=args.batch_size,
                schedule=args.schedule,
                weight_decay=args.weight_decay,
                ema=args.ema,
                test_data=inputs.x_test,
                seed=args.seed,
                progress=not args.quiet,
                checkpoint=out / CHECKPOINT,
                checkpoint_every=args.checkpoint_every,
                resume=args.resume,
                callback=None if aside is None else aside.discard_when_checkpointed,
            )
        except BaseException as err:
            if aside is not None and aside.restore() and isinstance(err, KeyboardInterrupt):
                hint = f"the previous run's files in {out} are back; rerun with --force to retrain"
                raise KeyboardInterrupt(hint) from err
            raise
        metrics = _write_train_outputs(out, inputs, history, args)
    _report_training(metrics, out)
    return 0


def _write_train_outputs(
    out: Path, inputs: _TrainInputs, history: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Write model.pt, metrics.json and samples.png (each atomically); return the metrics."""
    from innlab.metrics import mean_nll, mmd
    from innlab.plots import plot_samples

    model, x_test = inputs.model, inputs.x_test
    try:
        model.save(out / "model.pt")
        generated = model.sample(args.n_test, generator=args.seed).cpu()
        test_nll = mean_nll(model, x_test)
        true_nll = float(-inputs.data.log_prob(x_test).mean())
        metrics = {
            "dataset": args.dataset,
            "test_nll": test_nll,
            "true_nll": true_nll,
            "nll_gap": test_nll - true_nll,
            "mmd": mmd(generated, x_test),
            "epochs": history.epoch[-1],
            "steps": history.steps[-1],
            "skipped_steps": history.skipped_steps[-1],
            "train_seconds": history.time[-1],
            "parameters": model.num_parameters,
            "config": model.config,
        }
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        figure = plot_samples(generated, x_test)
        atomic_write(out / "samples.png", lambda file: figure.savefig(file, format="png", dpi=150))
    except WriteError as err:
        raise WriteError(
            f"{err}; the trained run is kept in {out / CHECKPOINT}: make room and rerun with "
            "--resume to write the outputs without training again"
        ) from err
    return metrics


def _report_training(metrics: dict[str, Any], out: Path) -> None:
    """Print the headline numbers, and a warning if training skipped steps."""
    if metrics["skipped_steps"]:
        print(
            f"innlab: warning: {metrics['skipped_steps']} training steps were skipped for a "
            "non-finite loss or gradient; a lower --lr may help",
            file=sys.stderr,
        )
    print(
        f"test NLL {metrics['test_nll']:.4f} nats (true density {metrics['true_nll']:.4f}, gap "
        f"{metrics['nll_gap']:.4f}); MMD^2 {metrics['mmd']:.2e}; wrote {out}/"
    )


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
    p.add_argument("--weight-decay", type=float, default=0.0, help="decoupled (AdamW) decay")
    p.add_argument("--ema", type=float, help="keep a moving average of the weights, e.g. 0.99")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--out", help="output folder (default runs/DATASET)")
    p.add_argument("--checkpoint-every", type=int, default=10, help="epochs between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument(
        "--force",
        action="store_true",
        help="retrain from scratch (the old run's files go once the new one has a checkpoint)",
    )
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
    p.add_argument(
        "--quiet",
        action="store_true",
        help="show no progress (the running section, a bar per model in training)",
    )
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
    except KeyboardInterrupt as err:
        print(f"innlab: interrupted; {str(err) or _interrupt_hint(args)}", file=sys.stderr)
        return 130


def _interrupt_hint(args: argparse.Namespace) -> str:
    """How to continue the interrupted command."""
    if args.command == "train":
        return "rerun the same command with --resume (not --force) to continue from its checkpoint"
    if args.command == "report":
        return (
            f"the models trained so far are kept in {Path(args.out) / 'models'}: rerun the same "
            "command to continue with them"
        )
    return "rerun the same command to continue"


if __name__ == "__main__":
    sys.exit(main())

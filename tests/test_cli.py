"""The innlab command: help, a tiny training run, one-line errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from innlab.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "innlab.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "report" in out


@pytest.mark.parametrize("args", [["--help"], ["sweep", "--help"], ["train", "--epochs", "x"]])
def test_parsing_does_not_load_torch(args: list[str]) -> None:
    """Help and argument errors come before the heavy imports (torch, scikit-learn)."""
    code = (
        "import sys\n"
        "from innlab.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'torch', 'sklearn', 'matplotlib'} & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_train_writes_model_metrics_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train",
        "--n-train",
        "500",
        "--n-test",
        "200",
        "--epochs",
        "2",
        "--hidden",
        "8",
        "--blocks",
        "2",
        "--weight-decay",
        "0.1",
        "--ema",
        "0.9",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"test_nll", "true_nll", "nll_gap", "mmd"} <= set(metrics)
    assert (out / "model.pt").is_file() and (out / "samples.png").stat().st_size > 1000
    # no silent overwrite; --force retrains
    result = run(*args)
    assert result.returncode == 2
    assert "exists; pass --force" in result.stderr and "Traceback" not in result.stderr
    assert main([*args, "--force"]) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--epochs", "0"], "epochs must be an int >= 1, got 0"),
        (["train", "--lr", "nan"], "lr must be a finite number"),
        (["train", "--ema", "1.5"], "ema must be a decay in (0, 1), got 1.5"),
        (["train", "--weight-decay", "-1"], "weight_decay must be a finite number >= 0"),
        (["train", "--hidden", "-3"], "hidden_size must be"),
        (["train", "--noise", "0"], "noise must be a finite number > 0, got 0.0"),
        (["train", "--radius", "2"], "unknown option 'radius' for toy data set 'moons'"),
        (["train", "--dataset", "hexagon", "--radius", "-1"], "radius must be a finite number"),
        (["report", "--workers", "0"], "workers must be an int >= 1"),
    ],
)
def test_bad_options_give_one_line_and_status_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*args, "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("innlab: error: ") and len(err.strip().splitlines()) == 1

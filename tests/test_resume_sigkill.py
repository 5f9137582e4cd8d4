"""A training run killed with SIGKILL and resumed ends bitwise equal to an uninterrupted run.

The killed child parks itself after epoch ``PAUSE_AT`` (its checkpoint written) and tells the
parent through a flag file, so the kill lands mid-run however fast training is on the machine.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

CHILD = """
import sys, time
from pathlib import Path

import torch
from sklearn.datasets import make_moons
from innlab import RealNVP, train_inn

checkpoint, final, flag = sys.argv[1], sys.argv[2], sys.argv[3]


def park(history):
    if flag != "-" and len(history.epoch) == PAUSE_AT:
        Path(flag).write_text("parked")
        time.sleep(600)


x = torch.tensor(make_moons(512, noise=0.1, random_state=0)[0], dtype=torch.float32)
flow = RealNVP(2, 32, 4, seed=0)
train_inn(flow, x, epochs=30, batch_size=32, schedule="cosine", seed=1, progress=False,
          checkpoint=checkpoint, checkpoint_every=1, resume=True, callback=park)
flow.save(final)
"""


PAUSE_AT = 5


def run_child(tmp_path: Path, name: str, flag: str = "-") -> subprocess.Popen[bytes]:
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace("PAUSE_AT", str(PAUSE_AT)))
    ckpt, final = str(tmp_path / f"{name}.ckpt"), str(tmp_path / f"{name}.pt")
    return subprocess.Popen([sys.executable, str(script), ckpt, final, flag])


def test_sigkill_then_resume_is_bitwise_identical(tmp_path: Path) -> None:
    flag = tmp_path / "parked"
    child = run_child(tmp_path, "killed", str(flag))
    checkpoint = tmp_path / "killed.ckpt"
    deadline = time.monotonic() + 120
    while not flag.exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert flag.exists(), "the child never reached its pause"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert checkpoint.exists() and not (tmp_path / "killed.pt").exists(), "killed mid-run"
    epochs_done = len(torch.load(checkpoint, weights_only=True)["history"]["epoch"])
    assert epochs_done == PAUSE_AT

    assert run_child(tmp_path, "killed").wait() == 0  # resumes from the checkpoint
    assert run_child(tmp_path, "clean").wait() == 0  # never interrupted
    resumed = torch.load(tmp_path / "killed.pt", weights_only=True)["state"]
    clean = torch.load(tmp_path / "clean.pt", weights_only=True)["state"]
    assert resumed.keys() == clean.keys()
    for key in clean:
        assert torch.equal(resumed[key], clean[key]), key

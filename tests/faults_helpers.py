"""Helpers of the fault tests: the innlab command in a subprocess, lock holders, small tmpfs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from innlab._lock import LOCK_NAME

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

HOLD = """
import sys, time
from innlab._lock import claim_output
with claim_output(sys.argv[1]):
    print("held", flush=True)
    time.sleep(300)
"""


def run_innlab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``innlab ARGS`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "innlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
    )


def start_innlab(*args: str) -> subprocess.Popen[str]:
    """Start ``innlab ARGS`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "innlab.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def one_line_error(stderr: str) -> str:
    """The single line of an ``innlab: error:`` message (asserted to be one line)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(("innlab: error: ", "innlab sweep: error: ")), stderr
    return lines[0]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def holds_lock(folder: Path, pid: int) -> bool:
    """Whether ``folder``'s lock file names ``pid`` as its holder."""
    try:
        return json.loads((folder / LOCK_NAME).read_text())["pid"] == pid
    except (OSError, ValueError, KeyError):
        return False


@contextmanager
def lock_holder(folder: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds ``folder`` while the ``with`` block runs."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def tmpfs(folder: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs mounted on ``folder``; skips the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def remount(folder: Path, options: str) -> None:
    """Change the mount options of the tmpfs on ``folder`` (``ro``, ``size=1m``, ...)."""
    subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)


def snapshot(folder: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    """The bytes of the files ``names`` in ``folder`` (those that exist)."""
    return {n: (folder / n).read_bytes() for n in names if (folder / n).is_file()}

"""One writer per output folder: an exclusive ``flock`` on ``FOLDER/.innlab.lock``.

The lock belongs to the open file, so it ends with the process however that ends (a SIGKILL
included): a lock file left behind by a killed run does not block the next one. The file is
never removed (removing it would let two processes lock two different files of one name); it
records its last holder's pid and command for the message of a process that is turned away.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from innlab._atomic import WriteError, check_writable

__all__ = ["LOCK_NAME", "FolderLockedError", "claim_output"]

LOCK_NAME = ".innlab.lock"


class FolderLockedError(RuntimeError):
    """Another process is writing the output folder."""


@contextmanager
def claim_output(folder: str | Path) -> Iterator[Path]:
    """Hold ``folder`` for this process while the ``with`` block runs: create it, lock it (without
    waiting) and check that it is writable.

    Raises:
        FolderLockedError: another process holds ``folder``; the message names its pid.
        WriteError: ``folder`` cannot be created or written.
    """
    folder = check_writable(folder)
    lock = folder / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as err:
        raise WriteError.of(lock, err) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderLockedError(
                f"{folder} is in use by another innlab run ({_holder(lock)}); wait for it to "
                "end or choose another output folder"
            ) from None
        _record_holder(fd, lock)
        yield folder
    finally:
        os.close(fd)


def _record_holder(fd: int, lock: Path) -> None:
    """Write this process's pid and command into the (locked) lock file."""
    holder = {"pid": os.getpid(), "command": shlex.join(sys.argv)[:300]}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
    except OSError as err:
        raise WriteError.of(lock, err) from err


def _holder(lock: Path) -> str:
    """``pid N: COMMAND`` of the process that holds ``lock``, as far as its file tells."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
        return f"pid {int(holder['pid'])}: {holder['command']}"
    except (OSError, ValueError, TypeError, KeyError):  # not written yet, or not ours
        return "pid unknown"

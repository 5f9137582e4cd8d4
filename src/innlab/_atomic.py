"""Atomic file writes: a crash mid-write leaves the previous file intact, never a truncated one.

A write goes to ``.NAME.PID.HEX.tmp`` beside ``NAME`` and is renamed over it when complete. A
process killed mid-write leaves its temporary behind; the next write of ``NAME`` removes those
of processes that no longer exist. Every failure to write raises :class:`WriteError`, which
names the file (not the temporary) and the reason.
"""

from __future__ import annotations

import glob
import os
import string
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO

__all__ = ["WriteError", "atomic_write", "atomic_write_text", "check_writable"]

PROBE_NAME = ".innlab-probe"


class WriteError(OSError):
    """A file or folder could not be written (disk full, read-only, not a folder, ...)."""

    @classmethod
    def of(cls, path: str | Path, err: BaseException, action: str = "write") -> WriteError:
        """The error ``cannot ACTION PATH: REASON`` for ``err`` (or the ``OSError`` behind it,
        e.g. torch's ``RuntimeError`` on a full disk); ``errno`` is the underlying one."""
        cause = _os_error(err) or err
        reason = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        error = cls(f"cannot {action} {path}: {reason}")
        error.errno = getattr(cause, "errno", None)  # type: ignore[assignment]
        return error


def _os_error(err: BaseException | None) -> OSError | None:
    """The first ``OSError`` among ``err`` and the exceptions it was raised from or during."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Create ``path`` with ``write(file)``: into a temporary file in the same folder, flushed to
    disk, then renamed over ``path``. Permissions follow the umask like a plain ``open``.

    Raises:
        WriteError: the folder or file could not be written; ``path`` is unchanged.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with suppress(OSError):  # best effort: never a reason not to write
            _remove_stale_temporaries(path)
        with tmp.open("xb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with suppress(OSError):  # never created, or its folder is not one
            tmp.unlink(missing_ok=True)
        if not isinstance(err, Exception) or isinstance(err, WriteError) or not _os_error(err):
            raise  # Ctrl-C, an error already named, or not a failure to write
        raise WriteError.of(path, err) from err
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    return atomic_write(path, lambda file: file.write(text.encode()))


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) and check that a file can be written in it.

    Raises:
        WriteError: naming the folder and the reason (read-only, a file in the way, disk full).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError.of(folder, err, "create the output folder") from err
    probe = folder / PROBE_NAME
    try:
        atomic_write_text(probe, f"{os.getpid()}\n")
        probe.unlink(missing_ok=True)
    except OSError as err:
        raise WriteError.of(folder, err, "write to the output folder") from err
    return folder


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporaries of ``path`` whose writing process no longer exists."""
    prefix = f".{path.name}."
    for tmp in path.parent.glob(glob.escape(prefix) + "*.tmp"):
        pid, _, token = tmp.name[len(prefix) : -len(".tmp")].partition(".")
        is_ours = pid.isdigit() and len(token) == 32 and set(token) <= set(string.hexdigits)
        if is_ours and not _process_exists(int(pid)):
            tmp.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (on this machine and in this pid namespace)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process, or not a pid at all
        return True
    return True

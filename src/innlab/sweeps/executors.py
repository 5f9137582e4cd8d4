"""Executors: run tasks in local worker processes or as Ray Tune trials.

Both call :func:`~innlab.sweeps.task.run_task` and hand each finished task's records to
``on_done`` as soon as it finishes, so the caller can write them at once; neither cares what
the records say.
"""

from __future__ import annotations

import ctypes
import json
import logging
import multiprocessing
import os
import select
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch
from tqdm import tqdm

from innlab.sweeps.task import run_task

__all__ = ["prepare_worker", "run_local", "run_ray"]

Task = Mapping[str, Any]
OnDone = Callable[[Any], None]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def prepare_worker(threads: int | None) -> None:
    """Set up a worker process: ``threads`` torch threads (``None``: torch's default), and on
    glibc keep freed memory for reuse instead of returning it to the system after every step
    (batched seeds allocate megabytes per step; page faults would otherwise dominate)."""
    if threads is not None:
        torch.set_num_threads(threads)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc
            return
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


def _start_worker(threads: int, main_pid: int) -> None:
    """Initializer of a local worker process: :func:`prepare_worker`, and end the worker as soon
    as the sweep's main process ``main_pid`` ends, even when it is killed (SIGKILL) and cannot
    stop its workers. (A forkserver worker's parent is the server, not the main process; the
    server and the resource tracker exit on their own once no process holds their pipes.)

    Workers show no progress bars, so tqdm gets a thread lock instead of its default, a named
    semaphore that a stopped worker would leave to the resource tracker (which warns)."""
    prepare_worker(threads)
    tqdm.set_lock(threading.RLock())
    threading.Thread(
        target=_exit_with, args=(main_pid,), name="innlab-watchdog", daemon=True
    ).start()


def _exit_with(pid: int) -> None:
    """Wait until process ``pid`` has ended, then end this process at once."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):  # already gone, or no pidfd (not Linux >= 5.3): poll
        while _exists(pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])  # readable once the process has ended
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:  # no such process, or the pid now belongs to another user's process
        return False
    return True


def run_local(
    tasks: Sequence[Any],
    workers: int,
    on_done: OnDone,
    *,
    function: Callable[[Any], Any] = run_task,
) -> None:
    """Run ``function(task)`` (default :func:`~innlab.sweeps.task.run_task`) for every task on
    this machine: in this process for ``workers == 1``, else in ``workers`` worker processes
    (forkserver, else spawn) with one torch thread each, so that they do not compete for cores.
    ``function`` must be importable by name (a module-level function).

    If a task raises (or on Ctrl-C), the other tasks are cancelled, running ones stopped, and
    the error propagates; tasks already handed to ``on_done`` stay done. Workers end with this
    process, also when it is killed.
    """
    if workers == 1:
        for task in tasks:
            on_done(function(task))
        return
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":  # import once, in the server, not in every worker
        # torch._dynamo: train_inn's fused Adam imports it on first use (seconds)
        context.set_forkserver_preload(["innlab.sweeps.executors", "torch._dynamo"])
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(tasks)),
        mp_context=context,
        initializer=_start_worker,
        initargs=(1, os.getpid()),
    )
    try:
        futures = [pool.submit(function, task) for task in tasks]
        for future in as_completed(futures):
            on_done(future.result())
    except BaseException:
        _abandon(pool)
        raise
    pool.shutdown()


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Cancel the pool's waiting tasks and end its workers now: the results of their running
    tasks would be lost anyway, and waiting for those and for the tasks already queued to the
    workers would keep an interrupted sweep alive for whole trials."""
    for process in pool._processes.values():  # no public way before Python 3.14
        process.terminate()
    pool.shutdown(cancel_futures=True)


def _ray_trial(config: dict[str, Any]) -> None:
    """Ray Tune trainable: one task, its records reported as one JSON string."""
    from ray import tune

    prepare_worker(1)
    tune.report({"records": json.dumps(run_task(config["task"]))})


def run_ray(tasks: Sequence[Task], workers: int, address: str | None, on_done: OnDone) -> None:
    """Run ``tasks`` as Ray Tune trials, at most ``workers`` at a time, one CPU each.

    ``address`` connects to a running Ray cluster; ``None`` starts a local instance limited to
    ``workers`` CPUs (no dashboard, worker output not forwarded), shut down afterwards. Records
    travel back with the trial results and reach ``on_done`` on this machine, so the cluster
    needs no shared file system (but innlab installed on every node).
    """
    try:
        import ray
        from ray import tune
    except ImportError as err:
        raise ImportError(
            "the ray executor needs Ray Tune: pip install 'innlab[ray]' (ray[tune])"
        ) from err

    class RecordResults(tune.Callback):  # type: ignore[misc]
        def on_trial_result(
            self, iteration: int, trials: Any, trial: Any, result: Any, **info: Any
        ):
            on_done(json.loads(result["records"]))

    started_here = not ray.is_initialized()
    if started_here:
        if address is None:
            ray.init(
                num_cpus=workers,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory(prefix="innlab-ray-") as storage:
            tuner = tune.Tuner(
                tune.with_resources(_ray_trial, {"cpu": 1}),
                param_space={"task": tune.grid_search(list(tasks))},
                tune_config=tune.TuneConfig(
                    max_concurrent_trials=workers,
                    reuse_actors=True,
                    trial_dirname_creator=lambda trial: f"task-{trial.trial_id}",
                ),
                run_config=tune.RunConfig(
                    storage_path=storage,
                    name="innlab-sweep",
                    verbose=0,
                    callbacks=[RecordResults()],
                ),
            )
            results = tuner.fit()
            if results.errors:
                raise RuntimeError(
                    f"{len(results.errors)} Ray trial(s) failed; first error: {results.errors[0]}"
                )
    finally:
        if started_here:
            ray.shutdown()

"""A batch on local worker processes: each runs files, or chunks of files, through :func:`realtime.batch.jobs.enhance_one`."""
from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing as mp
import os
import queue
import signal
import time
from typing import Any, Callable, Iterator, Sequence

from realtime.batch.jobs import BatchConfig, FileResult, FileTask, enhance_one, in_order, part_path, report_file
from realtime.errors import EXIT_INTERNAL
from realtime.run.process import cpu_cores
from realtime.run.progress import BatchProgress
from realtime.run.signals import STOP_SIGNALS


class BatchStopped(KeyboardInterrupt):
    """The batch is stopping (a signal reached the process that runs it): finish this file's output now."""


def default_jobs(files: int, cores: int | None = None) -> int:
    """Worker processes for ``files`` files (or chunks): one per core.

    On 2 cores two processes of one kernel thread each finished 6 files in less time than one process with two kernel
    threads, in every round measured (24.7 s against 29.4 s, medians, ``tools/bench_batch.py``): decoding, encoding and
    the Python between kernels run on one thread per process, which a second process overlaps.
    """
    return max(1, min(files, cores or cpu_cores()))


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Environment variables set while worker processes start (they inherit them), then restored."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _worker_main(tasks: mp.Queue, events: mp.Queue, stop, config: BatchConfig, parent: int, level: int) -> None:
    """A worker process: files from ``tasks`` until a ``None``; progress, logs and results to ``events``.

    Signals are the parent's business: a Ctrl-C reaches the whole process group, and the parent stops the workers
    through ``stop`` so that each finalizes its output the same way.  A worker whose parent is gone stops too.
    """
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(events)]
    root.setLevel(level)
    while True:
        task: FileTask | None = tasks.get()
        if task is None or stop.is_set() or os.getppid() != parent:
            return
        events.put(("start", task.index, os.getpid()))
        last = 0.0

        def on_progress(done: int, total: int | None, index: int = task.index) -> None:
            nonlocal last
            if stop.is_set() or os.getppid() != parent:
                raise BatchStopped()
            now = time.monotonic()
            if now - last >= 0.2 or done == total:  # a few updates a second are enough for a display
                last = now
                events.put(("progress", index, done, total))

        events.put(("result", enhance_one(task, config, on_progress)))


def run_local(tasks: Sequence[FileTask], config: BatchConfig, jobs: int, progress: BatchProgress,
              level: int = logging.INFO, report: Callable[[FileResult], None] = report_file) -> list[FileResult]:
    """Run ``tasks`` on ``jobs`` worker processes; returns their results in task order.

    Each result goes to ``report`` as it comes (by default a log line for a file done or failed).

    Kernel threads are split between the workers (``NUMBA_NUM_THREADS``), so the processes together use
    the cores without oversubscribing them.  A worker that dies (killed, out of memory) fails its file and
    is replaced.  On an interrupt the workers finish their outputs' clean-up first; the interrupt is then
    re-raised with the results so far in ``exc.results``.
    """
    ctx = mp.get_context("spawn")  # not fork: the parent may hold kernel thread pools and PyAV state
    taskq: mp.Queue = ctx.Queue()
    events: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    for task in tasks:
        taskq.put(task)
    threads = os.environ.get("NUMBA_NUM_THREADS") or str(max(1, cpu_cores() // jobs))
    by_index = {task.index: task for task in tasks}
    results: dict[int, FileResult] = {}
    running: dict[int, int] = {}  # worker pid -> task index
    workers: list[mp.Process] = []
    began: set[int] = set()  # pids of workers that started a file
    early_deaths = 0

    def spawn() -> None:
        taskq.put(None)  # one end marker per worker
        with _environ(NUMBA_NUM_THREADS=threads):
            proc = ctx.Process(target=_worker_main, args=(taskq, events, stop, config, os.getpid(), level),
                               name="vqe-batch", daemon=True)
            proc.start()
        workers.append(proc)

    def handle(event: Any) -> None:
        if isinstance(event, logging.LogRecord):
            progress.clear()
            logging.getLogger(event.name).handle(event)
            progress.draw(force=True)
        elif event[0] == "start":
            running[event[2]] = event[1]
            began.add(event[2])
            progress.start(event[1])
        elif event[0] == "progress":
            progress.update(event[1], event[2], event[3])
        elif event[0] == "result":
            result: FileResult = event[1]
            running.pop(next((pid for pid, i in running.items() if i == result.index), -1), None)
            results[result.index] = result
            progress.end(result.index)
            progress.clear()
            report(result)
            progress.draw(force=True)

    def reap() -> None:
        nonlocal early_deaths
        for proc in list(workers):
            if proc.is_alive() or proc.exitcode == 0:
                continue
            workers.remove(proc)
            if proc.pid not in began:
                early_deaths += 1
            if early_deaths > 2 * jobs:  # workers die before any file: replacing them would loop for ever
                for task in tasks:
                    if task.index not in results:
                        handle(("result", task.result("failed", exit_code=EXIT_INTERNAL,
                                                      error=f"worker processes exit as they start (exit code "
                                                            f"{proc.exitcode}): run one file alone to see why")))
                return
            index = running.pop(proc.pid, None)
            if index is not None and index not in results:
                task = by_index[index]
                why = (f"signal {signal.Signals(-proc.exitcode).name}" if proc.exitcode < 0
                       else f"exit code {proc.exitcode}")
                handle(("result", task.result("failed", exit_code=EXIT_INTERNAL,
                                              error=f"its worker process died ({why}): out of memory? "
                                                    f"rerun the batch to retry it")))
                with contextlib.suppress(OSError):
                    if task.output:
                        part_path(task.output).unlink(missing_ok=True)
            if len(results) < len(tasks) and not stop.is_set():
                spawn()

    for _ in range(max(1, min(jobs, len(tasks)))):
        spawn()
    try:
        while len(results) < len(tasks):
            try:
                handle(events.get(timeout=0.5))
            except queue.Empty:
                reap()
    except KeyboardInterrupt as exc:
        stop.set()
        # The workers stop within a frame, close their outputs and report; drain until they are gone.
        while any(proc.is_alive() for proc in workers):
            with contextlib.suppress(queue.Empty):
                handle(events.get(timeout=0.2))
        with contextlib.suppress(queue.Empty):  # what the last ones sent before they exited
            while True:
                handle(events.get(timeout=0.2))
        exc.results = in_order(tasks, results)  # type: ignore[attr-defined]
        raise
    finally:
        for proc in workers:
            proc.join(timeout=5)
        for q in (taskq, events):
            q.close()
            q.join_thread()
    return in_order(tasks, results)



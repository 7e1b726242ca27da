"""A batch on a Ray cluster: one task per file or per chunk, each running the per-file code of a local batch.

``--cluster ray`` connects to the cluster ``RAY_ADDRESS`` names (or starts a local one); ``--cluster ray://HOST:PORT``
to a remote one through Ray Client.  vqe must be installed on every node (``pip install "vqe[cluster]"``).

Where the workers see the driver's files (a shared file system: NFS, a local cluster), each task reads its input and
writes its output there itself, as :func:`realtime.batch.jobs.enhance_one` does; the driver tells by a marker file it
leaves in each output folder.  A task that does not see it gets the input's bytes from the driver instead and returns
the output's bytes, which the driver writes.  Ray retries a task whose worker or node is lost; since an output only ever
appears by an atomic rename of a complete file, a retried task's output is written exactly once.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from realtime.batch.jobs import BatchConfig, FileResult, FileTask, enhance_one, in_order, part_path, report_file
from realtime.errors import EXIT_INTERNAL, BackendUnavailableError, ConfigError, OutputError
from realtime.redact import redact

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "vqe[cluster]"'
#: Attempts after the first when a task's worker process or node is lost.
RETRIES = 3


def ray_address(spec: str) -> str | None:
    """The address ``ray.init`` gets for ``--cluster SPEC`` (``None``: RAY_ADDRESS, else a new local cluster);
    :class:`ConfigError` for a ``SPEC`` that is neither ``ray`` nor ``ray://HOST:PORT``."""
    if spec == "ray":
        return None
    if spec.startswith("ray://") and len(spec) > len("ray://"):
        return spec
    raise ConfigError(f"--cluster {redact(spec)!r} is not a cluster vqe knows: use ray or ray://HOST:PORT")


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error with the install command."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--cluster ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def _enhance_on_worker(task: FileTask, config: BatchConfig, marker: str | None, events: Any,
                       data: bytes | None) -> tuple[FileResult | None, bytes | None]:
    """The task: enhance one file on a Ray worker; ``(None, None)`` when it cannot see the driver's files.

    With ``data`` (the input's bytes) the file is processed in a temporary folder and the output's
    bytes are returned with the result.
    """
    import numba
    import ray

    # One core per task (Ray's default num_cpus=1): the kernels of this thread run on one.
    cpus = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1)) or 1
    numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))
    last = 0.0

    def on_progress(done: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        if events is not None and (now - last >= 0.5 or done == total):
            last = now
            with contextlib.suppress(Exception):  # the display is not worth failing a file for
                events.put_nowait((task.index, done, total))

    if data is None:
        if (marker is not None and not os.path.exists(marker)) or not os.path.exists(task.input):
            return None, None
        return enhance_one(task, config, on_progress), None
    work = Path(tempfile.mkdtemp(prefix="vqe-task-"))
    try:
        src = work / f"input{Path(task.input).suffix}"
        src.write_bytes(data)
        out = work / f"output{Path(task.output).suffix}" if task.output else None
        result = enhance_one(FileTask(task.index, str(src), str(out) if out else None, task.span), config, on_progress)
        payload = out.read_bytes() if out is not None and out.exists() else None
        if result.error:
            result.error = result.error.replace(str(src), task.input).replace(str(out), str(task.output))
        result.input, result.output = task.input, task.output
        return result, payload
    finally:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def connect(spec: str) -> Iterator[int]:
    """Connect to (or start) the cluster ``--cluster SPEC`` names for the block; yields its CPUs.

    A cluster started here is stopped at the end of the block; one already connected (``ray.init``
    called before) is used and left as it is.  Raises :class:`ConfigError` for a spec vqe does not
    know or without Ray, :class:`BackendUnavailableError` where the cluster cannot be reached or started.
    """
    address = ray_address(spec)
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # Ray starts its workers at nice 15; a cluster that vqe starts on this machine runs them like a
        # local batch's workers instead (nice 0): at nice 15, on 2 cores busy with other work, a file
        # took 36 s instead of 2 s (measured).  A setting of the user's wins; a running cluster keeps its own.
        os.environ.setdefault("RAY_worker_niceness", "0")
        try:
            ray.init(address=address, logging_level=logging.WARNING,
                     **({} if address else {"include_dashboard": False}))
        except Exception as exc:  # noqa: BLE001 - Ray raises many kinds for an unreachable cluster
            raise BackendUnavailableError(f"cannot start or reach the Ray cluster {redact(spec)} "
                                          f"({exc.__class__.__name__}: {redact(str(exc))}): check the address "
                                          f"and that the cluster runs (ray status)") from None
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started_here:
            ray.shutdown()  # the CLI exits without atexit handlers: a local cluster must be stopped here


def run_on_ray(spec: str, tasks: Sequence[FileTask], config: BatchConfig, progress: Any,
               shared: bool | None = None, report: Callable[[FileResult], None] = report_file) -> list[FileResult]:
    """Run ``tasks`` (files or chunks) as Ray tasks on the cluster ``spec`` names; returns their results in order.

    ``progress`` (a :class:`~realtime.run.progress.BatchProgress`) follows the tasks by batch index;
    ``report`` gets each result as it comes (by default a log line for a file done or failed).  ``shared``
    says whether the workers see the driver's files: ``None`` finds out (marker files), ``False`` always
    ships bytes.  On an interrupt the running tasks are cancelled (each finalizes and removes its partial
    output); the interrupt is re-raised with the results so far in ``exc.results``.
    """
    with connect(spec):
        return _run(import_ray(), tasks, config, progress, shared, report)


def _run(ray: Any, tasks: Sequence[FileTask], config: BatchConfig, progress: Any, shared: bool | None,
         report: Callable[[FileResult], None]) -> list[FileResult]:
    markers = _leave_markers(tasks) if shared is not False else {}
    from ray.util.queue import Queue

    events = Queue(actor_options={"num_cpus": 0})
    remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_enhance_on_worker)
    config_ref = ray.put(config)

    sent: dict[str, Any] = {}  # input -> its bytes in the object store: a file's chunks share them

    def submit(task: FileTask, ship: bool = False) -> Any:
        marker = markers.get(str(Path(task.output).parent)) if task.output else None
        if ship and task.input not in sent:
            sent[task.input] = ray.put(_read_input(task))
        return remote.remote(task, config_ref, marker, events, sent[task.input] if ship else None)

    pending = {submit(task, shared is False): task for task in tasks}
    started: set[int] = set()
    results: dict[int, FileResult] = {}

    def poll_progress() -> None:
        with contextlib.suppress(Exception):
            for index, done, total in events.get_nowait_batch(events.qsize()):
                if index not in started:
                    started.add(index)
                    progress.start(index)
                progress.update(index, done, total)

    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
            poll_progress()
            for ref in ready:
                task = pending.pop(ref)
                result, payload = _collect(ray, ref, task)
                if result is None:  # the worker does not see our files: send it the input itself
                    log.debug("%s: the worker does not see it, sending its bytes", task.input)
                    pending[submit(task, True)] = task
                    continue
                if payload is not None:
                    _write_payload(task, payload, result)
                results[task.index] = result
                progress.end(task.index)
                progress.clear()
                report(result)
                progress.draw(force=True)
    except KeyboardInterrupt as exc:
        for ref in pending:
            ray.cancel(ref)  # raises KeyboardInterrupt in a running task: it finalizes and cleans up
        for ref, task in pending.items():
            result, _ = _collect(ray, ref, task)
            results[task.index] = result or task.result("not started")
            report(results[task.index])
        exc.results = in_order(tasks, results)  # type: ignore[attr-defined]
        raise
    finally:
        for marker in markers.values():
            with contextlib.suppress(OSError):
                os.unlink(marker)
        with contextlib.suppress(Exception):
            ray.kill(events.actor)
    return [results[t.index] for t in tasks]


def _collect(ray: Any, ref: Any, task: FileTask) -> tuple[FileResult | None, bytes | None]:
    """A finished task's ``(result, payload)``; a task Ray gave up on becomes a failed result."""
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return task.result("not started"), None
    except ray.exceptions.RayError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return task.result("failed", exit_code=EXIT_INTERNAL,
                           error=f"its Ray task failed after {RETRIES} retries ({exc.__class__.__name__}: "
                                 f"{why}): rerun the batch to retry it"), None


def _read_input(task: FileTask) -> bytes:
    try:
        return Path(task.input).read_bytes()
    except OSError as exc:  # sent as nothing: the worker reports the input's own error
        log.debug("%s cannot be read (%s)", task.input, exc.strerror)
        return b""


def _write_payload(task: FileTask, payload: bytes, result: FileResult) -> None:
    """Write an output a worker returned as bytes: under the temporary name, then renamed."""
    part = part_path(task.output)
    try:
        part.write_bytes(payload)
        os.replace(part, task.output)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink()
        result.status, result.exit_code = "failed", OutputError.exit_code
        result.error = f"output {task.output} cannot be written ({exc.strerror}): check the folder"


def _leave_markers(tasks: Sequence[FileTask]) -> dict[str, str]:
    """A marker file in each output folder; a worker that sees it shares the driver's file system."""
    name = f".vqe-batch-{uuid.uuid4().hex}"
    markers = {}
    for folder in {str(Path(t.output).parent) for t in tasks if t.output}:
        path = os.path.join(os.path.abspath(folder), name)
        with contextlib.suppress(OSError):
            Path(path).touch()
            markers[folder] = path
    return markers

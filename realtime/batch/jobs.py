"""Batch mode: many files (paths, folders, globs) enhanced in parallel, resumable, one report at the end.

Each file goes through :func:`realtime.run.filejob.run_file`, as a single ``--file`` run; this module plans the batch,
spreads it over worker processes (:mod:`realtime.batch.localpool`, or a Ray cluster, :mod:`realtime.batch.cluster`; long
files in chunks, :mod:`realtime.batch.chunks`) and reports it.  Every output is written under a hidden name beside its
final one (:func:`part_path`) and renamed when complete, so a final name always holds a complete file: an interrupted
batch resumes by running the same command again (outputs that exist are skipped), and a worker retried after a crash
never leaves a duplicate or half-written output.
"""
from __future__ import annotations

import contextlib
import gc
import glob
import logging
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from realtime.batch.chunks import MIN_CHUNK_FRAMES, Span
from realtime.errors import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SOME_FAILED,
    ConfigError,
    OutputError,
    TruncatedInputError,
    VqeError,
)
from realtime.redact import redact
from realtime.run.stats import write_json_atomic
from realtime.settings import Settings
from realtime.sinks.writers import OutputOptions

log = logging.getLogger(__name__)

#: What a folder given as an input contributes: files with these extensions (not recursive).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mkv", ".mov", ".avi", ".y4m", ".webm", ".ts", ".mts", ".m2ts", ".mpg",
                  ".mpeg", ".vob", ".wmv", ".flv", ".3gp", ".dv", ".mxf", ".ogv")
#: Extensions vqe writes; an input of another kind keeps its name but is written as .mkv in a folder output.
_WRITABLE = (".mp4", ".mkv", ".mov", ".avi", ".y4m")
_PLACEHOLDERS = ("stem", "name", "ext", "parent")
#: How a file of a batch can end (:attr:`FileResult.status`), in the order the report counts them.
STATUSES = ("done", "skipped", "failed", "interrupted", "not started")


@dataclass(frozen=True)
class FileTask:
    """One file of a batch, or one chunk of it (``span``, written to a hidden file of its own, joined when
    every chunk is done): where it is read and where its result goes (``None``: processing only)."""

    index: int
    input: str
    output: str | None
    span: Span | None = None

    def result(self, status: str, **fields: Any) -> FileResult:
        """How this file (or chunk) ended, as a :class:`FileResult` of its index, input and output."""
        return FileResult(self.index, self.input, self.output, status, **fields)


@dataclass(frozen=True)
class BatchConfig:
    """What every file of a batch is processed with (picklable: it travels to worker processes)."""

    settings: Settings
    options: OutputOptions = OutputOptions()
    max_frames: int | None = None
    analyze: bool = False
    #: Frames per chunk when long files are split (there are more workers than files).
    chunk_frames: int = MIN_CHUNK_FRAMES


@dataclass
class FileResult:
    """How one file of a batch ended: ``status`` is ``done``, ``skipped`` (its output existed), ``failed``,
    ``interrupted`` (stopped by a signal; redone by a rerun) or ``not started``."""

    index: int
    input: str
    output: str | None
    status: str
    error: str | None = None
    exit_code: int = EXIT_OK
    frames: int = 0
    wall_s: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)
    worker: str = ""


# ---------------------------------------------------------------------------------------------- planning
def is_batch(files: Sequence[str], output: str | None) -> bool:
    """Whether ``--file`` arguments and ``-o`` ask for a batch rather than one file.

    A batch is several paths, a folder or a glob that is not an existing file (unless ``-o`` names
    one file), or an ``-o`` that is a folder or a pattern; anything else is the single-file run.
    """
    if len(files) != 1:
        return True
    if output is not None:
        return _output_is_folder_or_pattern(output)
    path = files[0]
    return Path(path).is_dir() or (not Path(path).exists() and glob.has_magic(path))


def _output_is_folder_or_pattern(output: str) -> bool:
    return "{" in output or output.endswith(("/", os.sep)) or Path(output).is_dir() or not Path(output).suffix


def expand_inputs(items: Sequence[str]) -> list[Path]:
    """The video files named by paths, folders (their videos, sorted; not recursive) and globs, in order.

    A path named twice is processed once.  A path that does not exist stays in the list: it fails
    on its own with a clear error, the others go on.  Raises :class:`ConfigError` for a folder
    without videos or a glob that matches nothing.
    """
    found: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
                            and not p.name.startswith("."))
            if not videos:
                raise ConfigError(f"folder {path} has no video files ({', '.join(VIDEO_SUFFIXES[:6])}, ...): "
                                  f"give another folder or a glob such as '{path}/**/*.mp4'")
            found += videos
        elif not path.exists() and glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ConfigError(f"--file {item!r} matches no file: check the pattern")
            found += matches
        else:
            found.append(path)
    unique: dict[str, Path] = {}
    for path in found:  # by absolute path, not resolved: two links to one file are two named inputs
        unique.setdefault(os.path.abspath(path), path)
    return list(unique.values())


def plan_outputs(inputs: Sequence[Path], output: str | None) -> list[Path | None]:
    """Where each input's result goes, for ``-o`` a folder or a pattern; folders are created.

    A folder gets each input under its own name, in its own container where vqe writes it (``.mkv`` otherwise); a
    pattern may use ``{stem}``, ``{name}``, ``{ext}`` (no dot) and ``{parent}`` (the input's folder name).  Raises
    :class:`ConfigError` for a pattern without a file extension, an unknown placeholder, one file for several inputs,
    two inputs with the same output, or an output that is its own input.
    """
    if output is None:
        return [None] * len(inputs)
    if "{" not in output and not _output_is_folder_or_pattern(output):
        if len(inputs) > 1:
            raise ConfigError(f"-o {output} is one file for {len(inputs)} inputs: give a folder (-o out/) "
                              f"or a pattern (-o 'out/{{stem}}_enhanced.mp4')")
        outputs = [Path(output)]
    elif "{" in output:
        outputs = [Path(_fill(output, p)) for p in inputs]
    else:
        outputs = [Path(output) / (p.name if p.suffix.lower() in _WRITABLE else f"{p.stem}.mkv") for p in inputs]
    seen: dict[Path, Path] = {}
    for src, out in zip(inputs, outputs):
        if out.resolve() == src.resolve():
            raise ConfigError(f"output {out} is the input file: choose another -o folder or pattern")
        if out.resolve() in seen:
            raise ConfigError(f"inputs {seen[out.resolve()]} and {src} would both be written to {out}: "
                              f"use a pattern that tells them apart, e.g. -o 'out/{{parent}}_{{stem}}.mp4'")
        seen[out.resolve()] = src
    for folder in {out.parent for out in outputs}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"output folder {folder} cannot be created ({exc.strerror}): "
                              f"choose another -o") from None
    return list(outputs)


def _fill(pattern: str, path: Path) -> str:
    values = {"stem": path.stem, "name": path.name, "ext": path.suffix.lstrip("."),
              "parent": path.resolve().parent.name}
    try:
        filled = pattern.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"-o pattern {pattern!r} is not valid ({exc}): use the placeholders "
                          f"{', '.join('{' + p + '}' for p in _PLACEHOLDERS)}") from None
    if not Path(filled).suffix:
        raise ConfigError(f"-o pattern {pattern!r} has no file extension: end it with .mp4, .mkv, .mov, .avi "
                          f"or .y4m")
    return filled


def part_path(output: str | Path) -> Path:
    """The hidden name an output is written under until it is complete (same folder: the rename is atomic)."""
    out = Path(output)
    return out.with_name(f".{out.stem}.vqe-part{out.suffix}")


def probe_frames(path: Path) -> int | None:
    """Frames the container says ``path`` has (for the batch ETA), ``None`` when it does not say or cannot."""
    try:
        if path.suffix.lower() == ".y4m":
            from realtime.sources.files import open_source

            source = open_source(path)
            source.close()
            return source.info.frame_count
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            return container.streams.video[0].frames or None
    except Exception:  # noqa: BLE001 - a file that cannot be probed fails later with its own error
        return None


# ---------------------------------------------------------------------------------------------- one file
def enhance_one(task: FileTask, config: BatchConfig,
                on_progress: Callable[[int, int | None], None] | None = None) -> FileResult:
    """Enhance one file of a batch; every outcome becomes a :class:`FileResult`, never an exception.

    A truncated input keeps the frames before the damage under the final name (a rerun cannot do
    better) and counts as failed; any other failure, an interrupt or a damaged chunk (its file
    fails whole) removes the partial output (:func:`part_path`).
    """
    from realtime.run.filejob import run_file  # loads the kernels: in the process that runs the file
    from realtime.run.stats import RunStats

    stats = RunStats()
    part = part_path(task.output) if task.output else None
    result = task.result("done", worker=f"{os.uname().nodename}:{os.getpid()}")
    try:
        run_file(task.input, part, config.settings, config.options, config.max_frames, False, stats,
                 analyze=config.analyze, on_progress=on_progress, span=task.span)
        if part is not None:
            rename_part(part, task.output)
    except TruncatedInputError as exc:
        result.status, result.exit_code = "failed", exc.exit_code
        result.error = str(exc).replace(str(part), str(task.output))
        if task.span is not None:  # the frames before the damage are not the file's output: dropped below
            span = task.span
            result.error = (f"input {task.input} is truncated or damaged in frames {span.first} to {span.end - 1} "
                            f"(chunk {span.part + 1} of {span.parts})")
        elif part is not None and part.exists():
            rename_part(part, task.output)
    except VqeError as exc:
        result.status, result.error, result.exit_code = "failed", str(exc), exc.exit_code
    except KeyboardInterrupt:
        result.status, result.exit_code = "interrupted", EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug in one file must not stop the batch; named in the report
        log.debug("%s failed", task.input, exc_info=True)
        result.status, result.exit_code = "failed", EXIT_INTERNAL
        result.error = f"internal error: {exc.__class__.__name__}: {exc} (rerun it alone with --debug)"
    finally:
        if part is not None and result.status != "done" and part.exists():
            with contextlib.suppress(OSError):
                part.unlink()
    result.frames, result.wall_s = stats.frames, round(stats.wall_s, 3)
    result.stats = stats.as_dict() if stats.frames else {}
    return result


def rename_part(part: Path, output: str | Path) -> None:
    """Give a complete output its final name (atomic: same folder)."""
    try:
        os.replace(part, output)
    except OSError as exc:
        raise OutputError(f"output {output} cannot be written ({exc.strerror}): check the folder") from None


def in_order(tasks: Sequence[FileTask], results: dict[int, FileResult]) -> list[FileResult]:
    """``results`` (by batch index) in the order of ``tasks``; a task without one is ``not started``."""
    return [results.get(t.index) or t.result("not started") for t in tasks]


# ---------------------------------------------------------------------------------------------- the batch
def report_file(result: FileResult) -> None:
    """One log line for a file that ended."""
    if result.status == "done":
        fps = result.frames / result.wall_s if result.wall_s else 0.0
        log.info("done: %s -> %s (%d frames, %.1f s, %.1f fps)", result.input, result.output or "(not written)",
                 result.frames, result.wall_s, fps)
    elif result.status == "failed":
        log.warning("failed: %s: %s", result.input, result.error)


def run_batch(files: Sequence[str], output: str | None, config: BatchConfig, jobs: int | None = None,
              cluster: str | None = None, overwrite: bool = False, show_progress: bool = False,
              stats_path: str | None = None) -> int:
    """Enhance every file ``files`` names; returns the exit code (0, :data:`EXIT_SOME_FAILED`, or 128 + signal).

    Parameters
    ----------
    files : sequence of str
        Paths, folders and globs (see :func:`expand_inputs`).
    output : str, optional
        A folder or a pattern (see :func:`plan_outputs`); ``None`` processes only.
    config : BatchConfig
        Stages, encoding and limits for every file.
    jobs : int, optional
        Worker processes (default: one per core, at most one per file or chunk).
    cluster : str, optional
        ``ray`` or ``ray://ADDRESS``: run on a Ray cluster (:mod:`realtime.batch.cluster`).
    overwrite : bool
        Redo outputs that exist (by default they are complete, and skipped).
    show_progress : bool
        Draw the batch's progress display.
    stats_path : str, optional
        Write a JSON with each file's stats and the batch's totals.

    Raises
    ------
    ConfigError, OutputError
        The batch cannot be planned (nothing has been processed).
    """
    inputs = expand_inputs(files)
    outputs = plan_outputs(inputs, output)
    if output is None:
        log.info("no -o given: processing only, nothing is written")
    tasks, skipped = [], []
    for index, (src, out) in enumerate(zip(inputs, outputs)):
        if out is not None and out.exists() and not overwrite:
            log.info("skipped: %s: %s exists (--overwrite to redo it)", src, out)
            skipped.append(FileResult(index, str(src), str(out), "skipped"))
        else:
            tasks.append(FileTask(index, str(src), str(out) if out is not None else None))
    if jobs is not None and jobs < 1:
        raise ConfigError("--jobs must be 1 or more")
    started = time.perf_counter()
    code = EXIT_OK
    with contextlib.ExitStack() as stack:
        if cluster is not None:
            from realtime.batch.cluster import connect

            workers = stack.enter_context(connect(cluster))
        else:
            from realtime.batch.localpool import default_jobs, run_local
            from realtime.run.process import cpu_cores

            workers = jobs or cpu_cores()
        from realtime.batch.assembly import Assembly

        assembly = Assembly(tasks, config, workers)
        units = assembly.units
        if cluster is None:
            jobs = min(jobs, len(units)) if jobs else default_jobs(len(units))
        progress = assembly.progress(show_progress)
        where = cluster or f"{jobs} worker process{'es' if jobs > 1 else ''}"
        log.info("batch: %d files (%d to do, %d done before) on %s", len(inputs), len(tasks), len(skipped), where)
        try:
            assembly.join_ready()
            if units and cluster is not None:
                from realtime.batch.cluster import run_on_ray

                run_on_ray(cluster, units, config, progress, report=assembly.finish)
            elif units:
                run_local(units, config, jobs, progress, logging.getLogger().getEffectiveLevel(), assembly.finish)
        except KeyboardInterrupt as exc:
            code = getattr(exc, "exit_code", EXIT_INTERRUPTED)
            progress.clear()
        else:
            progress.finish()
    results = assembly.results()
    gc.collect()  # the workers' queues release their semaphores as they are collected: before the CLI's quick exit
    wall = time.perf_counter() - started
    every = sorted(results + skipped, key=lambda r: r.index)
    failed = [r for r in every if r.status == "failed"]
    counts = {s: sum(r.status == s for r in every) for s in STATUSES}
    frames = sum(r.frames for r in every if r.status == "done")
    log.info("batch: %s in %.1f s (%d frames, %.1f fps)",
             ", ".join(f"{n} {s}" for s, n in counts.items() if n), wall, frames, frames / max(wall, 1e-9))
    if code != EXIT_OK:
        why = f"stopped by {signal.Signals(code - 128).name}" if 128 < code < 128 + 65 else "interrupted"
        log.warning("batch %s: %d files not finished; run the same command again to finish them",
                    why, counts["interrupted"] + counts["not started"])
    for result in failed:
        log.error("failed: %s: %s", result.input, redact(result.error or "?"))
    if failed and code == EXIT_OK:
        log.error("%d of %d files failed (exit code %d); the others are complete", len(failed), len(every),
                  EXIT_SOME_FAILED)
        code = EXIT_SOME_FAILED
    if stats_path is not None:  # each file's outcome and stats, and the batch's totals
        write_json_atomic(stats_path, {
            "batch": {"files": len(every), **counts, "frames": frames, "wall_s": round(wall, 3),
                      "fps": round(frames / wall, 2) if wall else 0.0, "jobs": jobs if cluster is None else None,
                      "cluster": redact(cluster) if cluster else None},
            "files": [{k: v for k, v in asdict(r).items() if k != "index"} for r in every],
        })
    return code

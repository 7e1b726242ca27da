"""A batch's units of work: whole files, or chunks of long files (:mod:`realtime.batch.chunks`), and their joins.

When a batch has more workers than files, the longest files are split until every worker has a
chunk (none shorter than ``BatchConfig.chunk_frames``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from realtime.batch.chunks import (
    Keyframes,
    Span,
    cadence_frames,
    chunk_path,
    chunkable,
    join,
    lookahead_frames,
    plan_spans,
    preroll_frames,
    remove_chunks,
    run_tag,
    scan_keyframes,
    split_files,
)
from realtime.batch.jobs import BatchConfig, FileResult, FileTask, part_path, probe_frames, rename_part, report_file
from realtime.errors import OutputError, SourceError
from realtime.run.progress import BatchProgress

log = logging.getLogger(__name__)


@dataclass
class _File:
    """A file of a batch and the units (whole, or chunks) it is done in."""

    task: FileTask
    spans: list[Span]
    parts: dict[int, FileResult]
    frames: int = 0
    result: FileResult | None = None
    began_s: float | None = None


class Assembly:
    """The units a batch runs (a file, or a chunk of one) and the files they add up to.

    ``tasks`` are the files to do, by batch index, with ``config``; they are split when there are more ``workers``
    (processes or cluster CPUs) than files.  Runners report each unit's result to :meth:`finish`; a file's result comes
    when its last chunk is done, after the join.  Chunk files complete before (an interrupted run) are not redone, and
    their file is joined at once (:meth:`join_ready`).
    """

    def __init__(self, tasks: Sequence[FileTask], config: BatchConfig, workers: int) -> None:
        self.units: list[FileTask] = []
        self._max_frames = config.max_frames
        self._files: list[_File] = []
        self._unit_file: dict[int, tuple[_File, Span | None]] = {}
        for task, (spans, frames) in zip(tasks, self._split(tasks, config, workers)):
            entry = _File(task, spans, {}, frames)
            self._files.append(entry)
            if not spans:
                self._add(entry, None, FileTask(len(self.units), task.input, task.output))
                continue
            tag = run_tag(task.input, config, spans) if task.output else ""
            for span in spans:
                out = str(chunk_path(task.output, tag, span)) if task.output else None
                if out is not None and os.path.exists(out):
                    log.info("%s: chunk %d of %d done before, kept", task.input, span.part + 1, span.parts)
                    entry.parts[span.part] = FileResult(-1, task.input, out, "done", frames=span.stop - span.start,
                                                        stats={"resumed": True})
                else:
                    self._add(entry, span, FileTask(len(self.units), task.input, out, span))

    def _add(self, entry: _File, span: Span | None, unit: FileTask) -> None:
        self._unit_file[unit.index] = (entry, span)
        self.units.append(unit)

    @staticmethod
    def _split(tasks: Sequence[FileTask], config: BatchConfig, workers: int) -> list[tuple[list[Span], int]]:
        """Each file's chunks (``[]``: done whole) and frames (0: not scanned)."""
        if workers <= len(tasks):
            return [([], 0) for _ in tasks]
        keys: list[Keyframes | None] = []
        for task in tasks:
            found = None
            if chunkable(task.input, task.output, config.options.encoder):
                try:
                    found = scan_keyframes(task.input)
                except SourceError as exc:  # the whole-file run reports it
                    log.debug("%s is done whole: %s", task.input, exc)
            keys.append(found)
        limit = config.max_frames
        frames = [0 if k is None else min(k.frames, limit) if limit else k.frames for k in keys]
        parts = split_files(frames, workers, config.chunk_frames)
        settings = config.settings
        preroll, lookahead, cadence = preroll_frames(settings), lookahead_frames(settings), cadence_frames(settings)
        plans = []
        for task, key, n in zip(tasks, keys, parts):
            spans = plan_spans(key, n, preroll, lookahead, limit, config.chunk_frames, task.output, cadence) \
                if key is not None and n > 1 else []
            if len(spans) > 1:
                log.info("%s: %d chunks of about %d frames (pre-roll: %d frames)", task.input, len(spans),
                         spans[0].stop, preroll)
            plans.append((spans if len(spans) > 1 else [], key.frames if key is not None else 0))
        return plans

    def progress(self, show: bool) -> BatchProgress:
        """The progress display: a row for each unit, by its index, with the frames it reads (a chunk:
        with its pre-roll and lookahead; a file: as its container says, at most ``--max-frames``)."""
        totals, names = [], []
        for unit in self.units:
            span, name = unit.span, Path(unit.input).name
            if span is not None:
                totals.append(span.end - span.first)
                names.append(f"{name} [{span.part + 1}/{span.parts}]")
                continue
            probed, limit = probe_frames(Path(unit.input)), self._max_frames
            totals.append(probed if limit is None else min(probed, limit) if probed else limit)
            names.append(name)
        return BatchProgress(totals, names, show, on_start=self.started)

    def started(self, unit_index: int) -> None:
        """A unit began: its file's clock starts with its first unit."""
        entry, _ = self._unit_file[unit_index]
        if entry.began_s is None:
            entry.began_s = time.perf_counter()

    def finish(self, result: FileResult) -> None:
        """A unit ended: a whole file's result is reported now, a chunked file's when its last chunk is in."""
        entry, span = self._unit_file[result.index]
        if span is None:
            entry.result = replace(result, index=entry.task.index)
            report_file(entry.result)
            return
        entry.parts[span.part] = result
        if entry.result is not None:  # the file failed already: a later chunk's file goes too
            self._discard(entry)
            return
        if result.status == "failed":
            self._fail(entry, result.error or "?", result.exit_code)
        elif len(entry.parts) == len(entry.spans) and all(r.status == "done" for r in entry.parts.values()):
            self._join(entry)

    def join_ready(self) -> None:
        """Join the files whose chunks were all complete before this run."""
        for entry in self._files:
            if entry.spans and entry.result is None and len(entry.parts) == len(entry.spans):
                self._join(entry)

    def results(self) -> list[FileResult]:
        """Each file's result, in batch order: those not finished are ``interrupted`` or ``not started``."""
        out = []
        for entry in self._files:
            begun = any(r.status in ("done", "interrupted") for r in entry.parts.values())
            out.append(entry.result or entry.task.result("interrupted" if begun else "not started"))
        return out

    def _fail(self, entry: _File, error: str, exit_code: int) -> None:
        task = entry.task
        kept = "" if task.output is None else f"; nothing was written to {task.output}"
        entry.result = task.result("failed", error=f"{error}{kept}", exit_code=exit_code, stats=self._stats(entry))
        self._discard(entry)
        report_file(entry.result)

    def _discard(self, entry: _File) -> None:
        if entry.task.output is not None:
            remove_chunks(entry.task.output)

    def _join(self, entry: _File) -> None:
        task = entry.task
        parts = [entry.parts[span.part] for span in entry.spans]
        stats = self._stats(entry)
        if task.output is not None:
            final = Path(task.output)
            part = part_path(final)
            try:
                complete = entry.spans[-1].stop == entry.frames
                stats["join_s"] = round(join([(Path(r.output), s) for r, s in zip(parts, entry.spans)], task.input,
                                             part, cut_audio=not complete), 3)
                rename_part(part, final)
            except OutputError as exc:  # the chunks are kept: a rerun joins them again
                entry.result = task.result("failed", error=str(exc), exit_code=exc.exit_code, stats=stats)
                report_file(entry.result)
                return
            finally:  # a join that failed or was interrupted leaves no partial output
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
            self._discard(entry)
        wall = time.perf_counter() - entry.began_s if entry.began_s is not None else sum(r.wall_s for r in parts)
        workers = sorted({r.worker for r in parts if r.worker})
        entry.result = task.result("done", frames=sum(r.frames for r in parts), wall_s=round(wall, 3), stats=stats,
                                   worker=", ".join(workers))
        report_file(entry.result)

    def _stats(self, entry: _File) -> dict[str, Any]:
        """A chunked file's ``--stats``: each chunk's frames, pre-roll, time, worker and run stats."""
        chunks = []
        for span in entry.spans:
            r = entry.parts.get(span.part)
            chunks.append({"chunk": span.part + 1, "frames": [span.start, span.stop], "preroll": span.start - span.first,
                           "status": r.status if r else "not started", "wall_s": r.wall_s if r else 0.0,
                           "worker": r.worker if r else "", "stats": r.stats if r else {}})
        return {"chunks": chunks}


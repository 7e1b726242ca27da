"""File mode: decode every frame, run the pipeline, write every result. Nothing is dropped."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from realtime.run.capture import Capture
from realtime.run.frames import Frame
from realtime.run.pipeline import Pipeline
from realtime.run.plan import negotiate
from realtime.run.progress import Progress
from realtime.run.ringbuffer import DropPolicy
from realtime.run.stats import RunStats
from realtime.settings import Settings
from realtime.sinks.recorder import Recorder
from realtime.sinks.writers import (
    OutputOptions,
    check_output_path,
    open_writer,
    resolve_codec,
)
from realtime.sources.files import open_source

if TYPE_CHECKING:
    from realtime.batch.chunks import Span

log = logging.getLogger(__name__)


def run_file(input_path: str | Path, output_path: str | Path | None = None, settings: Settings | None = None,
             options: OutputOptions = OutputOptions(), max_frames: int | None = None,
             show_progress: bool = False, stats: RunStats | None = None, planar: bool | None = None,
             analyze: bool = False, on_progress: Callable[[int, int | None], None] | None = None,
             span: Span | None = None) -> RunStats:
    """Enhance a video file.

    Parameters
    ----------
    input_path : path
        Any video FFmpeg decodes, or ``.y4m``.
    output_path : path, optional
        ``.mp4``/``.mkv``/``.mov``/``.avi`` (encoded, audio kept) or ``.y4m``; ``None`` processes only.
    settings : Settings, optional
        Stages, parameters and backend.
    options : OutputOptions
        Codec and encoder choices.
    max_frames : int, optional
        Stop after this many input frames.
    show_progress : bool
        Draw a progress bar on stderr.
    stats : RunStats, optional
        Filled in as the run goes, so a caller still has it after an interrupt.
    planar : bool, optional
        Keep frames in the file's own planar Y'CbCr from decoder to encoder (no BGR
        conversion).  Default: wherever the stages, the input and the output allow it;
        ``False`` forces BGR.
    analyze : bool
        First read the whole file and fix levels and white balance per shot (:mod:`realtime.run.analysis`);
        its time and shot count go into ``stats.extra`` (``analysis_s``, ``shots``).
    on_progress : callable, optional
        Called as ``on_progress(frames_read, total)`` before the first frame and after each
        output frame (``total`` is ``None`` when the file does not say); an exception it
        raises stops the run like an interrupt, the output finalized.  A batch follows
        and stops its files with it (:mod:`realtime.batch.jobs`).
    span : Span, optional
        Enhance one chunk of the file (:mod:`realtime.batch.chunks`): its frames from a keyframe
        before it, writing only its own frames (video only; the chunks' join adds the audio).

    Returns
    -------
    RunStats
        Frames, timings and drops of the run.

    Raises
    ------
    SourceError, OutputError, ConfigError, BackendUnavailableError
    """
    stats = stats or RunStats()
    if span is None:
        source = open_source(input_path)
    else:
        from realtime.batch.chunks import SpanSource

        source = SpanSource(input_path, span)
    try:
        out_path = None
        if output_path is not None:
            out_path = check_output_path(output_path, input_path)
            resolve_codec(out_path, options)
        pipeline = Pipeline(settings, stats=stats)
        plan = negotiate(pipeline, source, [out_path] if out_path is not None else [], options, planar=planar)
        stats.extra.update(input=str(input_path), output=str(out_path) if out_path else None,
                           backend=pipeline.backend.name, stage_chain=list(pipeline.stage_names),
                           frames_as=plan.layout, plan=plan.as_dict(),
                           delay_frames=pipeline.delay_frames,
                           delay_ms=round(1000 * pipeline.delay_frames / float(source.info.fps), 1))
        log.info("%s: %s frames; stages: %s; backend: %s", input_path, source.info.frame_count or "?",
                 ",".join(pipeline.stage_names) or "none", pipeline.backend.name)
        if analyze:
            from realtime.run.analysis import plan_pipeline  # loads the analysed stages' kernels: only when asked

            plan_pipeline(pipeline, input_path, max_frames=max_frames, stats=stats)
        total = source.info.frame_count
        if max_frames is not None:
            total = min(total, max_frames) if total else max_frames
        progress = Progress(total, show_progress)
        if on_progress is not None:
            on_progress(0, total)
        recorder: Recorder | None = None
        complete = truncated = False

        factor = pipeline.rate_factor  # output frames per input frame (a field-rate deinterlacer: 2)

        def emit(frame: Frame) -> None:
            nonlocal recorder
            # A chunk writes only its own frames: not its pre-roll, nor the lookahead read after it.
            if span is not None and not span.start * factor <= frame.index < span.stop * factor:
                return
            if out_path is not None:
                if recorder is None:
                    writer = open_writer(out_path, plan.output, plan.size, options)
                    recorder = Recorder(writer, frame.image.shape, DropPolicy.BLOCK).start()
                recorder.write(frame, exchange=pipeline.exchange_output)
            stats.frames += 1
            stats.latency.add((time.monotonic() - frame.capture_s) * 1e3)

        # Ring slots in page-locked memory on a GPU: uploads from them are asynchronous.
        capture = Capture(source, DropPolicy.BLOCK, max_frames=max_frames, allocate=pipeline.backend.host_empty,
                          transform=plan.convert)
        try:
            with capture:
                # hold=2: the pipeline reads one frame ahead to overlap its upload with the current frame.
                for out in pipeline.run(capture.frames(hold=2)):
                    emit(out)
                    progress.update(capture.frames_read)
                    if on_progress is not None:
                        on_progress(capture.frames_read, total)
            truncated = capture.truncated
            # Complete: the whole input went through, so all of its audio is kept too.
            complete = not truncated and (max_frames is None or capture.frames_read < max_frames)
        finally:
            progress.finish()
            if recorder is not None:
                recorder.close(complete=complete)
                stats.io["encode"] = recorder.encode
                stats.drops["recorder"] = recorder.drops
            stats.io["decode"] = capture.decode
            stats.drops["capture"] = capture.drops
            stats.stop()
        if truncated:
            raise capture.truncation_error(out_path)
        return stats
    finally:
        source.close()


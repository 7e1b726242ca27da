"""File mode: decode every frame, run the pipeline, write every result. Nothing is dropped."""
from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from kernels.colorspace import change_matrix_i420, matrix_change
from kernels.planes import i420_planes, i420_size
from realtime.run.capture import Capture
from realtime.run.frames import Frame
from realtime.run.pipeline import Pipeline
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
    writes_i420_of,
    written_matrix,
)
from realtime.sources.files import SourceInfo, delivers_i420, open_source

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
        if planar is None:
            planar = _can_stay_planar(pipeline, source.info, out_path, options)
        source.planar = planar
        info, convert = source.info, None
        if planar and out_path is not None:
            info, convert = _in_output_matrix(pipeline, info, out_path, options)
        # Rate, field order and time base of what the chain writes (a deinterlacer changes them).
        out_info = pipeline.set_source(info, planar=planar)
        stats.extra.update(input=str(input_path), output=str(out_path) if out_path else None,
                           backend=pipeline.backend.name, stage_chain=list(pipeline.stage_names),
                           frames_as="I420" if planar else "BGR",
                           delay_frames=pipeline.delay_frames,
                           delay_ms=round(1000 * pipeline.delay_frames / float(source.info.fps), 1))
        log.info("%s: %dx%d @ %.3f fps, %s frames; stages: %s; backend: %s; frames as %s", input_path,
                 source.info.width, source.info.height, float(source.info.fps), source.info.frame_count or "?",
                 ",".join(pipeline.stage_names) or "none", pipeline.backend.name, "I420" if planar else "BGR")
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
                    height, width = i420_size(frame.image) if planar else frame.image.shape[:2]
                    writer = open_writer(out_path, out_info, (width, height), options)
                    recorder = Recorder(writer, frame.image.shape, DropPolicy.BLOCK).start()
                recorder.write(frame, exchange=pipeline.exchange_output)
            stats.frames += 1
            stats.latency.add((time.monotonic() - frame.capture_s) * 1e3)

        # Ring slots in page-locked memory on a GPU: uploads from them are asynchronous.
        capture = Capture(source, DropPolicy.BLOCK, max_frames=max_frames, allocate=pipeline.backend.host_empty,
                          transform=convert)
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


def _in_output_matrix(pipeline: Pipeline, info: SourceInfo, out_path: Path,
                      options: OutputOptions) -> tuple[SourceInfo, Callable[[np.ndarray], None] | None]:
    """The input's info in the matrix the output is written in, and the in-place I420 conversion to it.

    A resized ``.y4m`` (an upscale to HD) is written in the matrix its height implies.  The
    frames are re-expressed in it as they are read, at the input's size: the output of an
    upscale has several times the pixels.  ``(info, None)`` when the matrices agree.
    """
    height, width = pipeline.output_size(info.height, info.width)
    matrix = written_matrix(out_path, info, (width, height), options)
    if matrix == info.fmt.matrix:
        return info, None
    fmt = replace(info.fmt, matrix=matrix)
    coeffs = matrix_change(info.fmt, fmt)
    log.debug("frames re-expressed from %s to %s as they are read", info.fmt.matrix, matrix)

    def convert(image: np.ndarray) -> None:
        planes = i420_planes(image)
        change_matrix_i420(planes, coeffs, out=planes)

    return replace(info, fmt=fmt), convert


def _can_stay_planar(pipeline: Pipeline, info: SourceInfo, out_path: Path | None, options: OutputOptions) -> bool:
    """Frames stay I420 when the input decodes to it, every stage takes it and the output stores it as is."""
    if not (pipeline.planar and delivers_i420(info)):
        return False
    height, width = pipeline.output_size(info.height, info.width)
    if height % 2 or width % 2:
        return False
    return out_path is None or writes_i420_of(out_path, info, (width, height), options)

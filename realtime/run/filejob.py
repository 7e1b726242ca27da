"""File mode: decode every frame, run the pipeline, write every result. Nothing is dropped."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from realtime.run.session import Session
from realtime.run.stats import RunStats
from realtime.settings import Settings
from realtime.sinks.writers import OutputOptions, check_output_path, resolve_codec
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
        Keep frames in the file's own planar Y'CbCr from decoder to encoder (no BGR conversion).  Default:
        wherever the stages, the input and the output allow it; ``False`` forces BGR.
    analyze : bool
        First read the whole file and fix levels and white balance per shot (:mod:`realtime.run.analysis`);
        its time and shot count go into ``stats.extra`` (``analysis_s``, ``shots``).
    on_progress : callable, optional
        Called as ``on_progress(frames_read, total)`` before the first frame and after each output frame (``total`` is
        ``None`` when the file does not say); an exception it raises stops the run like an interrupt, the output
        finalized.  A batch follows and stops its files with it (:mod:`realtime.batch.jobs`).
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
        session = Session(source, settings, live=False, output=out_path, options=options, display=False,
                          max_frames=max_frames, stats=stats, analyze=analyze, planar=planar,
                          show_progress=show_progress, on_progress=on_progress, span=span)
        stats.extra.update(input=str(input_path), output=str(out_path) if out_path else None)
        log.info("%s: %s frames; stages: %s; backend: %s", input_path, source.info.frame_count or "?",
                 ",".join(session.pipeline.stage_names) or "none", session.pipeline.backend.name)
        return session.run()
    finally:
        source.close()

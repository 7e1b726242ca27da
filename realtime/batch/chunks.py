"""Long files in chunks: split at keyframes, enhanced in parallel, joined without re-encoding.

A chunk is a run of the file's frames that one worker enhances and encodes into its own file.  It decodes from a
keyframe before its first frame and feeds the chain a *pre-roll* (:func:`preroll_frames`) that is not written: the
temporal stages have finite memory, so after the pre-roll they hold the state a whole-file run holds at that frame, and
a seam is invisible.  It also reads the stabilizer's lookahead past its last frame.  Every chunk's encoder starts with a
keyframe; the chunks' packets are joined by stream copy, with the source's audio muxed once (:func:`join`).  Frames keep
the whole file's numbers and timestamps, so ``--analyze`` schedules and timestamps come out the same as unchunked.
"""
from __future__ import annotations

import bisect
import contextlib
import glob
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

from realtime.errors import OutputError, SourceError
from realtime.settings import Settings
from realtime.sources.files import AvFileSource, check_input_path, video_info

log = logging.getLogger(__name__)

#: Frames a chunk is made of, at least about (half of it at the least, where keyframes fall badly): each
#: chunk redoes a pre-roll (about 190 frames with the default chain), a larger share of a shorter chunk.
MIN_CHUNK_FRAMES = 600
#: Time constants of a stage's smoothing after which a chunk's state is the whole file's: e^-7,
#: a thousandth of the difference a fresh start makes, is far below one level.
SETTLE_TIME_CONSTANTS = 7.0
#: Outputs whose chunks can be joined by stream copy (raw .y4m and OpenCV outputs are not chunked).
JOINABLE = (".mp4", ".mkv", ".mov", ".avi")
#: Containers whose chunks start at time 0, the join adding their start back: an MP4/MOV edit
#: list holds a start in whole milliseconds only (frames moved by up to 1 ms, measured), and AVI
#: has no start time.  Matroska chunks keep the source's clock, in the milliseconds the file has.
_REBASED = (".mp4", ".mov", ".avi")


@dataclass(frozen=True)
class Keyframes:
    """Where a file's frames and keyframes are, from its packets (nothing decoded)."""

    #: Video frames in the file.
    frames: int
    #: Frame number (presentation order) of each keyframe, ascending.
    indices: tuple[int, ...]
    #: Each keyframe's timestamp in the stream's time base.
    pts: tuple[int, ...]
    #: The first frame's timestamp.
    first_pts: int = 0

    def at_or_before(self, frame: int) -> int:
        """Position in :attr:`indices` of the last keyframe at or before ``frame``."""
        return max(bisect.bisect_right(self.indices, frame) - 1, 0)


@dataclass(frozen=True)
class Span:
    """The frames one chunk decodes, feeds the chain and writes.

    Decoding starts at the keyframe ``seek_pts`` (frame ``seek_index``); frames ``first`` to ``start - 1``
    are the pre-roll, ``start`` to ``stop - 1`` are written, ``stop`` to ``end - 1`` are the lookahead
    after it.  With ``origin_pts`` the chunk is written with that source time (its first frame's) as 0.
    """

    part: int
    parts: int
    seek_pts: int
    seek_index: int
    first: int
    start: int
    stop: int
    end: int
    origin_pts: int | None = None


def scan_keyframes(path: str | Path) -> Keyframes:
    """The frame count and keyframes of ``path``'s first video stream, from its packets only.

    Raises :class:`SourceError` where the file cannot be read or has no video.
    """
    import av

    check_input_path(path)
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise SourceError(f"input {path} has no video stream: give a file with video")
            stream = container.streams.video[0]
            stamps: list[int] = []
            keys: list[int] = []
            for packet in container.demux(stream):
                if packet.pts is None or not packet.size:
                    continue
                stamps.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
    except av.FFmpegError as exc:
        raise SourceError(f"input {path} cannot be read for chunking ({exc}): check the file") from None
    stamps.sort()
    rank = {pts: i for i, pts in enumerate(stamps)}
    indices = sorted({rank[pts] for pts in keys})
    return Keyframes(len(stamps), tuple(indices), tuple(stamps[i] for i in indices), stamps[0] if stamps else 0)


def preroll_frames(settings: Settings) -> int:
    """Frames a chunk's chain sees before its first written frame, so that its state is the whole run's.

    Each temporal stage's memory: the denoiser's (its smallest new-frame weight) and its noise
    estimate's, the sharpener's estimates, the levels' and white balance's smoothing, the
    stabilizer's path window and its border zoom's hold and settling.
    """
    from realtime.stages.camera_path import SETTLED_FULL, SETTLED_PER_TAU, auto_smoothing
    from realtime.stages.denoise import SIGMA_EMA
    from realtime.stages.sharpen import MEASURE_EMA, MEASURE_EVERY
    from realtime.stages.stabilize import ZOOM_HOLD_FRAMES

    need = 0.0
    for name in settings.stages:
        p = settings.params[name]
        if name == "denoise":
            need = max(need, SETTLE_TIME_CONSTANTS / p.temporal, SETTLE_TIME_CONSTANTS * p.estimate_every / SIGMA_EMA)
        elif name == "sharpen":
            need = max(need, SETTLE_TIME_CONSTANTS * MEASURE_EVERY / MEASURE_EMA)
        elif name in ("contrast", "color"):
            need = max(need, SETTLE_TIME_CONSTANTS * p.smoothing)
        elif name == "stabilize":
            # A settled path: its longer window filled, and old enough to be smoothed as in a whole run.
            window = max(SETTLED_PER_TAU * (p.smoothing or auto_smoothing(p.lookahead)), SETTLED_FULL)
            # The zoom settles at zoom_rise a frame: a 0.1 difference (a 10% crop) in 25 frames by default.
            settle = 0.1 / max(p.zoom_rise, 1e-3)
            need = max(need, window + ZOOM_HOLD_FRAMES + settle + p.lookahead)
        elif name == "deinterlace":
            need = max(need, 2)
    return int(math.ceil(need))


def cadence_frames(settings: Settings) -> int:
    """Period of the stages' every-few-frames estimates (denoise's noise, sharpen's noise and softness).

    A chunk's pre-roll starts at a multiple of it, so that its stages estimate on the same frames
    as in a whole-file run (which counts from frame 0).
    """
    from realtime.stages.sharpen import MEASURE_EVERY

    period = 1
    for name in settings.stages:
        if name == "denoise":
            period = math.lcm(period, settings.params[name].estimate_every)
        elif name == "sharpen":
            period = math.lcm(period, MEASURE_EVERY)
    return period


def lookahead_frames(settings: Settings) -> int:
    """Frames past a chunk's last one that its chain reads before that frame leaves it (the lookahead)."""
    frames = 0
    for name in settings.stages:
        if name == "stabilize":
            frames += settings.params[name].lookahead
        elif name == "deinterlace":
            frames += 1  # a field-rate deinterlacer holds a frame
    return frames


def plan_spans(keys: Keyframes, parts: int, preroll: int, lookahead: int, frames: int | None = None,
               min_frames: int = MIN_CHUNK_FRAMES, output: str | Path | None = None, cadence: int = 1) -> list[Span]:
    """Split a file into up to ``parts`` chunks of about equal length that start at keyframes.

    Each chunk reads ``preroll`` frames before its own and ``lookahead`` after; pre-rolls start at
    a multiple of ``cadence``.  ``frames`` limits the frames done (``--max-frames``); there are at
    most ``frames // min_frames`` chunks, none shorter than half of it; ``output``'s container
    decides whether chunks start at time 0.  One span (the whole file) when it cannot be split.
    """
    total = min(keys.frames, frames) if frames is not None else keys.frames
    parts = max(1, min(parts, total // max(min_frames, 1)))
    starts = [0]
    for k in range(1, parts):
        ideal = round(k * total / parts)
        pos = bisect.bisect_left(keys.indices, ideal)
        near = [keys.indices[i] for i in (pos - 1, pos) if 0 <= i < len(keys.indices)]
        cut = min(near, key=lambda f: abs(f - ideal), default=0)
        # Keyframes seldom fall on the ideal cut: a chunk may come out up to half a minimum shorter.
        if cut - starts[-1] >= min_frames // 2 and total - cut >= min_frames // 2:
            starts.append(cut)
    bounds = starts + [total]
    rebased = output is not None and Path(output).suffix.lower() in _REBASED
    spans = []
    for part, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        first = max((start - preroll) // cadence * cadence, 0)
        seek = keys.at_or_before(first)
        origin = (keys.pts[keys.indices.index(start)] if start else keys.first_pts) if rebased else None
        spans.append(Span(part, len(starts), keys.pts[seek] if keys.pts else 0, keys.indices[seek] if keys.indices
                          else 0, first, start, stop, min(stop + lookahead, total), origin))
    return spans


def split_files(frames: Sequence[int | None], workers: int, min_frames: int = MIN_CHUNK_FRAMES) -> list[int]:
    """Chunks for each file so that a batch keeps ``workers`` busy: the longest chunks are split first.

    Only when there are more workers than files; a file of unknown length (``None``)
    or not chunkable (``0``) stays whole, and no chunk is shorter than ``min_frames``.
    """
    parts = [1] * len(frames)
    if workers <= len(frames):
        return parts
    sizes = [f or 0 for f in frames]
    while sum(parts) < workers:
        i = max(range(len(sizes)), key=lambda j: sizes[j] / parts[j])
        if sizes[i] // (parts[i] + 1) < min_frames:
            break
        parts[i] += 1
    return parts


def chunkable(input_path: str | Path, output: str | Path | None, encoder: str) -> bool:
    """Whether a file can be done in chunks: decoded by PyAV, and written (if at all) by it in a container."""
    return Path(input_path).suffix.lower() != ".y4m" and (
        output is None or (Path(output).suffix.lower() in JOINABLE and encoder == "pyav"))


def chunk_path(output: str | Path, tag: str, span: Span) -> Path:
    """A chunk's output: hidden, beside the final output, named by the run's ``tag`` and its place."""
    out = Path(output)
    return out.with_name(f".{out.stem}.vqe-chunk-{tag}-{span.part + 1:03d}of{span.parts:03d}{out.suffix}")


def run_tag(input_path: str | Path, config: Any, spans: Sequence[Span]) -> str:
    """What a chunk's file name carries so that a rerun reuses only chunks made the same way: the input's
    size and time, the settings and output options, and the split."""
    stat = os.stat(input_path)
    what = repr((os.path.abspath(input_path), stat.st_size, stat.st_mtime_ns, config, tuple(spans)))
    return hashlib.sha1(what.encode()).hexdigest()[:10]


def remove_chunks(output: str | Path) -> None:
    """Delete the finished chunk files of ``output``: a failed file is redone from scratch.

    Chunks still being written are left to their workers, which remove them when
    they stop (an open file deleted under a writer would be salvaged, not dropped).
    """
    out = Path(output)
    for path in out.parent.glob(f".{glob.escape(out.stem)}.vqe-chunk-*{glob.escape(out.suffix)}"):
        with contextlib.suppress(OSError):
            path.unlink()


class SpanSource(AvFileSource):
    """A file's frames ``span.first`` to ``span.end - 1``, numbered and timed as in the whole file.

    Decoding starts at the span's keyframe; the frames before ``first`` are decoded and dropped without
    conversion.  The file's audio is left out: it is muxed once, when the chunks are joined.
    """

    def __init__(self, path: str | Path, span: Span) -> None:
        super().__init__(check_input_path(path))
        self.span = span
        self._origin_s = 0.0
        if span.origin_pts is not None:
            # Frames stamped from the chunk's first one, and a writer that adds no start back.
            self._origin_s = float(span.origin_pts * (self.info.time_base or 0))
            self.info = replace(self.info, start_s=0.0)
        self.info = replace(self.info, frame_count=span.end - span.first, has_audio=False)
        if span.seek_index or span.first:
            stream = self._container.streams.video[0]
            self._container.seek(span.seek_pts, stream=stream, backward=True, any_frame=False)
            self._frames = self._container.decode(stream)
            self._peeked = None
            self._index = span.seek_index
            while True:  # to the keyframe (an open GOP decodes earlier frames first), then to ``first``
                frame = self._next_frame()
                if frame is None:
                    break
                if frame.pts is not None and frame.pts < span.seek_pts:
                    continue
                if self._index >= span.first:
                    self._peeked = frame
                    break
                self._index += 1

    def read_into(self, slot: Any) -> bool:
        if self._index >= self.span.end or not super().read_into(slot):
            return False
        slot.pts_s -= self._origin_s
        return True


def join(chunks: Sequence[tuple[Path, Span]], source: str | Path, output: Path, cut_audio: bool = False) -> float:
    """Join chunk files into ``output`` by stream copy; the source's audio is muxed once; returns seconds taken.

    Video packets keep their timestamps (a chunk that starts at 0, :attr:`Span.origin_pts`, gets its start back),
    shifted as a whole-file run shifts them when the audio starts before the video.  With ``cut_audio``
    (``--max-frames``) the audio ends with the video.  ``output`` is written whole (MP4/MOV with its index first).
    Raises :class:`OutputError` where a chunk cannot be read or the output cannot be written.
    """
    import av

    from realtime.sinks.avencode import _MUXERS

    t0 = time.perf_counter()
    suffix = output.suffix.lower()
    options = {"movflags": "+faststart"} if suffix in (".mp4", ".mov") else {}
    try:
        with contextlib.ExitStack() as stack:
            inputs = [(stack.enter_context(av.open(str(path), metadata_errors="ignore")), span)
                      for path, span in chunks]
            dst = stack.enter_context(av.open(str(output), "w", format=_MUXERS[suffix], options=options))
            video = dst.add_stream_from_template(inputs[0][0].streams.video[0])
            source_base, origin_s, audio = _source_clock(source, dst)
            if audio is not None:
                stack.callback(audio.close)
            end_s = 0.0
            for container, span in inputs:
                stream = container.streams.video[0]
                base = stream.time_base
                start = Fraction(span.origin_pts) * source_base if span.origin_pts is not None else Fraction(0)
                shift = round((start - Fraction(origin_s)) / base)
                for packet in container.demux(stream):
                    if packet.dts is None and packet.pts is None:
                        continue
                    if packet.pts is not None:
                        t = float((packet.pts + shift) * base)
                        end_s = max(end_s, t + float((packet.duration or 0) * base))
                        if audio is not None:
                            audio.mux_until(t)
                    packet.pts = None if packet.pts is None else packet.pts + shift
                    packet.dts = None if packet.dts is None else packet.dts + shift
                    packet.stream = video
                    dst.mux(packet)
            if audio is not None:
                audio.mux_until(end_s if cut_audio else None)
    except (av.FFmpegError, OSError) as exc:
        raise OutputError(f"joining the chunks of {output} failed ({getattr(exc, 'strerror', None) or exc}): "
                          f"check the disk and run again") from None
    return time.perf_counter() - t0


def _source_clock(source: str | Path, dst: Any) -> tuple[Fraction, float, Any]:
    """The source video's time base, the origin a whole-file run gives the output (see AvWriter), its audio.

    The origin is the earlier of the video's and the audio's start when there is audio, else 0.
    """
    import av

    from realtime.sources.audio import copy_audio

    with av.open(str(source), metadata_errors="ignore") as probe:
        info = video_info(probe, str(source))
    audio = copy_audio(source, dst, info.start_s, dst.name) if info.has_audio else None
    return info.time_base or Fraction(1, 90000), audio.origin_s if audio is not None else 0.0, audio

"""A run's outputs: files and network streams, each written by its own recorder thread.

Every output has its own bounded queue, thread and drop count, so a slow network never holds up a recording beside it,
nor the processing.  Live outputs carry the source's real timeline from their first frame (they play at real speed
across drops and gaps) and the source's own audio; a file processed whole keeps every frame and the input's audio.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from realtime.redact import redact
from realtime.run.frames import Frame, picture_size, scaled
from realtime.run.ringbuffer import DropPolicy
from realtime.sinks.netout import check_network_output
from realtime.sinks.recorder import Recorder
from realtime.sinks.writers import (
    OutputOptions,
    check_output_path,
    is_network_output,
    open_writer,
)
from realtime.sources.files import SourceInfo

log = logging.getLogger(__name__)

#: Frames a live network output may queue for its encoder (about a quarter second at 30 fps).
NETWORK_SLOTS = 8
#: An output: a file path, or a network URL (kept a string: no path rules apply to it).
Target = Path | str


def check_target(target: str | Path, options: OutputOptions) -> Target:
    """Fail before any work on an output that cannot be written or sent to; return it checked."""
    if is_network_output(target):
        return check_network_output(str(target), options)
    return check_output_path(target)


class Recordings:
    """The outputs of a session, started and stopped together.

    ``targets`` are written from the start (checked with :func:`check_target`); without any, the
    preview's ``r`` key starts a recording to ``vqe-DATE-TIME.mp4``.  ``live`` outputs have
    newest-frame queues (drops counted), the capture timeline and the source's own ``audio``.
    """

    def __init__(self, targets: Sequence[Target], options: OutputOptions, live: bool, audio: Any = None) -> None:
        self.targets = list(targets)
        self.options = options
        self.live = live
        self.audio = audio
        self.active: list[tuple[Target, Recorder]] = []
        #: Every output written so far, in order (a restarted recording gets a new file name).
        self.written: list[Target] = []
        self._origin_s: float | None = None
        self._drops = {"recorder": 0, "network": 0}  # of the outputs already stopped
        self._finished: list[dict[str, Any]] = []  # what each stopped output wrote and lost
        self._last_encode: Any = None  # the encode timings of the last output stopped
        self._size: tuple[int, int] | None = None  # (width, height) the outputs were opened at
        self._warned_size: tuple[int, int] | None = None

    def start(self, info: SourceInfo, size: tuple[int, int], shape: tuple[int, ...]) -> None:
        """Open every output for the chain's frames: ``size`` (width, height) pictures described by
        ``info``, each an array of ``shape`` (I420 or BGR, see :mod:`realtime.run.plan`)."""
        if self.live:
            info = replace(info, has_audio=False, time_base=Fraction(1, 90000))
        policy = DropPolicy.DROP_OLDEST if self.live else DropPolicy.BLOCK
        # Live, about a second of frames absorbs a recording encoder's slow start without dropping; a
        # network output queues a few frames only: a viewer is better served by a dropped frame than by
        # a delay that grows to a second whenever the encoder falls behind.  A file drops nothing
        # anyway (the processing waits): a few frames smooth the encoder's pace, and each queued
        # frame is a buffer the chain cannot reuse.
        file_slots = int(min(max(float(info.fps), 8), 60)) if self.live else 8
        self._origin_s = None
        self._size = tuple(size)  # type: ignore[assignment]
        for target in self._next_targets():
            checked = target if isinstance(target, str) else check_output_path(target)
            writer = open_writer(checked, info, size, self.options, keep_audio=not self.live,
                                 live_audio=self.audio if self.live else None)
            writer.warm_up(tuple(shape))
            slots = NETWORK_SLOTS if isinstance(target, str) and self.live else file_slots
            self.active.append((target, Recorder(writer, policy, slots=slots).start()))
            self.written.append(target)
            if not isinstance(target, str):  # (a network output says where it streams itself)
                log.info("recording to %s", target)

    def _next_targets(self) -> list[Target]:
        """The given outputs the first time; then new file names beside them (a stream is sent to again)."""
        if not self.targets:
            return [_numbered(Path(f"vqe-{datetime.now():%Y%m%d-%H%M%S}.mp4"), self.written)]
        return [t if isinstance(t, str) or t not in self.written else _numbered(t, self.written) for t in self.targets]

    def write(self, out: Frame) -> None:
        """Queue ``out`` for every output (the frame itself: no copy); never waits in live runs."""
        if self.live:  # the source's real timeline, from the outputs' first frame
            if self._origin_s is None:
                self._origin_s = out.pts_s
                if self.audio is not None:
                    self.audio.start_at(out.capture_s if self.audio.capture_clock else out.pts_s)
            out = replace(out, pts_s=out.pts_s - self._origin_s)
        if self._size is not None and picture_size(out.image) != self._size:
            out = replace(out, image=self._fitted(out.image))
        for _, recorder in self.active:
            recorder.write(out)

    def _fitted(self, image: np.ndarray) -> np.ndarray:
        """A frame whose size changed mid-run (a camera or a stream that came back at another size),
        scaled to the size the outputs were opened at: an encoder's size is fixed, and the file plays on."""
        width, height = self._size  # type: ignore[misc]
        if picture_size(image) != self._warned_size:
            self._warned_size = picture_size(image)
            log.warning("the frames changed size to %dx%d mid-run: the recording goes on at %dx%d, scaled",
                        *self._warned_size, width, height)
        return scaled(image, width, height)

    def stop(self, complete: bool) -> None:
        """Finalize every output (each stays playable); re-raises the first writer error after all are closed."""
        active, self.active = self.active, []
        error: BaseException | None = None
        for target, recorder in active:
            try:
                recorder.close(complete=complete)
            except BaseException as exc:  # the others are still closed: what they wrote plays
                error = error or exc
            finally:
                self._drops["recorder"] += recorder.drops
                self._drops["network"] += getattr(recorder.writer, "dropped", 0)
                self._finished.append(_summary(target, recorder, self.live))
                self._last_encode = recorder.encode
                if not isinstance(target, str):
                    log.info("recording stopped: %d frames in %s", recorder.frames, target)
        if error is not None:
            raise error

    def drops(self) -> dict[str, int]:
        """Frames lost per place: queue full (``recorder``), a network output's server away (``network``)."""
        active = list(self.active)  # read once: the processing thread may stop them meanwhile
        drops = {"recorder": self._drops["recorder"] + sum(r.drops for _, r in active)}
        if any(isinstance(t, str) for t in self.targets):
            drops["network"] = self._drops["network"] + sum(getattr(r.writer, "dropped", 0) for _, r in active)
        return drops

    def summaries(self) -> list[dict[str, Any]]:
        """Per output, in the order written: ``target`` (secrets masked), ``frames`` written, ``drops``
        (its queue was full), ``bitrate_kbps`` (of the video, over the whole output), for live runs
        ``latency_ms`` (capture to the frame's packets out of the writer: mean and p95), and for a
        network output ``network_drops`` and ``reconnects``."""
        return self._finished + [_summary(t, r, self.live) for t, r in list(self.active)]

    def hud_lines(self) -> list[str]:
        """A line per output being written: where, how many frames, its recent bitrate and latency, and what it lost."""
        lines = []
        for target, recorder in list(self.active):
            name = redact(target) if isinstance(target, str) else target.name
            line = f"REC {name}  {recorder.frames} frames"
            bitrate = recorder.bitrate_bps(recent=True)
            if bitrate is not None:
                line += f", {bitrate / 1e6:.1f} Mb/s"
            if self.live and recorder.latency.count:
                line += f", {recorder.latency.recent_mean():.0f} ms"
            lost = recorder.drops + getattr(recorder.writer, "dropped", 0)
            lines.append(line + (f", {lost} dropped" if lost else ""))
        return lines

    def encode_timings(self) -> Any:
        """Encode times of the output written now (the first), else of the last one stopped."""
        active = list(self.active)
        return active[0][1].encode if active else self._last_encode


def _summary(target: Target, recorder: Recorder, live: bool) -> dict[str, Any]:
    record: dict[str, Any] = {"target": redact(str(target)), "frames": recorder.frames, "drops": recorder.drops}
    bitrate = recorder.bitrate_bps()
    if bitrate is not None:
        record["bitrate_kbps"] = round(bitrate / 1e3, 1)
    if live:
        record["latency_ms"] = recorder.latency.summary()
    if isinstance(target, str):
        record.update(network_drops=getattr(recorder.writer, "dropped", 0),
                      reconnects=getattr(recorder.writer, "reconnects", 0))
    return record


def _numbered(base: Path, taken: Sequence[Target]) -> Path:
    """``base``, or ``NAME-2.EXT``, ``NAME-3.EXT``, ... : the first that neither exists nor was written."""
    if not base.exists() and base not in taken:
        return base
    n = 2
    while (candidate := base.with_name(f"{base.stem}-{n}{base.suffix}")).exists() or candidate in taken:
        n += 1
    return candidate


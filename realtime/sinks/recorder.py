"""The recorder thread: processed frames -> writer, never holding up the pipeline needlessly."""
from __future__ import annotations

import collections
import logging
import time

from kernels.backend import serial_kernels_in_this_thread
from realtime.run.frames import Frame
from realtime.run.ringbuffer import Closed, DropPolicy, RingBuffer
from realtime.run.stats import Timings
from realtime.run.workers import Worker
from realtime.sinks.writers import Writer

log = logging.getLogger(__name__)

#: Frames over which the recent bitrate is measured (two seconds at 60 fps).
BITRATE_FRAMES = 120


class Recorder:
    """Feeds a :class:`~realtime.sinks.writers.Writer` from its own thread through a bounded ring.

    :meth:`write` queues the frame itself (no copy: nobody writes into a frame's buffer while it is held,
    :mod:`realtime.run.buffers`) and returns: under ``BLOCK`` (files) it waits for room so nothing is
    lost; under ``DROP_OLDEST`` (live) it never waits and counts what it drops.  :meth:`close` drains the
    queue and finalizes the file, also after an error or an interrupt, so what was written stays playable.
    """

    def __init__(self, writer: Writer, policy: DropPolicy = DropPolicy.BLOCK, slots: int = 8) -> None:
        self.writer = writer
        self.ring = RingBuffer(slots, None, policy)
        self.encode = Timings()
        #: Capture to the frame's packets out of the writer (sent, for a network output), ms.
        self.latency = Timings()
        #: ``(pts_s, bytes written so far)`` after each recent frame, for the bitrate.
        self._sizes: collections.deque[tuple[float, int]] = collections.deque(maxlen=BITRATE_FRAMES)
        self._first_pts: float | None = None  # (the bitrate since the start counts from it)
        self._worker = Worker("vqe-recorder", self._loop)
        self._closed = False

    def _loop(self) -> None:
        serial_kernels_in_this_thread()
        while True:
            try:
                slot = self.ring.acquire_read()
            except Closed:
                return
            t0 = time.perf_counter()
            pts_s, capture_s = slot.pts_s, slot.capture_s
            try:
                self.writer.write(slot.image, pts_s)
            finally:
                slot.let_go()  # the frame's buffer is free for its producer again
                self.ring.release(slot)
            self.encode.add((time.perf_counter() - t0) * 1e3)
            self.latency.add((time.monotonic() - capture_s) * 1e3)
            size = getattr(self.writer, "bytes_out", None)
            if size is not None:
                self._sizes.append((pts_s, size))
                if self._first_pts is None:
                    self._first_pts = pts_s

    def bitrate_bps(self, recent: bool = False) -> float | None:
        """Bits per second of media written: since the start, or over the last frames with ``recent``.

        ``None`` until two frames are written, and for a writer that cannot tell its size.
        """
        sizes = list(self._sizes)  # (read once: the recorder thread appends meanwhile)
        if len(sizes) < 2 or self._first_pts is None:
            return None
        (t0, b0), (t1, b1) = (sizes[0] if recent else (self._first_pts, 0)), sizes[-1]
        return 8.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def start(self) -> "Recorder":
        self._worker.start()
        return self

    def write(self, frame: Frame) -> None:
        """Queue ``frame`` for writing; re-raises a writer error from the thread."""
        self._worker.check()
        while (slot := self.ring.acquire_write(timeout_s=0.5)) is None:
            self._worker.check()
            if not self._worker.alive:
                raise RuntimeError("recorder thread stopped unexpectedly")
        slot.image, slot.index, slot.pts_s, slot.capture_s = frame.image, frame.index, frame.pts_s, frame.capture_s
        self.ring.publish(slot)

    @property
    def frames(self) -> int:
        return self.writer.frames

    @property
    def drops(self) -> int:
        return self.ring.drops

    def close(self, complete: bool = True) -> None:
        """Write what is queued, finalize the file, and re-raise any writer error."""
        if self._closed:
            return
        self._closed = True
        self.ring.close()
        try:
            self._worker.join()
        finally:
            self.writer.close(complete=complete)

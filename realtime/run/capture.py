"""The capture thread: source -> ring buffer, frame by frame."""
from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from kernels.backend import serial_kernels_in_this_thread
from kernels.planes import i420_shape
from realtime.errors import TruncatedInputError
from realtime.run.frames import Frame
from realtime.run.ringbuffer import Closed, DropPolicy, RingBuffer, Slot
from realtime.run.stats import Timings
from realtime.run.workers import Worker
from realtime.sources.files import Source

log = logging.getLogger(__name__)


class Capture:
    """Reads ``source`` on its own thread into a ring of ``slots`` preallocated slots, up to ``max_frames``.

    ``policy`` is ``BLOCK`` for files (every frame), ``DROP_OLDEST`` for live sources.  ``allocate(shape) -> uint8
    array`` makes the slots' buffers (page-locked memory when the frames go to a GPU: see ``Backend.host_empty``);
    ``transform(image)`` is applied in place to each frame on the capture thread as it is read (counted in the decode
    time).  Use as a context manager and iterate :meth:`frames`; each yielded frame's slot is recycled ``hold`` frames
    later, but its image is never written over while anyone holds it (:mod:`realtime.run.buffers`).
    """

    def __init__(self, source: Source, policy: DropPolicy = DropPolicy.BLOCK, slots: int = 4,
                 max_frames: int | None = None, allocate=None,
                 transform: Callable[[np.ndarray], None] | None = None) -> None:
        info = source.info
        self.source = source
        shape = i420_shape(info.height, info.width) if getattr(source, "planar", False) else (info.height, info.width, 3)
        self.ring = RingBuffer(slots, shape, policy, allocate)
        self.max_frames = max_frames
        self.transform = transform
        self.frames_read = 0
        #: ``time.perf_counter()`` when the first frame was read: where a run's start-up ends.
        self.first_frame_at: float | None = None
        self.decode = Timings()
        self._worker = Worker("vqe-capture", self._loop)
        if hasattr(source, "stop"):  # sources that wait (stream reconnects) give up when capture stops
            source.stop = self._worker.stop_requested

    def _loop(self) -> None:
        serial_kernels_in_this_thread()
        try:
            while not self._worker.stop_requested.is_set() and (self.max_frames is None
                                                                 or self.frames_read < self.max_frames):
                slot = self.ring.acquire_write(timeout_s=0.1)
                if slot is None:
                    continue
                t0 = time.perf_counter()
                if not self.source.read_into(slot):
                    self.ring.cancel_write(slot)
                    break
                if self.transform is not None:
                    self.transform(slot.image)
                done = time.perf_counter()
                self.decode.add((done - t0) * 1e3)
                if self.first_frame_at is None:
                    self.first_frame_at = done
                self.frames_read += 1
                self.ring.publish(slot)
        except Closed:
            pass
        finally:
            self.ring.close()

    def start(self) -> "Capture":
        self._worker.start()
        return self

    def stop(self) -> None:
        self._worker.stop()
        self.ring.close()

    def wait(self, timeout_s: float = 5.0) -> None:
        """Wait (up to ``timeout_s``) for the capture thread to leave the source, after :meth:`stop`: the owner
        closes the source next, and a decoder closed under a thread still reading from it crashes the process.
        Errors are left for :meth:`check`."""
        if self._worker.alive:  # never started, or already done: nothing to wait for
            self._worker.join(timeout_s=timeout_s, reraise=False)

    def frames(self, newest: bool = False, hold: int = 1) -> Iterator[Frame]:
        """Yield frames until the source ends; re-raises capture errors here.  A yielded frame's slot is
        recycled once ``hold`` more frames have been requested (``hold=2``: a look one frame ahead)."""
        if not 1 <= hold < self.ring.capacity:
            raise ValueError(f"hold must be 1..{self.ring.capacity - 1}")
        held: deque[Slot] = deque()
        try:
            while True:
                try:
                    slot = self.ring.acquire_read(timeout_s=0.5, newest=newest)
                except Closed:
                    break
                if slot is None:
                    self._worker.check()
                    continue
                held.append(slot)
                if len(held) > hold:
                    self.ring.release(held.popleft())
                yield Frame(slot.image, slot.index, slot.pts_s, slot.capture_s)
        finally:
            for slot in held:
                self.ring.release(slot)
        self._worker.join()

    def check(self) -> None:
        """Re-raise a capture-thread error on the caller's thread."""
        self._worker.check()

    def check_complete(self, output: Path | None) -> None:
        """Raise :class:`~realtime.errors.TruncatedInputError`, saying what was kept, when the source ended before
        its announced end: a damaged or cut-off input file."""
        expected = self.source.info.frame_count
        if getattr(self.source, "truncated", False) or (
                self.max_frames is None and expected is not None and self.frames_read < expected):
            kept = f"; those frames were written to {output}" if output else ""
            raise TruncatedInputError(f"input {self.source.info.path} is truncated or damaged: {self.frames_read} of "
                                      f"{expected or '?'} frames decoded{kept}")

    def __enter__(self) -> "Capture":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        self.stop()
        self._worker.join(timeout_s=5.0, reraise=exc_type is None)

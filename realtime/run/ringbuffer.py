"""A ring of frame slots between one producer and one consumer thread.

Two named policies: ``BLOCK`` (files: the producer waits, nothing is ever dropped) and ``DROP_OLDEST``
(cameras and streams: the producer never waits; the oldest unread frame is overwritten, and a consumer
asking for the newest frame skips the stale ones).  Every drop is counted.  A slot's buffer comes from a
:class:`~realtime.run.buffers.BufferPool`: a frame someone still holds is never written over.
"""
from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from realtime.run.buffers import BufferPool

#: A slot's image when it holds no frame.
_NOTHING = np.empty(0, np.uint8)


class DropPolicy(enum.Enum):
    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"


@dataclass
class Slot:
    """One frame buffer and the metadata of the frame in it."""

    image: np.ndarray
    index: int = -1
    pts_s: float = 0.0
    capture_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    #: Gives the buffer: a :class:`~realtime.run.buffers.BufferPool`'s (of page-locked memory
    #: when frames go to a GPU).
    allocate: Callable[[tuple[int, ...]], np.ndarray] = field(default_factory=lambda: BufferPool().acquire, repr=False)

    def ensure_shape(self, shape: tuple[int, ...]) -> np.ndarray:
        """The buffer to write a frame of ``shape`` into: a free one from the slot's pool, which is the slot's last one
        unless that frame is still held (kept by a stage, queued for an encoder): a held frame is never written over."""
        self.image = _NOTHING  # (the slot's own reference would make its last buffer look held)
        self.image = self.allocate(shape)
        return self.image

    def let_go(self) -> None:
        """Drop the slot's frame (a slot whose consumer keeps frames by reference, not by copy)."""
        self.image = _NOTHING


class Closed(Exception):
    """The ring was closed: no more frames will come."""


class RingBuffer:
    """``capacity`` (>= 2) fixed slots cycling free -> writing -> ready -> reading -> free.

    ``shape`` is every slot's initial frame shape; ``None``: slots start empty (their consumer keeps the frames it is
    given by reference, see :meth:`Slot.let_go`).  ``policy`` says what the producer does when no slot is free;
    ``allocate(shape) -> uint8 array`` makes the slots' buffers (default ``np.empty``).
    """

    def __init__(self, capacity: int, shape: tuple[int, ...] | None, policy: DropPolicy = DropPolicy.BLOCK,
                 allocate: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> None:
        if capacity < 2:
            raise ValueError("a ring buffer needs at least 2 slots")
        self.capacity = capacity
        self.policy = policy
        self.drops = 0
        pool = BufferPool(None if allocate is None else lambda shape, dtype: allocate(shape))
        self._free: deque[Slot] = deque(Slot(_NOTHING if shape is None else pool.acquire(shape), allocate=pool.acquire)
                                        for _ in range(capacity))
        self._ready: deque[Slot] = deque()
        self._closed = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """Frames written and not yet taken."""
        with self._cond:
            return len(self._ready)

    def acquire_write(self, timeout_s: float | None = None) -> Slot | None:
        """A slot for the producer to fill; ``None`` on timeout.  Under ``DROP_OLDEST`` this never waits
        while a frame is ready to be overwritten.  Raises :class:`Closed` after :meth:`close`."""
        with self._cond:
            while True:
                if self._closed:
                    raise Closed
                if self._free:
                    return self._free.popleft()
                if self.policy is DropPolicy.DROP_OLDEST and self._ready:
                    self.drops += 1
                    return self._ready.popleft()
                if not self._cond.wait(timeout_s):
                    return None

    def publish(self, slot: Slot) -> None:
        """Hand a filled slot to the consumer."""
        with self._cond:
            self._ready.append(slot)
            self._cond.notify_all()

    def cancel_write(self, slot: Slot) -> None:
        """Return a slot that was acquired but not filled."""
        with self._cond:
            self._free.appendleft(slot)
            self._cond.notify_all()

    def acquire_read(self, timeout_s: float | None = None, newest: bool = False) -> Slot | None:
        """The oldest ready slot (or the newest, dropping older ones); ``None`` on timeout; :class:`Closed`
        once closed and drained."""
        with self._cond:
            while not self._ready:
                if self._closed:
                    raise Closed
                if not self._cond.wait(timeout_s):
                    return None
            if newest:
                while len(self._ready) > 1:
                    self.drops += 1
                    self._free.append(self._ready.popleft())
            return self._ready.popleft()

    def release(self, slot: Slot) -> None:
        """Give a read slot back for reuse."""
        with self._cond:
            self._free.append(slot)
            self._cond.notify_all()

    def close(self) -> None:
        """No more writes; readers drain what is ready, then get :class:`Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

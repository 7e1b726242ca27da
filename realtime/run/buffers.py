"""Frame buffers with one ownership rule: a buffer is reused only once nobody holds it.

Every frame in a run lives in a buffer from a pool: the capture ring's slots, each stage's outputs, a GPU upload or
download.  Whoever keeps a frame (a recorder queueing it for its encoder, a deinterlacer keeping it as history, a
stabilizer's lookahead) simply keeps the array; the pool hands a buffer out again only when no reference to it (nor to a
view of it) is left.  No copy to keep a frame, and a stage that keeps its own output as state cannot have it overwritten
under it (GStreamer's buffer pools count references explicitly; Python counts them already).
"""
from __future__ import annotations

import logging
import sys
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

#: References to a buffer the pool itself makes while looking at it: its list, the loop
#: variable and :func:`sys.getrefcount`'s argument.  One more is a holder.
_POOL_ONLY = 3
#: Buffers of one shape after which the pool says something keeps frames without end.
LEAK_WARNING = 64


class BufferPool:
    """Arrays of any shape, each handed out again only once nobody holds it.

    ``allocate(shape, dtype) -> array`` makes new buffers: host memory (``np.empty``, by default),
    page-locked host memory or device memory (a backend's ``empty``).

    Examples
    --------
    >>> pool = BufferPool()
    >>> a = pool.acquire((2, 2))
    >>> b = pool.acquire((2, 2))          # a is held: another buffer
    >>> a is b
    False
    >>> del a
    >>> c = pool.acquire((2, 2))          # a's buffer is nobody's now
    >>> len(pool)
    2
    """

    def __init__(self, allocate: Callable[..., Any] | None = None) -> None:
        self._allocate = allocate or np.empty
        self._buffers: dict[tuple[tuple[int, ...], str], list[Any]] = {}
        self._warned = False

    def __len__(self) -> int:
        """Buffers the pool has made and keeps."""
        return sum(len(bucket) for bucket in self._buffers.values())

    def acquire(self, shape: tuple[int, ...], dtype: Any = np.uint8) -> Any:
        """A buffer of ``shape`` and ``dtype`` that nobody else holds; its content is undefined."""
        key = (tuple(shape), np.dtype(dtype).str)
        bucket = self._buffers.get(key)
        if bucket is None:
            # A new size (a new source): buffers of sizes nobody holds any more go.
            for other in list(self._buffers):
                self._buffers[other] = [buf for buf in self._buffers[other] if sys.getrefcount(buf) > _POOL_ONLY]
                if not self._buffers[other]:
                    del self._buffers[other]
            bucket = self._buffers[key] = []
        for buf in bucket:
            if sys.getrefcount(buf) <= _POOL_ONLY:
                return buf
        buf = self._allocate(key[0], np.dtype(dtype))
        bucket.append(buf)
        if len(bucket) >= LEAK_WARNING and not self._warned:
            self._warned = True
            log.warning("%d frame buffers of %s are held at once: something keeps frames without letting go",
                        len(bucket), key[0])
        return buf

    def clear(self) -> None:
        """Forget every buffer (device memory is freed once nobody holds it)."""
        self._buffers.clear()

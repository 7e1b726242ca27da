"""The unit of work passed between threads and stages."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(slots=True)
class Frame:
    """One picture and where it sits in time.

    Attributes
    ----------
    image : ndarray
        ``(H, W, 3) uint8`` BGR, or ``(H*3/2, W) uint8`` I420 (:mod:`kernels.planes`) where the
        run's plan keeps frames planar (:mod:`realtime.run.plan`).  A buffer from a pool
        (:mod:`realtime.run.buffers`): nobody writes into it while anyone holds it, so keep
        the array itself to keep the frame, and never write into a frame you were given.
    index : int
        0-based position in the source.
    pts_s : float
        Presentation time in seconds from the start of the source.
    capture_s : float
        ``time.monotonic()`` when the frame entered the process (latency origin).
    """

    image: np.ndarray
    index: int
    pts_s: float
    capture_s: float

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same moment in time carrying another picture."""
        return replace(self, image=image)

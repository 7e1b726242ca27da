"""The unit of work passed between threads and stages."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Frame layouts: planar Y'CbCr 4:2:0 as one ``(H*3/2, W)`` array (:mod:`kernels.planes`), or ``(H, W, 3)`` BGR.
I420, BGR = "I420", "BGR"


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

    @property
    def layout(self) -> str:
        """:data:`I420` or :data:`BGR`: the run's plan (:mod:`realtime.run.plan`) chose it for every
        frame, and the array's shape says it (2-D is I420; gray frames become BGR on the way in)."""
        return I420 if self.image.ndim == 2 else BGR

    def with_image(self, image: np.ndarray) -> "Frame":
        """The same moment in time carrying another picture."""
        return replace(self, image=image)
